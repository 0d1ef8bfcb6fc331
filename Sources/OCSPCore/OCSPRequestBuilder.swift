internal import COpenSSL
internal import Foundation
public import OCSPValues

/// Builds DER `OCSPRequest`s (for clients: the stapling fetcher, the load tester, tests).
public enum OCSPRequestBuilder {
    /// A request for `certIDs`, with a random 16-byte nonce (from OpenSSL) when `nonce` is true.
    public static func build(_ certIDs: [CertID], nonce: Bool = false) throws -> [UInt8] {
        try build(certIDs) { request in nonce ? OCSP_request_add1_nonce(request, nil, 16) : 1 }
    }

    /// A request for `certIDs` carrying the nonce `nonce` (its value), which the client keeps to
    /// check the answer with (``OCSPResponseVerifier/verify(_:for:issuer:at:nonce:)``).
    public static func build(_ certIDs: [CertID], nonce: [UInt8]) throws -> [UInt8] {
        try build(certIDs) { request in
            nonce.withUnsafeBufferPointer { bytes in
                OCSP_request_add1_nonce(request, UnsafeMutablePointer(mutating: bytes.baseAddress), Int32(bytes.count))
            }
        }
    }

    private static func build(_ certIDs: [CertID], addNonce: (OpaquePointer) -> Int32) throws -> [UInt8] {
        ERR_clear_error()
        guard let request = OCSP_REQUEST_new() else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
        defer { OCSP_REQUEST_free(request) }
        for certID in certIDs {
            let id = try certID.makeOpenSSLCertID()
            // add0: the request owns `id` from here on, success or not.
            guard OCSP_request_add0_id(request, id) != nil else {
                OCSP_CERTID_free(id)
                throw OCSPError.openSSL(.encodeFailed, "could not add a CertID")
            }
        }
        guard addNonce(request) == 1 else { throw OCSPError.openSSL(.encodeFailed, "could not add a nonce") }
        return try encodeDER("OCSPRequest") { i2d_OCSP_REQUEST(request, $0) }
    }

    /// The GET form of a request (RFC 5019 §5): its base64, with `+`, `/` and `=` percent-encoded,
    /// to append to the responder URL.
    public static func getPath(_ requestDER: [UInt8]) -> String {
        var out = ""
        for character in Data(requestDER).base64EncodedString() {
            switch character {
            case "+": out += "%2B"
            case "/": out += "%2F"
            case "=": out += "%3D"
            default: out.append(character)
            }
        }
        return out
    }
}
