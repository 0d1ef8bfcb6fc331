internal import COpenSSL
public import OCSPValues

extension CertID {
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
        let der = try encodeDER("CertID") { i2d_OCSP_CERTID(certID, $0) }
        // The digest algorithms of a CertID take no parameters: absent, or NULL as OpenSSL writes
        // them. Anything else is not a CertID this responder may echo into a signed answer.
        guard Self.hashParametersAreAbsentOrNull(der) else {
            throw OCSPError(.malformedRequest, "the CertID's hash algorithm has parameters other than NULL")
        }
        self.init(
            hashAlgorithm: hashAlgorithm, issuerNameHash: Self.bytes(of: nameHash), issuerKeyHash: Self.bytes(of: keyHash),
            serialNumber: SerialNumber(asn1: serial), derEncoded: der)
    }

    /// Whether the hashAlgorithm of the CertID encoded in `der` has its parameters absent or NULL.
    private static func hashParametersAreAbsentOrNull(_ der: [UInt8]) -> Bool {
        der.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            // Past the CertID's SEQUENCE header, OpenSSL decodes the AlgorithmIdentifier.
            var cursor: UnsafePointer<UInt8>? = base
            var length = 0
            var tag: Int32 = 0
            var tagClass: Int32 = 0
            let flags = ASN1_get_object(&cursor, &length, &tag, &tagClass, buffer.count)
            guard flags & 0x80 == 0, tag == V_ASN1_SEQUENCE, let contents = cursor else {
                ERR_clear_error()
                return false
            }
            var algorithmCursor: UnsafePointer<UInt8>? = contents
            guard let algorithm = d2i_X509_ALGOR(nil, &algorithmCursor, length) else {
                ERR_clear_error()
                return false
            }
            defer { X509_ALGOR_free(algorithm) }
            var type: Int32 = 0
            X509_ALGOR_get0(nil, &type, nil, algorithm)
            return type == V_ASN1_UNDEF || type == V_ASN1_NULL
        }
    }

    /// Builds the CertID of serial `serialNumber` issued by `issuer`.
    public init(issuer: Certificate, serialNumber: SerialNumber, hashAlgorithm: HashAlgorithm = .sha1) throws {
        self.init(issuer: try issuer.issuerHashes(hashAlgorithm), serialNumber: serialNumber)
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
    public func issuerHashes(_ algorithm: HashAlgorithm) throws -> IssuerHashes {
        let serial = try SerialNumber(bytes: [1]).makeASN1Integer()
        defer { ASN1_INTEGER_free(serial) }
        guard
            let certID = OCSP_cert_id_new(algorithm.digest, X509_get_subject_name(ref), X509_get0_pubkey_bitstr(ref), serial)
        else { throw OCSPError.openSSL(.encodeFailed, "could not build a CertID") }
        defer { OCSP_CERTID_free(certID) }
        guard let built = try CertID(borrowing: certID) else {
            throw OCSPError(.unsupported, "hash algorithm \(algorithm) is not supported")
        }
        return built.issuer
    }
}

extension IssuerID {
    /// The store id of `certificate` as an issuer: SHA-256 of its DER.
    public init(certificate: Certificate) { self.init(bytes: certificate.fingerprint) }
}
