internal import COpenSSL
public import Foundation
public import OCSPValues

/// A client's check of an OCSP response: everything a relying party, a stapler or a load tester
/// must establish before it believes what the response says about one certificate.
///
/// ``verify(_:for:issuer:at:nonce:)`` checks, with OpenSSL doing the ASN.1 and the signature:
/// - the response is `successful` and decodes;
/// - it is signed by the key of the certificate its ResponderID names, and that certificate is
///   the issuer itself, or one the issuer issued directly that carries extendedKeyUsage
///   OCSPSigning and is valid at the time (RFC 6960 §4.2.2.2; `OCSP_basic_verify`, with the
///   issuer as the only trust anchor, also when it is an intermediate);
/// - it holds a SingleResponse for the CertID asked about, under whichever hash algorithm the
///   responder chose (SHA-1, SHA-256, SHA-384, SHA-512): the serial and the issuer's name and key
///   hashes, recomputed from the issuer certificate with that algorithm;
/// - thisUpdate is not after the time plus ``skew``, nextUpdate is present and after the time
///   (RFC 5019 §2.2.4: a response without nextUpdate is not cacheable, and a stapler or a cache
///   cannot tell when it goes stale);
/// - the nonce sent, if any, is echoed.
public struct OCSPResponseVerifier: Sendable {
    /// How far thisUpdate may be ahead of the verifier's clock (clock skew between hosts).
    public var skew: TimeInterval

    public init(skew: TimeInterval = 300) {
        self.skew = skew
    }

    /// What a verified response says about the certificate asked about.
    public struct Verified: Sendable {
        /// good, revoked (with time and reason) or unknown.
        public let status: CertStatus
        public let thisUpdate: Date
        public let nextUpdate: Date
        public let producedAt: Date?
        /// The invalidity date singleExtension of a revoked certificate, when present.
        public let invalidityDate: Date?
        /// The certificate whose key signed: the issuer, or its delegated responder.
        public let signer: Certificate
        /// The CertID as the response names it (its hash algorithm is the responder's choice).
        public let certID: CertID
    }

    /// Verifies `der`, the answer to a request for `certID` (of any hash algorithm: the response's
    /// may differ), signed for `issuer`, at time `now`.
    /// - Parameters:
    ///   - der: the DER `OCSPResponse`, as received.
    ///   - certID: the CertID the request asked about.
    ///   - issuer: the certificate's issuer, the only trust anchor.
    ///   - now: the time to verify at.
    ///   - nonce: the nonce the request carried (its value), if any.
    /// - Throws: ``Failure`` naming the first check that failed.
    public func verify(
        _ der: [UInt8], for certID: CertID, issuer: Certificate, at now: Date = Date(), nonce: [UInt8]? = nil
    ) throws -> Verified {
        try verify(der, for: certID, issuer: issuer, at: now) { basic in nonce.map { Self.echoes($0, basic) } ?? true }
    }

    /// Verifies `der` as the answer to the request `requestDER` (whose nonce, if it has one, must be
    /// echoed): for a client that kept the request rather than its nonce.
    public func verify(
        _ der: [UInt8], answering requestDER: [UInt8], for certID: CertID, issuer: Certificate, at now: Date = Date()
    ) throws -> Verified {
        try verify(der, for: certID, issuer: issuer, at: now) { basic in
            guard let request = decodeDER(requestDER, { d2i_OCSP_REQUEST(nil, $0, $1) }) else { return false }
            defer { OCSP_REQUEST_free(request) }
            // 1: both carry the same nonce; 2: neither; 3: only the response (harmless).
            return [1, 2, 3].contains(OCSP_check_nonce(request, basic))
        }
    }

