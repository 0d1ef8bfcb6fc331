internal import CMicroHTTPD
internal import Logging
internal import Foundation
internal import OCSPCore
internal import Responder
internal import CRLService
internal import RevocationStore

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
            return server.sendPlain(connection, status: 413, "request too large\n")
        }
        state.pointee = isPost ? Unmanaged.passRetained(server.threadContext.takePostState()).toOpaque() : noBodyMarker
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
            post.body.removeAll(keepingCapacity: true)
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
        if post.tooLarge { return server.sendPlain(connection, status: 413, "request too large\n") }
        return post.body.withUnsafeBytes { server.answerOCSP(connection, key: $0, isGET: false) }
    }
    return server.handleWithoutBody(connection, method: method, url: url)
}

let requestCompleted: MHD_RequestCompletedCallback = { cls, _, state, reason in
    guard let cls, let state, let current = state.pointee else { return }
    if current != noBodyMarker {
        let post = Unmanaged<PostState>.fromOpaque(current)
        // Only a worker thread's own completed requests feed its pool: at shutdown libmicrohttpd
        // may call this on the stopping thread, which must not grow a pool it never uses.
        if reason == .REQUEST_TERMINATED_COMPLETED_OK {
            Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue().threadContext.recycle(post.takeUnretainedValue())
        }
        post.release()
    }
    state.pointee = nil
}

extension HTTPServer {
    var threadContext: ThreadContext { threadContextKey.current }

    /// The request's Content-Length, or 0 when absent or unparsable (chunked bodies are counted as read).
    func declaredLength(_ connection: OpaquePointer) -> Int {
        guard let value = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length") else { return 0 }
        return Int(String(cString: value)) ?? 0
    }

    func handleWithoutBody(_ connection: OpaquePointer, method: UnsafePointer<CChar>, url: UnsafePointer<CChar>) -> MHD_Result {
        guard strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 else {
            return sendPlain(connection, status: 405, "use GET or POST\n", extraHeaders: [("Allow", "GET, HEAD, POST")])
        }
        let path = UnsafeRawBufferPointer(start: url, count: strlen(url))
        if path.elementsEqual("/healthz".utf8) { return sendPlain(connection, status: 200, "ok\n") }
        if path.starts(with: "/crl/".utf8) { return serveCRL(connection, path: String(decoding: path, as: UTF8.self)) }
        return answerOCSP(connection, key: path, isGET: true)
    }

    /// Answers an OCSP request given as its GET path or POST body: from this thread's front
    /// cache when it can, otherwise through the responder (whose cacheable answers fill the cache).
    func answerOCSP(_ connection: OpaquePointer, key: UnsafeRawBufferPointer, isGET: Bool) -> MHD_Result {
        let cache = threadContext.frontCache
        let now = FrontCache.monotonicNow()
        let generation = responder.store.changeCounter
        cache.validate(generation: generation)
        // GET and POST answers differ in their headers; keep them apart with a leading byte.
        let hit = withKey(key, isGET: isGET) { cache.lookup($0, now: now) }
        if let hit {
            if isGET, ifNoneMatch(connection, hit.etag) { return sendNotModified(connection, etag: hit.etag) }
            return MHD_queue_response(connection, UInt32(MHD_HTTP_OK), hit.response)
        }

        let result: OCSPResponder.Result
        if isGET {
            guard let der = GETRequestPath.decode(key) else {
                return queue(connection, OCSPResponder.Result.error(.malformedRequest, "GET path is not base64"), isGET: isGET)
            }
            result = responder.respond(to: der)
        } else {
            result = responder.respond(to: Array(key))
        }
        log(result)
        guard result.isCacheable, let etag = result.etag, let response = makeResponse(result, isGET: isGET) else {
            return queue(connection, result, isGET: isGET)
        }
        // Keep it only if it was read from the latest commit (see LMDBEnvironment.lastCommittedTransaction).
        if result.snapshot == generation {
            withKey(key, isGET: isGET) { cache.insert($0, response: response, etag: etag, now: now) }
        } else {
            defer { MHD_destroy_response(response) }
            if isGET, ifNoneMatch(connection, etag) { return sendNotModified(connection, etag: etag) }
            return MHD_queue_response(connection, UInt32(MHD_HTTP_OK), response)
        }
        if isGET, ifNoneMatch(connection, etag) { return sendNotModified(connection, etag: etag) }
        return MHD_queue_response(connection, UInt32(MHD_HTTP_OK), response)
    }

