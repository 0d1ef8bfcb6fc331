internal import COpenSSL
public import Foundation
public import OCSPValues

/// A CRL that verified against its issuer (``CRLVerifier``): what it says about itself, and a
/// lookup of its entries (OpenSSL's, over the parsed CRL).
public final class VerifiedCRL: @unchecked Sendable {
    // @unchecked: the X509_CRL is only read after init (X509_CRL_get0_by_serial sorts the
    // entries once, under OpenSSL's own lock).
    private let crl: OpaquePointer
    public let thisUpdate: Date
    public let nextUpdate: Date
    /// The CRL Number, when present.
    public let number: UInt64?
    /// For a delta CRL: the number of the complete CRL it updates.
    public let deltaBase: UInt64?
    /// The URIs of its Issuing Distribution Point: the part of the issuer's certificates it
    /// covers (empty: all of them).
    public let distributionPoints: [String]
    /// Where its delta CRLs are published (its Freshest CRL extension; empty: none).
    public let freshestCRL: [String]

    /// What a CRL entry says.
    public struct Entry: Sendable, Hashable {
        public let revocationDate: Date
        /// nil when the entry has no reason code (unspecified).
        public let reason: RevocationReason?
        /// In a delta CRL: the certificate left the CRL (a released hold).
        public var isRemoval: Bool { reason == .removeFromCRL }
    }

    fileprivate init(
        crl: OpaquePointer, thisUpdate: Date, nextUpdate: Date, number: UInt64?, deltaBase: UInt64?,
        distributionPoints: [String], freshestCRL: [String]
    ) {
        self.freshestCRL = freshestCRL
        self.crl = crl
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.number = number
        self.deltaBase = deltaBase
        self.distributionPoints = distributionPoints
    }

    deinit { X509_CRL_free(crl) }

    /// The entry for `serial`, or nil when the CRL does not list it.
    public func entry(for serial: SerialNumber) -> Entry? {
        guard let integer = try? serial.makeASN1Integer() else { return nil }
        defer { ASN1_INTEGER_free(integer) }
        var revoked: OpaquePointer?
        // 1: listed; 2: listed as removeFromCRL (a delta releasing a hold).
        let found = X509_CRL_get0_by_serial(crl, &revoked, integer)
        guard found == 1 || found == 2, let revoked else { return nil }
        let date = date(from: X509_REVOKED_get0_revocationDate(revoked)) ?? thisUpdate
        var reason: RevocationReason?
        if let code = X509_REVOKED_get_ext_d2i(revoked, NID_crl_reason, nil, nil) {
            let enumerated = code.assumingMemoryBound(to: ASN1_ENUMERATED.self)
            reason = RevocationReason(rawValue: ASN1_ENUMERATED_get(enumerated))
            ASN1_ENUMERATED_free(enumerated)
        }
        ERR_clear_error()
        return Entry(revocationDate: date, reason: reason == .unspecified ? nil : reason)
    }
}

/// Checks a CRL the way a relying party must before believing it (RFC 5280 §6.3.3): the
/// signature by the issuer's key, the issuer's name, thisUpdate not in the future (beyond a
/// skew), nextUpdate present and not passed, and the scope: a CRL with an Issuing Distribution
/// Point covers only the certificates whose CRL Distribution Point names it, so it must name the
/// URL the certificate pointed at.
public struct CRLVerifier: Sendable {
    /// How far ahead of the clock thisUpdate may be.
    public var skew: TimeInterval

    public init(skew: TimeInterval = 300) { self.skew = skew }