    private func verify(
        _ der: [UInt8], for certID: CertID, issuer: Certificate, at now: Date, nonceEchoed: (OpaquePointer) -> Bool
    ) throws -> Verified {
        let response: OCSPResponse
        do {
            response = try OCSPResponse(derEncoded: der)
        } catch {
            throw Failure(.malformed, "not a DER OCSPResponse")
        }
        guard response.status == .successful, let basic = response.basic else {
            throw Failure(.notSuccessful, "the responder answered \(response.status)")
        }
        guard try Self.names(certID, certID, issuer) else {
            throw Failure(.certIDNotFound, "the CertID asked about does not name a certificate of \(issuer.subject)")
        }
        let signer = try Self.checkSignature(basic, issuer: issuer, at: now)
        if !nonceEchoed(basic) {
            throw Failure(.nonceMismatch, "the response does not echo the request's nonce")
        }
        guard let single = try response.responses.first(where: { try Self.names($0.certID, certID, issuer) }) else {
            throw Failure(.certIDNotFound, "no SingleResponse for serial \(certID.serialNumber.hex) of \(issuer.subject)")
        }
        guard single.thisUpdate <= now.addingTimeInterval(skew) else {
            throw Failure(.notYetValid, "thisUpdate \(single.thisUpdate) is in the future (now \(now), skew \(Int(skew)) s)")
        }
        guard let nextUpdate = single.nextUpdate else {
            throw Failure(.missingNextUpdate, "the response has no nextUpdate")
        }
        guard nextUpdate > now else { throw Failure(.expired, "nextUpdate \(nextUpdate) has passed (now \(now))") }
        return Verified(
            status: single.status, thisUpdate: single.thisUpdate, nextUpdate: nextUpdate, producedAt: response.producedAt,
            invalidityDate: single.invalidityDate, signer: signer, certID: single.certID)
    }

    /// Whether the response's CertID names the certificate `asked` names: the same serial, and the
    /// issuer's hashes under the response's own algorithm.
    private static func names(_ answered: CertID, _ asked: CertID, _ issuer: Certificate) throws -> Bool {
        guard answered.serialNumber == asked.serialNumber else { return false }
        let hashes = try issuer.issuerHashes(answered.hashAlgorithm)
        return answered.issuer.nameHash == hashes.nameHash && answered.issuer.keyHash == hashes.keyHash
    }

    /// `OCSP_basic_verify` with `issuer` as the only trust anchor, at `now`: finds the signer by
    /// the ResponderID (among the response's certificates and the issuer), checks the signature,
    /// the signer's chain to the issuer, and that the signer is the issuer or a responder it
    /// issued with EKU OCSPSigning. Returns the signer.
    static func checkSignature(_ basic: OpaquePointer, issuer: Certificate, at now: Date) throws -> Certificate {
        ERR_clear_error()
        guard let store = X509_STORE_new(), let chain = COpenSSL_sk_X509_new_null() else {
            throw Failure(.badSignature, "out of memory")
        }
        defer {
            X509_STORE_free(store)
            COpenSSL_sk_X509_free(chain)
        }
        X509_STORE_add_cert(store, issuer.ref)
        // The issuer may be an intermediate: it is the anchor, whatever signed it.
        X509_STORE_set_flags(store, UInt(X509_V_FLAG_PARTIAL_CHAIN))
        X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), time_t(now.timeIntervalSince1970))
        COpenSSL_sk_X509_push(chain, issuer.ref)
        var signer: OpaquePointer? = nil
        guard OCSP_resp_get0_signer(basic, &signer, chain) == 1, let signer, X509_up_ref(signer) == 1 else {
            throw Failure(.badSignature, "no certificate matches the response's ResponderID")
        }
        let signerCertificate = Certificate(taking: signer)
        // First the signature alone (by the certificate the ResponderID names), then who signed.
        guard OCSP_basic_verify(basic, chain, store, UInt(OCSP_NOVERIFY)) == 1 else {
            throw Failure(
                .badSignature,
                "the signature by \(signerCertificate.subject) does not verify: \(drainOpenSSLErrors().joined(separator: "; "))")
        }
        guard OCSP_basic_verify(basic, chain, store, 0) == 1 else {
            throw Failure(
                .unauthorizedSigner,
                "\(signerCertificate.subject) is not authorised to answer for \(issuer.subject): "
                    + drainOpenSSLErrors().joined(separator: "; "))
        }
        return signerCertificate
    }

    /// Whether the basic response echoes `nonce`: OpenSSL compares it with a request carrying it.
    private static func echoes(_ nonce: [UInt8], _ basic: OpaquePointer) -> Bool {
        guard let request = OCSP_REQUEST_new() else { return false }
        defer { OCSP_REQUEST_free(request) }
        let added = nonce.withUnsafeBufferPointer { bytes in
            OCSP_request_add1_nonce(request, UnsafeMutablePointer(mutating: bytes.baseAddress), Int32(bytes.count))
        }
        return added == 1 && OCSP_check_nonce(request, basic) == 1
    }
}