    private func withKey<R>(_ key: UnsafeRawBufferPointer, isGET: Bool, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        // Small keys go through a stack buffer; OCSP requests are a few hundred bytes at most.
        withUnsafeTemporaryAllocation(byteCount: key.count + 1, alignment: 1) { buffer in
            buffer[0] = isGET ? UInt8(ascii: "G") : UInt8(ascii: "P")
            UnsafeMutableRawBufferPointer(rebasing: buffer[1...]).copyMemory(from: key)
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    private func ifNoneMatch(_ connection: OpaquePointer, _ etag: String) -> Bool {
        guard let value = MHD_lookup_connection_value(connection, .HEADER_KIND, "If-None-Match") else { return false }
        let header = String(cString: value)
        return header == "*" || header.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == etag }
    }

    private func queue(_ connection: OpaquePointer, _ result: OCSPResponder.Result, isGET: Bool) -> MHD_Result {
        guard let response = makeResponse(result, isGET: isGET) else { return .NO }
        defer { MHD_destroy_response(response) }
        return MHD_queue_response(connection, UInt32(MHD_HTTP_OK), response)
    }

    /// A libmicrohttpd response with the OCSP body and headers. GET answers that may be cached
    /// get RFC 5019 §6 headers; the rest `no-store`.
    private func makeResponse(_ result: OCSPResponder.Result, isGET: Bool) -> OpaquePointer? {
        let response = result.body.withUnsafeBytes { raw in
            MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let response else { return nil }
        MHD_add_response_header(response, "Content-Type", "application/ocsp-response")
        for (name, value) in cachingHeaders(result, isGET: isGET) { MHD_add_response_header(response, name, value) }
        return response
    }

    private func cachingHeaders(_ result: OCSPResponder.Result, isGET: Bool) -> [(String, String)] {
        guard isGET, result.isCacheable, let etag = result.etag, let thisUpdate = result.thisUpdate,
            let nextUpdate = result.nextUpdate
        else { return [("Cache-Control", "no-cache, no-store")] }
        // Served from the front cache for up to its lifetime, so count that against max-age.
        let lifetime = TimeInterval(FrontCache.lifetime) / 1e9
        let maxAge = Int(max(0, min(nextUpdate.timeIntervalSinceNow - lifetime, configuration.maxAge)))
        return [
            ("Cache-Control", "max-age=\(maxAge), public, no-transform, must-revalidate"),
            ("Last-Modified", HTTPDate.format(thisUpdate)),
            ("Expires", HTTPDate.format(nextUpdate)),
            ("ETag", etag),
        ]
    }

    /// Serves the latest stored CRL at `/crl/<slug>.crl`, `/crl/<slug>-delta.crl` or
    /// `/crl/<slug>/<shard>.crl`, with caching headers and 304 on a matching If-None-Match.
    func serveCRL(_ connection: OpaquePointer, path: String) -> MHD_Result {
        guard let (slug, scope) = CRLPaths.parse(path) else { return sendPlain(connection, status: 404, "no such CRL\n") }
        let stored: StoredCRL?
        do {
            stored = try responder.store.storedCRL(slug: slug, scope: scope)
        } catch {
            logger.error("CRL lookup failed", metadata: ["path": "\(path)", "error": "\(error)"])
            return sendPlain(connection, status: 500, "store error\n")
        }
        guard let crl = stored else { return sendPlain(connection, status: 404, "no such CRL\n") }
        let etag = crl.etagHeader
        if ifNoneMatch(connection, etag) { return sendNotModified(connection, etag: etag) }
        let maxAge = Int(max(0, min(crl.nextUpdate.timeIntervalSinceNow, configuration.maxAge)))
        return send(
            connection, status: 200, body: crl.der, contentType: "application/pkix-crl",
            extraHeaders: [
                ("Cache-Control", "max-age=\(maxAge), public, no-transform, must-revalidate"),
                ("Last-Modified", HTTPDate.format(crl.thisUpdate)), ("Expires", HTTPDate.format(crl.nextUpdate)),
                ("ETag", etag),
            ])
    }

    private func sendNotModified(_ connection: OpaquePointer, etag: String) -> MHD_Result {
        send(connection, status: UInt32(MHD_HTTP_NOT_MODIFIED), body: [], contentType: nil, extraHeaders: [("ETag", etag)])
    }

    private func log(_ result: OCSPResponder.Result) {
        guard let failure = result.failure else { return }
        let metadata: Logger.Metadata = ["ocsp_status": "\(result.status)", "error": "\(failure)"]
        if result.status == .internalError {
            logger.error("OCSP request failed", metadata: metadata)
        } else {
            logger.debug("OCSP request refused", metadata: metadata)
        }
    }

    func sendPlain(
        _ connection: OpaquePointer, status: UInt32, _ text: String, extraHeaders: [(String, String)] = []
    ) -> MHD_Result {
        send(connection, status: status, body: Array(text.utf8), contentType: "text/plain", extraHeaders: extraHeaders)
    }

    func send(
        _ connection: OpaquePointer, status: UInt32, body: [UInt8], contentType: String?,
        extraHeaders: [(String, String)] = []
    ) -> MHD_Result {
        let response = body.withUnsafeBytes { raw in
            MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let response else { return .NO }
        defer { MHD_destroy_response(response) }
        if let contentType { MHD_add_response_header(response, "Content-Type", contentType) }
        for (name, value) in extraHeaders { MHD_add_response_header(response, name, value) }
        return MHD_queue_response(connection, status, response)
    }
}
