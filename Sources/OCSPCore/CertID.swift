internal import COpenSSL

/// The hash algorithms a CertID may use.
public enum HashAlgorithm: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case sha1 = 1, sha256 = 2, sha384 = 3, sha512 = 4

    init?(nid: Int32) {
        switch nid {
        case NID_sha1: self = .sha1
        case NID_sha256: self = .sha256
        case NID_sha384: self = .sha384
        case NID_sha512: self = .sha512
        default: return nil
        }
    }

    var digest: OpaquePointer? {
        switch self {
        case .sha1: Digests.sha1
        case .sha256: Digests.sha256
        case .sha384: Digests.sha384
        case .sha512: Digests.sha512
        }
    }

    public var description: String {
        switch self {
        case .sha1: "SHA-1"
        case .sha256: "SHA-256"
        case .sha384: "SHA-384"
        case .sha512: "SHA-512"
        }
    }
}

/// ```
/// CertID ::= SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
/// A CertID read from a request keeps its DER, so the response echoes it byte for byte; one built
/// here from its parts is encoded the way OpenSSL encodes it (hash parameters NULL).
///
/// Equality compares the four fields: two encodings of one CertID name the same certificate.
public struct CertID: Hashable, Sendable {
    public let hashAlgorithm: HashAlgorithm
    public let issuerNameHash: [UInt8]
    public let issuerKeyHash: [UInt8]
    public let serialNumber: SerialNumber
    /// The DER encoding as received, or nil for one built from its parts.
    public let derEncoded: [UInt8]?

    /// Reads an `OCSP_CERTID`. Returns nil for a hash algorithm this responder does not know.
    init?(borrowing certID: OpaquePointer) throws {
        var nameHash: UnsafeMutablePointer<ASN1_OCTET_STRING>? = nil
        var keyHash: UnsafeMutablePointer<ASN1_OCTET_STRING>? = nil
        var algorithm: OpaquePointer? = nil
        var serial: UnsafeMutablePointer<ASN1_INTEGER>? = nil
        guard OCSP_id_get0_info(&nameHash, &algorithm, &keyHash, &serial, certID) == 1,
            let nameHash, let keyHash, let serial
        else { throw OCSPError.openSSL(.malformedRequest, "CertID has missing fields") }
        guard let hashAlgorithm = HashAlgorithm(nid: OBJ_obj2nid(algorithm)) else { return nil }
        self.hashAlgorithm = hashAlgorithm
        self.issuerNameHash = Self.bytes(of: nameHash)
        self.issuerKeyHash = Self.bytes(of: keyHash)
        self.serialNumber = SerialNumber(asn1: serial)
        self.derEncoded = try encodeDER("CertID") { i2d_OCSP_CERTID(certID, $0) }
    }

    /// Builds the CertID of serial `serialNumber` issued by `issuer`.
    public init(issuer: Certificate, serialNumber: SerialNumber, hashAlgorithm: HashAlgorithm = .sha1) throws {
        let hashes = try issuer.issuerHashes(hashAlgorithm)
        self.init(
            hashAlgorithm: hashAlgorithm, issuerNameHash: hashes.nameHash, issuerKeyHash: hashes.keyHash,
            serialNumber: serialNumber)
    }

    /// A CertID from its parts (the issuer hashes computed once, for signing many responses).
    public init(hashAlgorithm: HashAlgorithm, issuerNameHash: [UInt8], issuerKeyHash: [UInt8], serialNumber: SerialNumber) {
        self.hashAlgorithm = hashAlgorithm
        self.issuerNameHash = issuerNameHash
        self.issuerKeyHash = issuerKeyHash
        self.serialNumber = serialNumber
        self.derEncoded = nil
    }

    /// The same CertID without its received DER: encoded the way OpenSSL encodes it.
    var builtFromParts: CertID {
        CertID(hashAlgorithm: hashAlgorithm, issuerNameHash: issuerNameHash, issuerKeyHash: issuerKeyHash, serialNumber: serialNumber)
    }

