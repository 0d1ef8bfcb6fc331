internal import COpenSSL
public import OCSPValues

/// A decoded `OCSPRequest` (RFC 6960 §4.1.1).
///
/// ```
/// OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }
/// TBSRequest  ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1, requestorName [1] EXPLICIT GeneralName OPTIONAL,
///                            requestList SEQUENCE OF Request, requestExtensions [2] EXPLICIT Extensions OPTIONAL }
/// ```
/// Not thread-safe to share: one request belongs to one handler.
public final class OCSPRequest {
    let ref: OpaquePointer  // OCSP_REQUEST*, owned

    /// The most CertIDs one request may carry; more is treated as malformed.
    public static let maximumCertIDs = 64

    /// The CertIDs, in request order. `nil` marks one whose hash algorithm is not supported.
    public let certIDs: [CertID?]

    /// Whether the request carries an id-pkix-ocsp-nonce extension.
    public let hasNonce: Bool

    /// Decodes DER.
    /// - Throws: `OCSPError.Code.malformedRequest` for anything that is not exactly one
    ///   well-formed request with 1…``maximumCertIDs`` CertIDs.
    public init(derEncoded bytes: [UInt8]) throws {
        ERR_clear_error()
        var consumed = 0
        let parsed: OpaquePointer? = bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return nil }
            var cursor: UnsafePointer<UInt8>? = base
            let request = d2i_OCSP_REQUEST(nil, &cursor, buffer.count)
            consumed = cursor.map { base.distance(to: $0) } ?? 0
            return request
        }
        guard let parsed else { throw OCSPError.openSSL(.malformedRequest, "not a DER OCSPRequest") }
        ref = parsed
        guard consumed == bytes.count else {
            OCSP_REQUEST_free(parsed)
            throw OCSPError(.malformedRequest, "\(bytes.count - consumed) bytes after the OCSPRequest")
        }
        let count = Int(OCSP_request_onereq_count(parsed))
        guard (1...Self.maximumCertIDs).contains(count) else {
            OCSP_REQUEST_free(parsed)
            throw OCSPError(.malformedRequest, "request lists \(count) CertIDs (1...\(Self.maximumCertIDs) allowed)")
        }
        do {
            certIDs = try (0..<count).map { index in
                guard let one = OCSP_request_onereq_get0(parsed, Int32(index)), let id = OCSP_onereq_get0_id(one) else {
                    throw OCSPError(.malformedRequest, "request entry \(index) has no CertID")
                }
                return try CertID(borrowing: id)
            }
        } catch {
            OCSP_REQUEST_free(parsed)
            throw error
        }
        hasNonce = OCSP_REQUEST_get_ext_by_NID(parsed, NID_id_pkix_OCSP_Nonce, -1) >= 0
    }

    deinit { OCSP_REQUEST_free(ref) }
}
