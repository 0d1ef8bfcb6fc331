internal import COpenSSL
public import Foundation
public import OCSPValues

/// A published revocation filter: a ``FilterCascade`` over one issuer's certificates (revoked
/// ones included, good unexpired ones excluded), and its metadata, signed by the issuer.
///
/// Two files travel together: `<name>.mlbf`, the cascade in `filtercascade`'s MLBF format, and
/// `<name>.mlbf.meta`, a CMS SignedData (RFC 5652, DER) made with the issuer's CA key whose
/// content is the ``Metadata`` as JSON, including the SHA-256 of the `.mlbf` bytes. A relying
/// party that has the issuer's certificate can trust a filter fetched over plain HTTP.
///
/// A key is `SHA-256(issuer's DER SubjectPublicKeyInfo) ‖ serial`, the serial as the contents
/// octets of its DER INTEGER (big-endian two's complement, so a leading 0x00 when its top bit is
/// set): the key Mozilla's CRLite uses.
public struct RevocationFilter: Sendable {
    /// What a filter says about the population it was built from.
    public struct Metadata: Codable, Sendable, Equatable {
        /// `ocsp-responder revocation filter 1`.
        public var format: String
        /// The issuer's subject (RFC 2253).
        public var issuer: String
        /// SHA-256 of the issuer's SubjectPublicKeyInfo, lower-case hex: every key's prefix.
        public var issuerSPKISHA256: String
        /// Grows by one or more with every filter of the issuer (never reused).
        public var sequence: UInt64
        public var thisUpdate: Date
        /// After this the filter is stale: a relying party must not use it.
        public var nextUpdate: Date
        /// Certificates whose notBefore is at most this (and that had not expired at thisUpdate)
        /// are covered; later ones were, or may have been, issued after the filter was built.
        public var coversNotBefore: Date
        /// Revoked or on hold (the included set).
        public var revoked: Int
        /// Good and unexpired (the excluded set).
        public var good: Int
        /// SHA-256 of the `.mlbf` bytes, lower-case hex.
        public var filterSHA256: String
        public var filterBytes: Int

        public static let formatName = "ocsp-responder revocation filter 1"

        public init(
            issuer: Certificate, sequence: UInt64, thisUpdate: Date, nextUpdate: Date, coversNotBefore: Date, revoked: Int,
            good: Int, filter: [UInt8]
        ) {
            format = Self.formatName
            self.issuer = issuer.subject
            issuerSPKISHA256 = issuer.subjectPublicKeyInfoSHA256.hexString.lowercased()
            self.sequence = sequence
            self.thisUpdate = thisUpdate
            self.nextUpdate = nextUpdate
            self.coversNotBefore = coversNotBefore
            self.revoked = revoked
            self.good = good
            filterSHA256 = sha256(filter).hexString.lowercased()
            filterBytes = filter.count
        }

        /// The certificates it was built from.
        public var population: Int { revoked + good }

        var json: [UInt8] {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            // Encoding strings, integers and dates cannot fail.
            return [UInt8](try! encoder.encode(self)) + [0x0A]
        }

        init(json: [UInt8]) throws {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            do {
                self = try decoder.decode(Self.self, from: Data(json))
            } catch {
                throw OCSPError(.unsupported, "the filter's signed metadata is not what this version reads: \(error)")
            }
            guard format == Self.formatName else {
                throw OCSPError(.unsupported, "the filter's metadata has format '\(format)', not '\(Self.formatName)'")
            }
        }
    }

    /// What a filter says about one certificate.
    public enum Answer: Sendable, Equatable, CustomStringConvertible {
        case revoked
        case good
        /// The filter cannot answer for it; the reason in one line.
        case notCovered(String)

        public var description: String {
            switch self {
            case .revoked: "revoked"
            case .good: "good"
            case .notCovered(let why): "not covered (\(why))"
            }
        }
    }

    public let cascade: FilterCascade
    public let metadata: Metadata
    /// The issuer that signed it.
    public let issuer: Certificate