    /// Verifies `der` as a CRL of `issuer` at `now`.
    /// - Parameters:
    ///   - der: the CRL, DER or PEM.
    ///   - issuer: the CA certificate whose key must have signed it.
    ///   - now: the time to verify at.
    ///   - distributionPoint: the URL the CRL was fetched from, as the certificate's CRL
    ///     Distribution Point gave it; a CRL with an Issuing Distribution Point must name it.
    ///   - delta: whether a delta CRL is expected (true) or a complete one (false).
    public func verify(
        _ der: [UInt8], issuer: Certificate, at now: Date, distributionPoint: String?, delta: Bool = false
    ) throws(Failure) -> VerifiedCRL {
        defer { ERR_clear_error() }
        var parsed = decodeDER(der) { d2i_X509_CRL(nil, $0, $1) }
        if parsed == nil {
            parsed = try? withReadBIO(der) { PEM_read_bio_X509_CRL($0, nil, nil, nil) }
        }
        guard let crl = parsed else { throw Failure(.malformed, "not a DER or PEM CRL") }
        var owned = true
        defer { if owned { X509_CRL_free(crl) } }

        guard X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer.ref)) == 0 else {
            throw Failure(.wrongIssuer, "the CRL is issued by another name than \(issuer.subject)")
        }
        guard let key = X509_get0_pubkey(issuer.ref), X509_CRL_verify(crl, key) == 1 else {
            throw Failure(.badSignature, "the CRL's signature does not verify with \(issuer.subject)'s key")
        }
        guard let thisUpdate = date(from: X509_CRL_get0_lastUpdate(crl)) else {
            throw Failure(.malformed, "the CRL has no readable thisUpdate")
        }
        guard thisUpdate <= now.addingTimeInterval(skew) else {
            throw Failure(.notYetValid, "the CRL's thisUpdate \(thisUpdate) is in the future")
        }
        guard let nextUpdate = date(from: X509_CRL_get0_nextUpdate(crl)) else {
            throw Failure(.missingNextUpdate, "the CRL has no nextUpdate")
        }
        guard nextUpdate > now else { throw Failure(.expired, "the CRL expired at \(nextUpdate)") }

        let number = Self.integer(crl, NID_crl_number)
        let deltaBase = Self.integer(crl, NID_delta_crl)
        guard (deltaBase != nil) == delta else {
            throw Failure(.wrongScope, delta ? "a complete CRL where a delta was expected" : "a delta CRL where a complete one was expected")
        }
        let scope = DecodedExtension.issuingDistributionPointURIs {
            X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, $0, nil)
        }
        let points: [String]
        switch scope {
        case .absent: points = []
        case .undecodable: throw Failure(.malformed, "the CRL's Issuing Distribution Point does not decode")
        case .decoded(let uris):
            points = uris
            guard let distributionPoint, points.contains(distributionPoint) else {
                throw Failure(
                    .wrongScope,
                    "the CRL covers \(points.joined(separator: ", ")), not \(distributionPoint ?? "the certificate's distribution point")")
            }
        }
        let freshest = DecodedExtension.distributionPointURIs { X509_CRL_get_ext_d2i(crl, NID_freshest_crl, $0, nil) }
        owned = false
        return VerifiedCRL(
            crl: crl, thisUpdate: thisUpdate, nextUpdate: nextUpdate, number: number, deltaBase: deltaBase,
            distributionPoints: points, freshestCRL: freshest.value ?? [])
    }

    /// An INTEGER extension of the CRL (CRL Number, Delta CRL Indicator), when present.
    private static func integer(_ crl: OpaquePointer, _ nid: Int32) -> UInt64? {
        guard let raw = X509_CRL_get_ext_d2i(crl, nid, nil, nil) else { return nil }
        let integer = raw.assumingMemoryBound(to: ASN1_INTEGER.self)
        defer { ASN1_INTEGER_free(integer) }
        var value: UInt64 = 0
        return ASN1_INTEGER_get_uint64(&value, integer) == 1 ? value : nil
    }
}

extension Certificate {
    /// The URLs of its CRL Distribution Points (full names that are URIs), in order.
    public var crlURLs: [String] {
        defer { ERR_clear_error() }
        let points = DecodedExtension.distributionPointURIs {
            X509_get_ext_d2i(ref, NID_crl_distribution_points, $0, nil)
        }
        return points.value ?? []
    }
}
