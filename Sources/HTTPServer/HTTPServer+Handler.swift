internal import CMicroHTTPD
internal import Foundation
internal import OCSPCore
internal import Responder

/// Per-request state of a POST: the body read so far. Owned by libmicrohttpd's `con_cls` slot
/// from the first call of the access handler until the completion callback releases it.
final class PostState {
    var body: [UInt8] = []
    var tooLarge = false
}

/// `con_cls` marker for requests without a body (GET, HEAD, …): no allocation.
private var noBodyMarker: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: 1)! }

let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadSize, state in
    guard let cls, let connection, let url, let method, let uploadSize, let state else { return .NO }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    let isPost = strcmp(method, "POST") == 0

    // First call: set up the per-request state and answer nothing yet (queueing a response here
    // would make libmicrohttpd close the keep-alive connection). The exception is a body declared
    // too large: refusing it now (and closing) beats reading it.
    guard let current = state.pointee else {
        if isPost, server.declaredLength(connection) > server.configuration.maxRequestBytes {
            return server.send(connection, status: 413, body: Array("request too large\n".utf8), contentType: "text/plain")
        }
        state.pointee = isPost ? Unmanaged.passRetained(PostState()).toOpaque() : noBodyMarker
        return .YES
    }
    // Middle calls carry body bytes; libmicrohttpd accepts no response until the body is read.
    if uploadSize.pointee > 0 {
        let count = uploadSize.pointee
        uploadSize.pointee = 0
        guard isPost, let uploadData else { return .YES }  // other methods' bodies are discarded
        let post = Unmanaged<PostState>.fromOpaque(current).takeUnretainedValue()
        if post.tooLarge || post.body.count + count > server.configuration.maxRequestBytes {
            post.tooLarge = true
            post.body = []
        } else {
            uploadData.withMemoryRebound(to: UInt8.self, capacity: count) {
                post.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
            }
        }
        return .YES
    }
    // Last call: the whole request is in; answer it.
    if isPost {
        let post = Unmanaged<PostState>.fromOpaque(current).takeUnretainedValue()
        if post.tooLarge {
            return server.send(connection, status: 413, body: Array("request too large\n".utf8), contentType: "text/plain")
        }
        let result = server.responder.respond(to: post.body)
        return server.sendOCSP(connection, result, cacheable: false)
    }
    return server.handleWithoutBody(connection, method: method, url: url)
}

let requestCompleted: MHD_RequestCompletedCallback = { _, _, state, _ in
    guard let state, let current = state.pointee else { return }
    if current != noBodyMarker {
        Unmanaged<PostState>.fromOpaque(current).release()
    }
    state.pointee = nil
}

extension HTTPServer {
    /// The request's Content-Length, or 0 when absent or unparsable (chunked bodies are counted as read).
    func declaredLength(_ connection: OpaquePointer) -> Int {
        guard let value = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length") else { return 0 }
        return Int(String(cString: value)) ?? 0
    }

    func handleWithoutBody(_ connection: OpaquePointer, method: UnsafePointer<CChar>, url: UnsafePointer<CChar>) -> MHD_Result {
        guard strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 else {
            return send(connection, status: 405, body: Array("use GET or POST\n".utf8), contentType: "text/plain",
                        extraHeaders: [("Allow", "GET, HEAD, POST")])
        }
        let path = UnsafeRawBufferPointer(start: url, count: strlen(url))
        if path.elementsEqual("/healthz".utf8) {
            return send(connection, status: 200, body: Array("ok\n".utf8), contentType: "text/plain")
        }
        guard let der = GETRequestPath.decode(path) else {
            let result = OCSPResponder.Result.error(.malformedRequest, "GET path is not base64")
            return sendOCSP(connection, result, cacheable: false)
        }
        let result = responder.respond(to: der)
        return sendOCSP(connection, result, cacheable: !result.hasNonce)
    }

    /// Sends an OCSP response, with RFC 5019 §6 caching headers when `cacheable`.
    func sendOCSP(_ connection: OpaquePointer, _ result: OCSPResponder.Result, cacheable: Bool) -> MHD_Result {
        if let failure = result.failure {
            if result.status == .internalError {
                logger.error("OCSP request failed", metadata: ["ocsp_status": "\(result.status)", "error": "\(failure)"])
            } else {
                logger.debug("OCSP request refused", metadata: ["ocsp_status": "\(result.status)", "error": "\(failure)"])
            }
        }
        var headers: [(String, String)] = []
        if cacheable, let thisUpdate = result.thisUpdate, let nextUpdate = result.nextUpdate {
            let maxAge = Int(max(0, min(nextUpdate.timeIntervalSinceNow, configuration.maxAge)))
            headers = [
                ("Cache-Control", "max-age=\(maxAge), public, no-transform, must-revalidate"),
                ("Last-Modified", HTTPDate.format(thisUpdate)),
                ("Expires", HTTPDate.format(nextUpdate)),
            ]
        } else {
            headers = [("Cache-Control", "no-cache, no-store")]
        }
        return send(connection, status: 200, body: result.body, contentType: "application/ocsp-response",
                    extraHeaders: headers)
    }

    func send(
        _ connection: OpaquePointer, status: UInt32, body: [UInt8], contentType: String,
        extraHeaders: [(String, String)] = []
    ) -> MHD_Result {
        let response = body.withUnsafeBytes { raw in
            MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let response else { return .NO }
        defer { MHD_destroy_response(response) }
        MHD_add_response_header(response, "Content-Type", contentType)
        for (name, value) in extraHeaders { MHD_add_response_header(response, name, value) }
        return MHD_queue_response(connection, status, response)
    }
}