    /// Reads and verifies a filter: the CMS signature over the metadata, by `issuer` when given
    /// (else by the certificate the signature carries), and the metadata's digest and length of
    /// the `.mlbf` bytes.
    /// - Throws: `OCSPError` in one line: a signature that does not verify, metadata that does
    ///   not match the filter bytes (altered), or bytes that are not a filter.
    public init(mlbf: [UInt8], signedMetadata: [UInt8], issuer: Certificate?) throws {
        let (json, signer) = try Self.verifySignature(signedMetadata, issuer: issuer)
        let metadata = try Metadata(json: json)
        guard metadata.issuerSPKISHA256 == signer.subjectPublicKeyInfoSHA256.hexString.lowercased() else {
            throw OCSPError(.unsupported, "the filter's metadata names another issuer key than the one that signed it")
        }
        guard metadata.filterBytes == mlbf.count, metadata.filterSHA256 == sha256(mlbf).hexString.lowercased() else {
            throw OCSPError(
                .unsupported, "the filter's bytes are not the ones its signed metadata describes (altered or mismatched files)")
        }
        cascade = try FilterCascade(encoded: mlbf)
        self.metadata = metadata
        self.issuer = signer
    }

    /// Whether `certificate` is revoked, good, or not covered by this filter at `now`.
    public func answer(for certificate: Certificate, at now: Date = Date()) -> Answer {
        if now > metadata.nextUpdate {
            return .notCovered("the filter is stale: its nextUpdate \(Self.format(metadata.nextUpdate)) has passed")
        }
        guard certificate.isIssued(by: issuer) else {
            return .notCovered("\(issuer.subject) did not issue it")
        }
        if let notBefore = certificate.notBefore, notBefore > metadata.coversNotBefore {
            return .notCovered(
                "issued after the filter: notBefore \(Self.format(notBefore)) is later than the \(Self.format(metadata.coversNotBefore)) it covers")
        }
        if let notAfter = certificate.notAfter, notAfter < metadata.thisUpdate {
            return .notCovered("it expired before the filter was made")
        }
        let key = issuer.subjectPublicKeyInfoSHA256 + Self.keySuffix(certificate.serialNumber)
        return cascade.contains(key) ? .revoked : .good
    }

    /// A key's bytes after the issuer's hash: the serial's DER INTEGER contents.
    public static func keySuffix(_ serial: SerialNumber) -> [UInt8] {
        serial.bytes[0] & 0x80 != 0 ? [0] + serial.bytes : serial.bytes
    }

    // MARK: Signing

    /// The metadata as a CMS SignedData (DER) by `issuer` with `key`, the issuer's certificate in it.
    /// - Throws: `OCSPError.Code.signFailed` (or `OCSPError.Code.keyUnavailable` for a token
    ///   that is away).
    public static func sign(_ metadata: Metadata, issuer: Certificate, key: PrivateKey) throws -> [UInt8] {
        try key.signingRetried { key in
            ERR_clear_error()
            let cms = try withReadBIO(metadata.json) { data in
                CMS_sign(issuer.ref, key.ref, nil, data, UInt32(CMS_BINARY | CMS_NOSMIMECAP))
            }
            guard let cms else { throw OCSPError.openSSL(.signFailed, "could not sign the filter's metadata") }
            defer { CMS_ContentInfo_free(cms) }
            return try encodeDER("the filter's signed metadata") { i2d_CMS_ContentInfo(cms, $0) }
        }
    }

    /// The signed content and the certificate that signed it.
    private static func verifySignature(_ der: [UInt8], issuer: Certificate?) throws -> ([UInt8], Certificate) {
        ERR_clear_error()
        guard let cms = decodeDER(der, { d2i_CMS_ContentInfo(nil, $0, $1) }) else {
            throw OCSPError.openSSL(.unsupported, "the filter's metadata is not a DER CMS signed message")
        }
        defer { CMS_ContentInfo_free(cms) }
        let signer: Certificate
        if let issuer {
            signer = issuer
        } else {
            let certificates = CMS_get1_certs(cms)
            defer { if let certificates { COpenSSL_sk_X509_pop_free(certificates) } }
            guard let certificates, COpenSSL_sk_X509_num(certificates) == 1, let first = COpenSSL_sk_X509_value(certificates, 0),
                X509_up_ref(first) == 1
            else { throw OCSPError(.unsupported, "the filter's signature does not carry its signer's certificate alone") }
            signer = Certificate(taking: first)
        }
        guard let candidates = COpenSSL_sk_X509_new_null() else { throw OCSPError(.io, "out of memory") }
        defer { COpenSSL_sk_X509_free(candidates) }
        COpenSSL_sk_X509_push(candidates, signer.ref)
        // NOINTERN: the signer must be the given certificate; its chain is the caller's concern.
        let flags = UInt32(CMS_BINARY | CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY)
        guard let content = try? withMemoryBIO({ CMS_verify(cms, candidates, nil, nil, $0, flags) == 1 ? 1 : 0 }) else {
            throw OCSPError.openSSL(.unsupported, "the filter's metadata signature does not verify with the key of \(signer.subject)")
        }
        return (content, signer)
    }

    private static func format(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}
