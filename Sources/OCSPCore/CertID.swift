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
/// Holds its DER encoding too, so a response echoes the requester's CertID byte for byte.
public struct CertID: Hashable, Sendable {
    public let hashAlgorithm: HashAlgorithm
    public let issuerNameHash: [UInt8]
    public let issuerKeyHash: [UInt8]
    public let serialNumber: SerialNumber
    /// The DER encoding, as received or as built.
    public let derEncoded: [UInt8]

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
        let serial = try serialNumber.makeASN1Integer()
        defer { ASN1_INTEGER_free(serial) }
        guard
            let certID = OCSP_cert_id_new(
                hashAlgorithm.digest, X509_get_subject_name(issuer.ref), X509_get0_pubkey_bitstr(issuer.ref), serial)
        else { throw OCSPError.openSSL(.encodeFailed, "could not build a CertID") }
        defer { OCSP_CERTID_free(certID) }
        guard let built = try CertID(borrowing: certID) else {
            throw OCSPError(.unsupported, "hash algorithm \(hashAlgorithm) is not supported")
        }
        self = built
    }

    /// A new `OCSP_CERTID` decoded from ``derEncoded``, owned by the caller.
    func makeOpenSSLCertID() throws -> OpaquePointer {
        guard let certID = decodeDER(derEncoded, { d2i_OCSP_CERTID(nil, $0, $1) }) else {
            throw OCSPError.openSSL(.encodeFailed, "could not decode a CertID")
        }
        return certID
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
        let certID = try CertID(issuer: self, serialNumber: SerialNumber(bytes: [1]), hashAlgorithm: algorithm)
        return (certID.issuerNameHash, certID.issuerKeyHash)
    }
}
