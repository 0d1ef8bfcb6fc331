internal import COpenSSL
public import Foundation
public import OCSPValues

/// A decoded `OCSPResponse` (RFC 6960 §4.2.1), for clients: what a responder said, and whether
/// the signature and the signer's authority check out.
public final class OCSPResponse {
    let ref: OpaquePointer  // OCSP_RESPONSE*, owned
    let basic: OpaquePointer?  // OCSP_BASICRESP*, owned; nil unless successful

    public struct Single: Sendable {
        public let certID: CertID
        public let status: CertStatus
        public let thisUpdate: Date
        public let nextUpdate: Date?
        /// The invalidityDate singleExtension (RFC 5280 §5.3.2), decoded by OpenSSL; nil when absent.
        public let invalidityDate: Date?
        /// Every singleExtension, in order.
        public let extensions: [Extension]
    }

    /// One extension as found: which it is and whether it is critical (its value, where this
    /// type knows it, is decoded into a field of ``Single``).
    public struct Extension: Hashable, Sendable {
        /// The extension's OID, dotted (`2.5.29.24`).
        public let oid: String
        public let isCritical: Bool

        public init(oid: String, isCritical: Bool) {
            self.oid = oid
            self.isCritical = isCritical
        }
    }

    public let status: OCSPResponseStatus
    /// The SingleResponses (empty unless ``status`` is successful).
    public let responses: [Single]
    public let producedAt: Date?

    /// Decodes DER.
    /// - Throws: `OCSPError.Code.malformedRequest` if the bytes are not an `OCSPResponse`.
    public init(derEncoded bytes: [UInt8]) throws {
        ERR_clear_error()
        guard let response = decodeDER(bytes, { d2i_OCSP_RESPONSE(nil, $0, $1) }) else {
            throw OCSPError.openSSL(.malformedRequest, "not a DER OCSPResponse")
        }
        ref = response
        status = OCSPResponseStatus(rawValue: Int(OCSP_response_status(response))) ?? .internalError
        guard status == .successful else {
            basic = nil
            responses = []
            producedAt = nil
            return
        }
        guard let basic = OCSP_response_get1_basic(response) else {
            OCSP_RESPONSE_free(response)
            throw OCSPError.openSSL(.malformedRequest, "successful response without a BasicOCSPResponse")
        }
        self.basic = basic
        producedAt = date(from: OCSP_resp_get0_produced_at(basic))
        var singles: [Single] = []
        for index in 0..<OCSP_resp_count(basic) {
            guard let single = OCSP_resp_get0(basic, index), let id = OCSP_SINGLERESP_get0_id(single),
                let certID = try? CertID(borrowing: id)
            else { continue }
            var reason: Int32 = -1
            var revoked: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
            var thisUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
            var nextUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
            let code = OCSP_single_get0_status(single, &reason, &revoked, &thisUpdate, &nextUpdate)
            let status: CertStatus
            switch code {
            case V_OCSP_CERTSTATUS_GOOD: status = .good
            case V_OCSP_CERTSTATUS_REVOKED:
                status = .revoked(
                    time: date(from: revoked) ?? Date(timeIntervalSince1970: 0),
                    reason: reason >= 0 ? RevocationReason(rawValue: Int(reason)) : nil)
            default: status = .unknown
            }
            singles.append(
                Single(
                    certID: certID, status: status, thisUpdate: date(from: thisUpdate) ?? Date(timeIntervalSince1970: 0),
                    nextUpdate: date(from: nextUpdate), invalidityDate: Self.invalidityDate(of: single),
                    extensions: Self.extensions(of: single)))
        }
        responses = singles
    }

    /// The invalidityDate singleExtension of `single`, decoded by OpenSSL, or nil (also when it
    /// is there twice, or does not decode).
    private static func invalidityDate(of single: OpaquePointer) -> Date? {
        guard let value = OCSP_SINGLERESP_get1_ext_d2i(single, NID_invalidity_date, nil, nil) else { return nil }
        let time = value.assumingMemoryBound(to: ASN1_GENERALIZEDTIME.self)
        defer { ASN1_GENERALIZEDTIME_free(time) }
        return date(from: time)
    }

    /// The singleExtensions of `single`: OIDs (as OpenSSL prints them, dotted) and criticality.
    private static func extensions(of single: OpaquePointer) -> [Extension] {
        (0..<max(0, OCSP_SINGLERESP_get_ext_count(single))).compactMap { index in
            guard let ext = OCSP_SINGLERESP_get_ext(single, index), let object = X509_EXTENSION_get_object(ext) else {
                return nil
            }
            let oid = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 128) { text -> String? in
                let length = OBJ_obj2txt(text.baseAddress, Int32(text.count), object, 1)
                guard length > 0, Int(length) < text.count else { return nil }
                return String(cString: text.baseAddress!)
            }
            return oid.map { Extension(oid: $0, isCritical: X509_EXTENSION_get_critical(ext) == 1) }
        }
    }

    deinit {
        if let basic { OCSP_BASICRESP_free(basic) }
        OCSP_RESPONSE_free(ref)
    }

    /// The certificates the responder included (normally its own).
    public var certificates: [Certificate] {
        guard let basic, let stack = OCSP_resp_get0_certs(basic) else { return [] }
        return (0..<COpenSSL_sk_X509_num(stack)).compactMap { index in
            guard let x509 = COpenSSL_sk_X509_value(stack, index), X509_up_ref(x509) == 1 else { return nil }
            return Certificate(taking: x509)
        }
    }

    /// Whether the response carries a nonce extension at all.
    public var hasNonce: Bool {
        guard let basic else { return false }
        return OCSP_BASICRESP_get_ext_by_NID(basic, NID_id_pkix_OCSP_Nonce, -1) >= 0
    }

    /// Whether the response carries the nonce of `request`.
    public func echoesNonce(of request: [UInt8]) -> Bool {
        guard let basic, let parsed = decodeDER(request, { d2i_OCSP_REQUEST(nil, $0, $1) }) else { return false }
        defer { OCSP_REQUEST_free(parsed) }
        return OCSP_check_nonce(parsed, basic) == 1
    }

    /// Verifies the signature and that the signer is authorised for `issuer`: the issuer itself,
    /// or a certificate it issued with EKU OCSPSigning (RFC 6960 §4.2.2.2). `issuer` is trusted.
    /// The signature checks of ``OCSPResponseVerifier``, without its CertID, time and nonce checks.
    /// - Throws: `OCSPError` saying why not.
    public func verify(issuer: Certificate) throws {
        guard let basic else { throw OCSPError(.malformedRequest, "response status \(status) is not signed") }
        do {
            _ = try OCSPResponseVerifier.checkSignature(basic, issuer: issuer, at: Date())
        } catch let failure as OCSPResponseVerifier.Failure {
            throw OCSPError(.signFailed, "OCSP response does not verify against \(issuer.subject): \(failure)")
        }
    }
}
