internal import COpenSSL
public import Foundation
public import OCSPValues

/// One entry of a CRL (RFC 5280 §5.3): the serial, when it was revoked, and why.
public struct CRLEntry: Sendable {
    public var serialNumber: SerialNumber
    public var revocationDate: Date
    /// nil: no reasonCode extension (RFC 5280: `unspecified` SHOULD be absent).
    public var reason: RevocationReason?
    public var invalidityDate: Date?

    public init(serialNumber: SerialNumber, revocationDate: Date, reason: RevocationReason?, invalidityDate: Date? = nil) {
        self.serialNumber = serialNumber
        self.revocationDate = revocationDate
        self.reason = reason == .unspecified ? nil : reason
        self.invalidityDate = invalidityDate
    }
}

/// What a CRL says about itself besides its entries.
public struct CRLParameters: Sendable {
    public var number: UInt64
    public var thisUpdate: Date
    public var nextUpdate: Date
    /// For a delta CRL: the number of the complete CRL it updates (Delta CRL Indicator, critical).
    public var deltaBase: UInt64?
    /// The URL of this CRL's distribution point, written as a critical Issuing Distribution
    /// Point (for shards and deltas: a CRL that covers only part of the issuer's certificates
    /// must say which).
    public var distributionPoint: String?
    /// For a complete CRL: where its delta CRLs are published (Freshest CRL, RFC 5280 §5.2.6), so
    /// a relying party holding this CRL knows to look for one.
    public var freshestCRL: String?

    public init(
        number: UInt64, thisUpdate: Date, nextUpdate: Date, deltaBase: UInt64? = nil, distributionPoint: String? = nil,
        freshestCRL: String? = nil
    ) {
        self.number = number
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.deltaBase = deltaBase
        self.distributionPoint = distributionPoint
        self.freshestCRL = freshestCRL
    }
}

/// Builds and signs RFC 5280 v2 CRLs with OpenSSL.
///
/// ```
/// TBSCertList ::= SEQUENCE { version Version OPTIONAL, signature AlgorithmIdentifier, issuer Name,
///     thisUpdate Time, nextUpdate Time OPTIONAL,
///     revokedCertificates SEQUENCE OF SEQUENCE { userCertificate CertificateSerialNumber,
///         revocationDate Time, crlEntryExtensions Extensions OPTIONAL } OPTIONAL,
///     crlExtensions [0] EXPLICIT Extensions OPTIONAL }
/// ```
public final class CRLBuilder {
    private let crl: OpaquePointer  // X509_CRL*, owned
    private let issuer: Certificate
    private let key: PrivateKey
    private let parameters: CRLParameters
    /// How many entries were added.
    public private(set) var count = 0
    private let cache = TimeCache()