    public static func == (lhs: CertID, rhs: CertID) -> Bool {
        lhs.hashAlgorithm == rhs.hashAlgorithm && lhs.serialNumber == rhs.serialNumber
            && lhs.issuerNameHash == rhs.issuerNameHash && lhs.issuerKeyHash == rhs.issuerKeyHash
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(hashAlgorithm)
        hasher.combine(issuerNameHash)
        hasher.combine(issuerKeyHash)
        hasher.combine(serialNumber)
    }

    /// A new `OCSP_CERTID` owned by the caller: decoded from ``derEncoded``, or built from the parts.
    func makeOpenSSLCertID() throws -> OpaquePointer {
        if let derEncoded {
            guard let certID = decodeDER(derEncoded, { d2i_OCSP_CERTID(nil, $0, $1) }) else {
                throw OCSPError.openSSL(.encodeFailed, "could not decode a CertID")
            }
            return certID
        }
        // OCSP_cert_id_new hashes an issuer name and key; give it empty ones and overwrite the
        // hashes, since only the hashes are known here.
        guard let name = X509_NAME_new() else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
        defer { X509_NAME_free(name) }
        guard let key = ASN1_BIT_STRING_new() else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
        defer { ASN1_BIT_STRING_free(key) }
        let serial = try serialNumber.makeASN1Integer()
        defer { ASN1_INTEGER_free(serial) }
        guard let certID = OCSP_cert_id_new(hashAlgorithm.digest, name, key, serial) else {
            throw OCSPError.openSSL(.encodeFailed, "could not build a CertID")
        }
        do {
            try write(into: certID)
        } catch {
            OCSP_CERTID_free(certID)
            throw error
        }
        return certID
    }

    /// Overwrites the issuer hashes and serial of `certID` (same hash algorithm) with this one's.
    func write(into certID: OpaquePointer) throws {
        var nameHash: UnsafeMutablePointer<ASN1_OCTET_STRING>? = nil
        var keyHash: UnsafeMutablePointer<ASN1_OCTET_STRING>? = nil
        var serial: UnsafeMutablePointer<ASN1_INTEGER>? = nil
        guard OCSP_id_get0_info(&nameHash, nil, &keyHash, &serial, certID) == 1, let nameHash, let keyHash, let serial,
            ASN1_OCTET_STRING_set(nameHash, issuerNameHash, Int32(issuerNameHash.count)) == 1,
            ASN1_OCTET_STRING_set(keyHash, issuerKeyHash, Int32(issuerKeyHash.count)) == 1,
            serialNumber.write(into: serial)
        else { throw OCSPError.openSSL(.encodeFailed, "could not set the fields of a CertID") }
    }

    private static func bytes(of string: UnsafePointer<ASN1_STRING>) -> [UInt8] {
        let length = Int(ASN1_STRING_length(string))
        guard let data = ASN1_STRING_get0_data(string), length > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }
}

extension Certificate {
    /// The issuerNameHash and issuerKeyHash that CertIDs of certificates issued by this one carry.
    public func issuerHashes(_ algorithm: HashAlgorithm) throws -> (nameHash: [UInt8], keyHash: [UInt8]) {
        let serial = try SerialNumber(bytes: [1]).makeASN1Integer()
        defer { ASN1_INTEGER_free(serial) }
        guard
            let certID = OCSP_cert_id_new(algorithm.digest, X509_get_subject_name(ref), X509_get0_pubkey_bitstr(ref), serial)
        else { throw OCSPError.openSSL(.encodeFailed, "could not build a CertID") }
        defer { OCSP_CERTID_free(certID) }
        guard let built = try CertID(borrowing: certID) else {
            throw OCSPError(.unsupported, "hash algorithm \(algorithm) is not supported")
        }
        return (built.issuerNameHash, built.issuerKeyHash)
    }
}
