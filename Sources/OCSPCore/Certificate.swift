internal import COpenSSL
public import Foundation
public import OCSPValues

/// An X.509 certificate (an owned OpenSSL `X509`).
///
/// Immutable after init; OpenSSL's `X509` is reference counted and safe to read from many threads.
public final class Certificate: @unchecked Sendable {
    let ref: OpaquePointer  // X509*, owned

    init(taking ref: OpaquePointer) { self.ref = ref }
    deinit { X509_free(ref) }

    /// Decodes DER.
    /// - Throws: `OCSPError.Code.invalidCertificate`.
    public convenience init(derEncoded bytes: [UInt8]) throws {
        guard let x509 = decodeDER(bytes, { d2i_X509(nil, $0, $1) }) else {
            throw OCSPError.openSSL(.invalidCertificate, "not a DER certificate")
        }
        self.init(taking: x509)
    }

    /// Decodes the first certificate of a PEM text, or DER if the bytes are not PEM.
    /// - Throws: `OCSPError.Code.invalidCertificate`.
    public convenience init(pemOrDER bytes: [UInt8]) throws {
        ERR_clear_error()
        let x509 = try withReadBIO(bytes) { PEM_read_bio_X509($0, nil, nil, nil) }
        if let x509 {
            self.init(taking: x509)
        } else {
            ERR_clear_error()
            try self.init(derEncoded: bytes)
        }
    }

    /// Loads a certificate file (PEM or DER).
    /// - Throws: `OCSPError.Code.io` if unreadable, `OCSPError.Code.invalidCertificate` if not a certificate.
    public static func load(path: String) throws -> Certificate {
        let bytes = try readFile(path, what: "certificate")
        do {
            return try Certificate(pemOrDER: bytes)
        } catch let error as OCSPError {
            throw OCSPError(error.code, "\(path) is not a PEM or DER certificate", openSSLErrors: error.openSSLErrors)
        }
    }

    /// Loads every certificate of a PEM file, in order (a chain: leaf first), or the one of a DER
    /// file.
    /// - Throws: `OCSPError.Code.io` if unreadable, `OCSPError.Code.invalidCertificate` if it
    ///   holds none.
    public static func loadChain(path: String) throws -> [Certificate] {
        let bytes = try readFile(path, what: "certificate")
        ERR_clear_error()
        let chain: [Certificate] = try withReadBIO(bytes) { bio in
            var certificates: [Certificate] = []
            while let x509 = PEM_read_bio_X509(bio, nil, nil, nil) { certificates.append(Certificate(taking: x509)) }
            return certificates
        }
        ERR_clear_error()  // the end of the PEM text reads as an error
        if !chain.isEmpty { return chain }
        return [try load(path: path)]
    }

    /// The DER encoding.
    public var derEncoded: [UInt8] {
        // Encoding a decoded certificate cannot fail short of memory exhaustion.
        (try? encodeDER("certificate") { i2d_X509(ref, $0) }) ?? []
    }

    /// The PEM encoding.
    public var pemEncoded: String {
        let bytes = (try? withMemoryBIO { PEM_write_bio_X509($0, ref) }) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    /// SHA-256 of the DER encoding: the issuer id in the store.
    public var fingerprint: [UInt8] { sha256(derEncoded) }

    /// SHA-256 of the DER SubjectPublicKeyInfo: what names an issuer in a revocation filter's keys
    /// (as in Mozilla's CRLite).
    public var subjectPublicKeyInfoSHA256: [UInt8] {
        sha256((try? encodeDER("public key") { i2d_X509_PUBKEY(X509_get_X509_PUBKEY(ref), $0) }) ?? [])
    }

    /// The subject as an RFC 2253 string, e.g. `CN=Demo Root,O=Example`.
    public var subject: String { Self.describe(X509_get_subject_name(ref)) }

    /// The issuer name as an RFC 2253 string.
    public var issuer: String { Self.describe(X509_get_issuer_name(ref)) }

    public var serialNumber: SerialNumber { SerialNumber(asn1: X509_get0_serialNumber(ref)) }

    public var notBefore: Date? { date(from: X509_get0_notBefore(ref)) }
    public var notAfter: Date? { date(from: X509_get0_notAfter(ref)) }

    /// Whether this is a CA certificate (basicConstraints cA, or a v1 self-signed root).
    public var isCA: Bool { X509_check_ca(ref) != 0 }

    /// Whether the extended key usage includes id-kp-OCSPSigning.
    public var hasOCSPSigningUsage: Bool {
        X509_get_extension_flags(ref) & UInt32(EXFLAG_XKUSAGE) != 0
            && X509_get_extended_key_usage(ref) & UInt32(XKU_OCSP_SIGN) != 0
    }

    /// The OCSP responder URLs of its AuthorityInformationAccess extension, in order.
    public var ocspURLs: [String] {
        guard let stack = COpenSSL_X509_get1_ocsp(ref) else { return [] }
        defer { COpenSSL_X509_email_free(stack) }
        return (0..<COpenSSL_sk_OPENSSL_STRING_num(stack)).compactMap { index in
            COpenSSL_sk_OPENSSL_STRING_value(stack, index).map { String(cString: $0) }
        }
    }

    /// Whether the certificate requires a stapled OCSP response ("must-staple"): its TLS Feature
    /// extension (RFC 7633) lists status_request (5). A TLS Feature extension that does not decode
    /// counts as must-staple: the safe reading.
    public var isMustStaple: Bool {
        defer { ERR_clear_error() }
        switch DecodedExtension.tlsFeatures({ X509_get_ext_d2i(ref, NID_tlsfeature, $0, nil) }) {
        case .absent: return false
        case .undecodable: return true
        case .decoded(let features): return features.contains(5)
        }
    }

    /// Whether `issuer` issued this certificate: names and key identifiers line up and the
    /// signature verifies with the issuer's public key.
    public func isIssued(by issuer: Certificate) -> Bool {
        defer { ERR_clear_error() }
        guard X509_check_issued(issuer.ref, ref) == X509_V_OK else { return false }
        guard let key = X509_get0_pubkey(issuer.ref) else { return false }
        return X509_verify(ref, key) == 1
    }

    /// Whether `key` is the private key for this certificate's public key.
    public func matches(_ key: PrivateKey) -> Bool {
        defer { ERR_clear_error() }
        return X509_check_private_key(ref, key.ref) == 1
    }

    private static func describe(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        let bytes = (try? withMemoryBIO { bio in
            X509_NAME_print_ex(bio, name, 0, COpenSSL_XN_FLAG_RFC2253_UTF8()) >= 0 ? 1 : 0
        }) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Certificate: Equatable {
    public static func == (lhs: Certificate, rhs: Certificate) -> Bool { X509_cmp(lhs.ref, rhs.ref) == 0 }
}