    /// Starts a CRL for `issuer`, to be signed with `key` (the CA's own: RFC 5280 does not let a
    /// delegated OCSP responder sign CRLs).
    /// - Throws: `OCSPError.Code.keyMismatch` if `key` is not the CA's.
    public init(parameters: CRLParameters, issuer: Certificate, key: PrivateKey) throws {
        ERR_clear_error()
        guard issuer.matches(key) else {
            throw OCSPError(.keyMismatch, "the private key does not match CA certificate \(issuer.subject)")
        }
        guard let crl = X509_CRL_new() else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
        self.crl = crl
        self.issuer = issuer
        self.key = key
        self.parameters = parameters
        guard X509_CRL_set_version(crl, Int(X509_CRL_VERSION_2)) == 1,
            X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.ref)) == 1
        else { throw Self.fail("version and issuer") }
        try Self.withTime(parameters.thisUpdate) { guard X509_CRL_set1_lastUpdate(crl, $0) == 1 else { throw Self.fail("thisUpdate") } }
        try Self.withTime(parameters.nextUpdate) { guard X509_CRL_set1_nextUpdate(crl, $0) == 1 else { throw Self.fail("nextUpdate") } }
    }

    deinit { X509_CRL_free(crl) }

    /// Adds one revoked certificate.
    public func add(_ entry: CRLEntry) throws {
        try Self.add(entry, to: crl, times: cache)
        count += 1
    }

    /// Adds the extensions, sorts the entries by serial and signs.
    /// - Returns: the DER encoding.
    public func sign() throws -> [UInt8] {
        ERR_clear_error()
        try Self.addInteger(parameters.number, nid: NID_crl_number, critical: false, to: crl)
        if let base = parameters.deltaBase {
            try Self.addInteger(base, nid: NID_delta_crl, critical: true, to: crl)
        }
        var context = X509V3_CTX()
        COpenSSL_X509V3_set_ctx_nodb(&context)
        X509V3_set_ctx(&context, issuer.ref, nil, nil, crl, 0)
        var extensions = [(NID_authority_key_identifier, "keyid:always")]
        if let url = parameters.distributionPoint {
            extensions.append((NID_issuing_distribution_point, "critical,fullname:URI:\(url)"))
        }
        if let url = parameters.freshestCRL {
            extensions.append((NID_freshest_crl, "URI:\(url)"))
        }
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_nconf_nid(nil, &context, nid, value) else { throw Self.fail("extension \(value)") }
            defer { X509_EXTENSION_free(ext) }
            guard X509_CRL_add_ext(crl, ext, -1) == 1 else { throw Self.fail("extension \(value)") }
        }
        guard X509_CRL_sort(crl) == 1 else { throw Self.fail("entry order") }
        try key.signingRetried { key in
            guard X509_CRL_sign(crl, key.ref, key.signingDigest) > 0 else {
                throw OCSPError.openSSL(.signFailed, "could not sign the CRL")
            }
        }
        return try encodeDER("CRL") { i2d_X509_CRL(crl, $0) }
    }

    /// PEM armour for a DER CRL.
    public static func pem(_ der: [UInt8]) throws -> [UInt8] {
        guard let crl = decodeDER(der, { d2i_X509_CRL(nil, $0, $1) }) else {
            throw OCSPError.openSSL(.encodeFailed, "not a DER CRL")
        }
        defer { X509_CRL_free(crl) }
        return try withMemoryBIO { PEM_write_bio_X509_CRL($0, crl) }
    }

    private static func add(_ entry: CRLEntry, to crl: OpaquePointer, times: TimeCache) throws {
        guard let revoked = X509_REVOKED_new() else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
        var owned = true
        defer { if owned { X509_REVOKED_free(revoked) } }
        // The serial is embedded in X509_REVOKED: set its bytes in place rather than build an
        // ASN1_INTEGER (via a BIGNUM) only for OpenSSL to copy it.
        guard let serial = X509_REVOKED_get0_serialNumber(revoked),
            entry.serialNumber.write(into: UnsafeMutablePointer(mutating: serial))
        else { throw fail("entry serial") }
        guard X509_REVOKED_set_revocationDate(revoked, try times.time(for: entry.revocationDate)) == 1 else {
            throw fail("revocation date")
        }
        if let reason = entry.reason {
            guard X509_REVOKED_add1_ext_i2d(revoked, NID_crl_reason, try times.reason(reason), 0, 0) == 1 else {
                throw fail("reason")
            }
        }
        if let invalidity = entry.invalidityDate {
            let time = try makeGeneralizedTime(invalidity)
            defer { ASN1_GENERALIZEDTIME_free(time) }
            guard X509_REVOKED_add1_ext_i2d(revoked, NID_invalidity_date, time, 0, 0) == 1 else {
                throw fail("invalidity date")
            }
        }
        guard X509_CRL_add0_revoked(crl, revoked) == 1 else { throw fail("entry") }
        owned = false
    }

    private static func addInteger(_ value: UInt64, nid: Int32, critical: Bool, to crl: OpaquePointer) throws {
        guard let integer = ASN1_INTEGER_new() else { throw fail("number") }
        defer { ASN1_INTEGER_free(integer) }
        guard ASN1_INTEGER_set_uint64(integer, value) == 1,
            X509_CRL_add1_ext_i2d(crl, nid, integer, critical ? 1 : 0, 0) == 1
        else { throw fail("number") }
    }

    /// A UTCTime/GeneralizedTime (RFC 5280's choice by year) for the duration of `body`.
    private static func withTime(_ date: Date, _ body: (UnsafePointer<ASN1_TIME>) throws -> Void) throws {
        guard let time = ASN1_TIME_set(nil, time_t(date.timeIntervalSince1970.rounded(.down))) else { throw fail("time") }
        defer { ASN1_TIME_free(time) }
        try body(time)
    }

    private static func fail(_ what: String) -> OCSPError {
        OCSPError.openSSL(.encodeFailed, "could not set the CRL's \(what)")
    }
}

/// Reuses OpenSSL objects across a CRL's entries: the last revocation time (entries revoked in the
/// same second share it; OpenSSL copies it into each entry) and one reason code per reason.
private final class TimeCache {
    private var lastSeconds: time_t = -1
    private var lastTime: UnsafeMutablePointer<ASN1_TIME>? = nil
    private var reasons: [Int: UnsafeMutablePointer<ASN1_ENUMERATED>] = [:]

    deinit {
        if let lastTime { ASN1_TIME_free(lastTime) }
        for code in reasons.values { ASN1_ENUMERATED_free(code) }
    }

    func time(for date: Date) throws -> UnsafeMutablePointer<ASN1_TIME> {
        let seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        if seconds == lastSeconds, let lastTime { return lastTime }
        guard let time = ASN1_TIME_set(lastTime, seconds) else {
            throw OCSPError.openSSL(.encodeFailed, "could not set the CRL's revocation date")
        }
        lastTime = time
        lastSeconds = seconds
        return time
    }

    func reason(_ reason: RevocationReason) throws -> UnsafeMutablePointer<ASN1_ENUMERATED> {
        if let code = reasons[reason.rawValue] { return code }
        guard let code = ASN1_ENUMERATED_new() else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
        guard ASN1_ENUMERATED_set(code, reason.rawValue) == 1 else {
            ASN1_ENUMERATED_free(code)
            throw OCSPError.openSSL(.encodeFailed, "could not set the CRL's reason")
        }
        reasons[reason.rawValue] = code
        return code
    }
}
