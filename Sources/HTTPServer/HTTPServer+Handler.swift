internal import CMicroHTTPD
internal import CRLService
internal import Foundation
internal import Logging
internal import OCSPCore
internal import OCSPValues
internal import Responder
internal import RevocationStore

// The per-request state libmicrohttpd keeps for us (`con_cls`): a retained ``PostState`` for a POST,
// or, for other methods, how many body bytes were discarded, tagged in the pointer itself (odd
// values; objects are aligned, so their pointers are even): no allocation for a GET.
private func discardedState(_ count: Int) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: count << 1 | 1)! }
private func discardedCount(_ state: UnsafeMutableRawPointer) -> Int? {
    let bits = Int(bitPattern: state)
    return bits & 1 == 1 ? bits >> 1 : nil
}

let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadSize, state in
    guard let cls, let connection, let url, let method, let uploadSize, let state else { return .NO }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    let isPost = strcmp(method, "POST") == 0

    // First call: set up the per-request state and answer nothing yet (queueing a response here
    // would make libmicrohttpd close the keep-alive connection). The exception is a body declared
    // too large: refusing it now (and closing) beats reading it.
    guard let current = state.pointee else {
        let context = server.threadContext
        Counters.bump(context.counters.requestsStarted)
        if server.declaredLength(connection) > server.configuration.maxRequestBytes {
            return server.sendPlain(connection, status: 413, "request too large\n")
        }
        state.pointee = isPost ? Unmanaged.passRetained(context.takePostState()).toOpaque() : discardedState(0)
        return .YES
    }
    // Middle calls carry body bytes; libmicrohttpd accepts no response until the body is read.
    // A body that grows past the limit (chunked, so undeclared) is not read further: the 413 goes
    // straight to the socket and libmicrohttpd closes the connection.
    if uploadSize.pointee > 0 {
        let count = uploadSize.pointee
        uploadSize.pointee = 0
        let limit = server.configuration.maxRequestBytes
        if let discarded = discardedCount(current) {
            // Not a POST: the body means nothing here (405 at the end), but it counts.
            guard discarded + count <= limit else { return server.refuseOversizedBody(connection) }
            state.pointee = discardedState(discarded + count)
            return .YES
        }
        let post = Unmanaged<PostState>.fromOpaque(current).takeUnretainedValue()
        guard post.body.count + count <= limit, let uploadData else { return server.refuseOversizedBody(connection) }
        uploadData.withMemoryRebound(to: UInt8.self, capacity: count) {
            post.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
        }
        return .YES
    }
    // Last call: the whole request is in; answer it.
    server.clock(of: connection).map { server.watchdog.requestReceived($0) }
    if isPost {
        guard server.configuration.servesOCSP else { return server.sendPlain(connection, status: 404, "not found\n") }
        let post = Unmanaged<PostState>.fromOpaque(current).takeUnretainedValue()
        return post.body.withUnsafeBytes { server.answerOCSP(connection, key: $0, isGET: false) }
    }
    return server.handleWithoutBody(connection, method: method, url: url)
}

let requestCompleted: MHD_RequestCompletedCallback = { cls, connection, state, reason in
    guard let cls else { return }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    if let connection { server.clock(of: connection).map { server.watchdog.requestCompleted($0) } }
    // Only on the thread that started it (at shutdown libmicrohttpd may report from the stopping
    // thread, which has no context and needs none).
    if let context = server.threadContextKey.current { Counters.bump(context.counters.requestsCompleted) }
    guard let state, let current = state.pointee else { return }
    if discardedCount(current) == nil {
        let post = Unmanaged<PostState>.fromOpaque(current)
        // Only a worker thread's own completed requests feed its pool: at shutdown libmicrohttpd
        // may call this on the stopping thread, which must not grow a pool it never uses.
        if reason == .REQUEST_TERMINATED_COMPLETED_OK {
            server.threadContext.recycle(post.takeUnretainedValue())
        }
        post.release()
    }
    state.pointee = nil
}

/// Opened and closed connections, for their request deadlines (``ConnectionWatchdog``).
let connectionNotified: MHD_NotifyConnectionCallback = { cls, connection, socketContext, code in
    guard let cls, let connection, let socketContext else { return }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    switch code {
    case .CONNECTION_NOTIFY_STARTED:
        server.openConnections.add(1, ordering: .relaxed)
        let clock = server.watchdog.opened(socket: CMHD_connection_fd(connection))
        socketContext.pointee = Unmanaged.passRetained(clock).toOpaque()
    case .CONNECTION_NOTIFY_CLOSED:
        guard let context = socketContext.pointee else { return }
        server.openConnections.subtract(1, ordering: .relaxed)
        server.watchdog.closed(Unmanaged<ConnectionClock>.fromOpaque(context).takeRetainedValue())
        socketContext.pointee = nil
    default:
        return
    }
}

extension HTTPServer {
    var threadContext: ThreadContext {
        if let context = threadContextKey.current { return context }
        let context = ThreadContext(
            responder: responder, frontCacheEntries: configuration.frontCacheEntries, logger: logger)
        threadContextKey.install(context)
        counters.withLock { $0.append(context.counters) }
        return context
    }

    /// The deadline clock of a connection (set when it opened).
    func clock(of connection: OpaquePointer) -> ConnectionClock? {
        CMHD_socket_context(connection).map { Unmanaged<ConnectionClock>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Refuses a body that grew past ``Configuration/maxRequestBytes`` while it was being read:
    /// libmicrohttpd takes no response before the body is in, so the 413 is written to the socket
    /// directly (best effort; nothing else was written for this request) and the connection is
    /// closed, without reading the rest.
    func refuseOversizedBody(_ connection: OpaquePointer) -> MHD_Result {
        let socket = CMHD_connection_fd(connection)
        if socket >= 0 {
            let answer = Array(
                ("HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
                    + "Connection: close\r\n\r\nrequest too large\n").utf8)
            _ = answer.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        }
        logger.debug("request body over the limit; connection closed", metadata: ["limit": "\(configuration.maxRequestBytes)"])
        return .NO
    }

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
        if configuration.servesOperations {
            if path.elementsEqual("/healthz".utf8) { return sendPlain(connection, status: 200, "ok\n") }
            if let operations {
                if path.elementsEqual("/metrics".utf8) {
                    return send(
                        connection, status: 200, body: operations.metricsExposition(),
                        contentType: "text/plain; version=0.0.4; charset=utf-8", extraHeaders: [("Cache-Control", "no-store")])
                }
                if path.elementsEqual("/readyz".utf8) {
                    let (ready, body) = operations.readiness()
                    return send(
                        connection, status: ready ? 200 : 503, body: body, contentType: "application/json",
                        extraHeaders: [("Cache-Control", "no-store")])
                }
            }
        }
        guard configuration.servesOCSP else { return sendPlain(connection, status: 404, "not found\n") }
        if path.starts(with: "/crl/".utf8) { return serveCRL(connection, path: String(decoding: path, as: UTF8.self)) }
        if path.starts(with: "/filter/".utf8) { return serveFilter(connection, path: String(decoding: path, as: UTF8.self)) }
        return answerOCSP(connection, key: path, isGET: true)
    }

    /// Answers an OCSP request given as its GET path or POST body, by the cheapest way that
    /// knows the answer:
    /// 1. this thread's front cache of ready responses (after dropping what the store's change
    ///    feed says changed);
    /// 2. the signature cache, for simple requests: decoded on the stack, looked up through the
    ///    thread's reused read transaction, the stored response and HTTP values copied into a
    ///    libmicrohttpd response (which the front cache then keeps);
    /// 3. the responder's full path: any request, signing when it must.
    func answerOCSP(_ connection: OpaquePointer, key: UnsafeRawBufferPointer, isGET: Bool) -> MHD_Result {
        let context = threadContext
        defer { context.counters.publish(context.frontCache.statistics) }
        let now = FrontCache.monotonicNow()
        // The one atomic load of the request path decides both: while draining, every answer
        // carries `Connection: close`, and the front cache (whose shared responses must not carry
        // it) is neither read nor filled.
        let closing = draining.load(ordering: .relaxed)
        let useFrontCache = context.synchronize(logger: logger) && !closing
        // GET and POST answers differ in their headers; keep them apart with a leading byte.
        return withFrontCacheKey(key, isGET: isGET) { bytes in
            let cacheKey = FrontCache.Key(bytes)
            if useFrontCache, let (response, tag) = context.frontCache.lookup(cacheKey, now: now) {
                let queued = queue(connection, response, isGET: isGET, closing: false)
                let (label, thisUpdate) = FrontCache.untag(tag)
                record(context, label, cacheHit: true, since: now, thisUpdate: thisUpdate, connection, key, isGET: isGET)
                return queued
            }
            if let reader = context.reader,
                let answered = withRequestDER(key, isGET: isGET, { der in
                    try? reader.withCachedAnswer(toRequest: der, now: Int64(time(nil))) { answer in
                        guard let response = makeResponse(answer, isGET: isGET) else { return MHD_Result.NO }
                        Counters.bump(context.counters.storeAnswers)
                        let result = queue(connection, response, isGET: isGET, closing: closing)
                        let label = OCSPStatusLabel(answer.response.kind)
                        if useFrontCache, context.frontCache.admits(cacheKey) {
                            context.frontCache.insert(
                                cacheKey, response: response, issuer: answer.issuerIdentity,
                                certificate: answer.certificateIdentity,
                                tag: FrontCache.tag(label, thisUpdate: answer.response.thisUpdate), now: now,
                                validFor: FrontCache.servable(
                                    thisUpdate: answer.response.thisUpdate, nextUpdate: answer.response.nextUpdate))
                        } else {
                            MHD_destroy_response(response)
                        }
                        record(
                            context, label, cacheHit: true, since: now, thisUpdate: answer.response.thisUpdate, connection,
                            key, isGET: isGET)
                        return result
                    }
                }) ?? nil
            {
                return answered
            }
            Counters.bump(context.counters.fullPathAnswers)
            return answerFully(
                connection, key: key, cacheKey: cacheKey, isGET: isGET, context: context, useFrontCache: useFrontCache,
                closing: closing, since: now)
        }
    }

    /// Counts one answer in this thread's metrics (nothing when metrics are off), and logs it
    /// when the request log samples it.
    private func record(
        _ context: ThreadContext, _ label: OCSPStatusLabel, cacheHit: Bool, since start: UInt64, thisUpdate: Int64?,
        _ connection: OpaquePointer, _ key: UnsafeRawBufferPointer, isGET: Bool
    ) {
        let share = requestLogSampleRate
        let sampled = share > 0 && context.sample(share)
        guard configuration.metrics || sampled else { return }
        let latency = FrontCache.monotonicNow() &- start
        if configuration.metrics {
            context.counters.requests.record(
                label, cacheHit: cacheHit, latency: latency, age: thisUpdate.map { Int64(time(nil)) - $0 })
        }
        if sampled { logRequest(label, cacheHit: cacheHit, latency: latency, connection, key, isGET: isGET) }
    }

    /// One line of the request log: what was asked (decoded again, only for the sampled requests),
    /// by whom, and how it was answered.
    private func logRequest(
        _ label: OCSPStatusLabel, cacheHit: Bool, latency: UInt64, _ connection: OpaquePointer,
        _ key: UnsafeRawBufferPointer, isGET: Bool
    ) {
        var metadata: Logger.Metadata = [
            "ocsp_status": "\(label.name)", "cache_hit": "\(cacheHit)", "method": isGET ? "GET" : "POST",
            "latency_us": "\(latency / 1000)", "client": "\(Self.clientAddress(connection))",
            "request_id": "\(requestIDPrefix)-\(String(loggedRequests.wrappingAdd(1, ordering: .relaxed).newValue, radix: 16))",
        ]
        let der = withRequestDER(key, isGET: isGET) { Array($0) }
        if let der, let request = try? OCSPRequest(derEncoded: der), let certID = request.certIDs.first ?? nil {
            metadata["serial"] = "\(certID.serialNumber.hex)"
            metadata["hash_algorithm"] = "\(certID.hashAlgorithm)"
            metadata["issuer_key_hash"] = "\(certID.issuerKeyHash.hexString)"
            if request.certIDs.count > 1 { metadata["cert_ids"] = "\(request.certIDs.count)" }
            if request.hasNonce { metadata["nonce"] = "true" }
        }
        logger.info("OCSP request", metadata: metadata)
    }

    /// The client's numeric address, or "-".
    static func clientAddress(_ connection: OpaquePointer) -> String {
        guard let address = CMHD_client_address(connection) else { return "-" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let isIPv6 = address.pointee.sa_family == sa_family_t(AF_INET6)
        let length = socklen_t(isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { return "-" }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The full path: ``OCSPResponder/respond(to:now:)``, for every request the caches could not answer.
    private func answerFully(
        _ connection: OpaquePointer, key: UnsafeRawBufferPointer, cacheKey: FrontCache.Key, isGET: Bool,
        context: ThreadContext, useFrontCache: Bool, closing: Bool, since start: UInt64
    ) -> MHD_Result {
        let result: OCSPResponder.Result
        if isGET, let der = withRequestDER(key, isGET: true, { Array($0) }) {
            result = responder.respond(to: der)
        } else if isGET {
            result = .error(.malformedRequest, "GET path is not base64", .request)
        } else {
            result = responder.respond(to: Array(key))
        }
        log(result)
        let label = OCSPStatusLabel(result)
        defer {
            record(
                context, label, cacheHit: result.status == .successful && !result.signedForRequest, since: start,
                thisUpdate: result.thisUpdate.map { Int64($0.timeIntervalSince1970) }, connection, key, isGET: isGET)
        }
        guard let response = makeResponse(result, isGET: isGET) else { return .NO }
        if useFrontCache, let cached = result.cacheKey, result.isCacheable, context.frontCache.admits(cacheKey) {
            let issuer = cached.issuer.bytes.withUnsafeBytes { CacheIdentity.issuer($0) }
            let certificate = cached.issuer.bytes.withUnsafeBytes { issuer in
                cached.serial.bytes.withUnsafeBytes { CacheIdentity.certificate(issuer: issuer, serial: $0) }
            }
            let validFor = FrontCache.servable(
                thisUpdate: Int64((result.thisUpdate ?? .distantPast).timeIntervalSince1970),
                nextUpdate: Int64((result.nextUpdate ?? .distantPast).timeIntervalSince1970))
            defer {
                context.frontCache.insert(
                    cacheKey, response: response, issuer: issuer, certificate: certificate,
                    tag: FrontCache.tag(label, thisUpdate: Int64((result.thisUpdate ?? .distantPast).timeIntervalSince1970)),
                    now: FrontCache.monotonicNow(), validFor: validFor)
            }
            return queue(connection, response, isGET: isGET, closing: closing)
        }
        defer { MHD_destroy_response(response) }
        return queue(connection, response, isGET: isGET, closing: closing)
    }

    /// Calls `body` with the request's DER: a POST body as it is, a GET path decoded into a
    /// buffer on the stack. Nil if the GET path is not base64.
    private func withRequestDER<R>(_ key: UnsafeRawBufferPointer, isGET: Bool, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard isGET else { return body(key) }
        return withUnsafeTemporaryAllocation(byteCount: GETRequestPath.decodedCapacity(key.count), alignment: 1) { buffer in
            let slash = UInt8(ascii: "/")
            let count = withUnsafeBytes(of: slash) { GETRequestPath.decode(key, prefix: $0, into: buffer) }
            return count.map { body(UnsafeRawBufferPointer(rebasing: buffer[..<$0])) }
        }
    }

    private func withFrontCacheKey<R>(_ key: UnsafeRawBufferPointer, isGET: Bool, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        // OCSP requests are a few hundred bytes at most; the bytes go on the stack.
        withUnsafeTemporaryAllocation(byteCount: key.count + 1, alignment: 1) { buffer in
            buffer[0] = isGET ? UInt8(ascii: "G") : UInt8(ascii: "P")
            UnsafeMutableRawBufferPointer(rebasing: buffer[1...]).copyMemory(from: key)
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Queues `response` (200), or 304 for a GET whose If-None-Match names its ETag; `closing`
    /// (draining: never true for a front-cache response, which is shared) adds `Connection: close`,
    /// after which libmicrohttpd closes the connection once the answer is sent.
    private func queue(
        _ connection: OpaquePointer, _ response: OpaquePointer, isGET: Bool, closing: Bool
    ) -> MHD_Result {
        if isGET, let condition = MHD_lookup_connection_value(connection, .HEADER_KIND, "If-None-Match"),
            let etag = MHD_get_response_header(response, "ETag"), Self.matches(String(cString: condition), String(cString: etag))
        {
            return sendNotModified(connection, etag: String(cString: etag), closing: closing)
        }
        if closing { MHD_add_response_header(response, "Connection", "close") }
        return MHD_queue_response(connection, UInt32(MHD_HTTP_OK), response)
    }

    private func ifNoneMatch(_ connection: OpaquePointer, _ etag: String) -> Bool {
        guard let value = MHD_lookup_connection_value(connection, .HEADER_KIND, "If-None-Match") else { return false }
        return Self.matches(String(cString: value), etag)
    }

    /// Whether an If-None-Match value names `etag` (or is `*`).
    private static func matches(_ header: String, _ etag: String) -> Bool {
        header == "*" || header.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == etag }
    }

    /// A libmicrohttpd response for a cached answer: its DER and the HTTP values stored with it,
    /// copied; only max-age is computed (into a buffer on the stack).
    private func makeResponse(_ answer: OCSPResponder.CachedAnswer, isGET: Bool) -> OpaquePointer? {
        let der = answer.response.der
        guard
            let response = MHD_create_response_from_buffer(
                der.count, UnsafeMutableRawPointer(mutating: der.baseAddress), .RESPMEM_MUST_COPY)
        else { return nil }
        MHD_add_response_header(response, "Content-Type", "application/ocsp-response")
        guard isGET else {
            MHD_add_response_header(response, "Cache-Control", "no-cache, no-store")
            return response
        }
        withCacheControl(maxAge: maxAge(nextUpdate: answer.response.nextUpdate, now: Int64(time(nil)))) {
            MHD_add_response_header(response, "Cache-Control", $0)
        }
        MHD_add_response_header(response, "Last-Modified", answer.response.lastModified)
        MHD_add_response_header(response, "Expires", answer.response.expires)
        MHD_add_response_header(response, "ETag", answer.response.etagHeader)
        return response
    }

    /// A libmicrohttpd response with the OCSP body and headers. GET answers that may be cached
    /// get RFC 5019 §6 headers; the rest `no-store`.
    private func makeResponse(_ result: OCSPResponder.Result, isGET: Bool) -> OpaquePointer? {
        let response = result.body.withUnsafeBytes { raw in
            MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let response else { return nil }
        MHD_add_response_header(response, "Content-Type", "application/ocsp-response")
        guard isGET, result.isCacheable, let etag = result.etag, let thisUpdate = result.thisUpdate,
            let nextUpdate = result.nextUpdate
        else {
            MHD_add_response_header(response, "Cache-Control", "no-cache, no-store")
            return response
        }
        withCacheControl(maxAge: maxAge(nextUpdate: Int64(nextUpdate.timeIntervalSince1970), now: Int64(time(nil)))) {
            MHD_add_response_header(response, "Cache-Control", $0)
        }
        MHD_add_response_header(response, "Last-Modified", HTTPDate.format(thisUpdate))
        MHD_add_response_header(response, "Expires", HTTPDate.format(nextUpdate))
        MHD_add_response_header(response, "ETag", etag)
        return response
    }

    /// Seconds an HTTP cache may keep a response: until its nextUpdate, less the front cache's
    /// lifetime (it may have served the response that long already), at most `maxAge`.
    private func maxAge(nextUpdate: Int64, now: Int64) -> Int {
        let lifetime = Int64(FrontCache.lifetime / 1_000_000_000)
        return Int(max(0, min(nextUpdate - now - lifetime, Int64(configuration.maxAge))))
    }

    /// `max-age=N, public, no-transform, must-revalidate` (RFC 5019 §6.2), NUL-terminated on the stack.
    private func withCacheControl(maxAge: Int, _ body: (UnsafePointer<CChar>) -> Void) {
        let suffix: StaticString = ", public, no-transform, must-revalidate"
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 96) { buffer in
            var count = 0
            for byte in "max-age=".utf8 {
                buffer[count] = CChar(bitPattern: byte)
                count += 1
            }
            var digits = 1
            var rest = maxAge
            while rest >= 10 {
                digits += 1
                rest /= 10
            }
            rest = maxAge
            for place in stride(from: count + digits - 1, through: count, by: -1) {
                buffer[place] = CChar(UInt8(ascii: "0") + UInt8(rest % 10))
                rest /= 10
            }
            count += digits
            suffix.withUTF8Buffer { bytes in
                for byte in bytes {
                    buffer[count] = CChar(bitPattern: byte)
                    count += 1
                }
            }
            buffer[count] = 0
            body(UnsafePointer(buffer.baseAddress!))
        }
    }

    /// Serves the latest stored CRL at `/crl/<slug>.crl`, `/crl/<slug>-delta.crl` or
    /// `/crl/<slug>/<shard>.crl`, with caching headers and 304 on a matching If-None-Match.
    func serveCRL(_ connection: OpaquePointer, path: String) -> MHD_Result {
        guard let (slug, scope) = CRLPaths.parse(path) else { return sendPlain(connection, status: 404, "no such CRL\n") }
        let stored: StoredCRL?
        do {
            stored = try responder.storedCRL(slug: slug, scope: scope)
        } catch {
            return sendStoreUnavailable(connection, path: path, what: "CRL", error)
        }
        guard let crl = stored else { return sendPlain(connection, status: 404, "no such CRL\n") }
        return sendPublished(
            connection, body: crl.der, contentType: "application/pkix-crl", etag: crl.etagHeader, thisUpdate: crl.thisUpdate,
            nextUpdate: crl.nextUpdate)
    }

    /// Serves the latest stored revocation filter of an issuer at `/filter/<slug>.mlbf` and its
    /// signed metadata at `/filter/<slug>.mlbf.meta`, with the caching headers and 304 of CRLs.
    func serveFilter(_ connection: OpaquePointer, path: String) -> MHD_Result {
        guard let (slug, metadata) = FilterPaths.parse(path) else { return sendPlain(connection, status: 404, "no such filter\n") }
        let stored: StoredFilter?
        do {
            stored = try responder.storedFilter(slug: slug)
        } catch {
            return sendStoreUnavailable(connection, path: path, what: "filter", error)
        }
        guard let filter = stored else { return sendPlain(connection, status: 404, "no such filter\n") }
        return sendPublished(
            connection, body: metadata ? filter.signedMetadata : filter.mlbf,
            contentType: metadata ? "application/pkcs7-mime" : "application/octet-stream",
            etag: StoredCRL.etagHeader(metadata ? filter.metadataETag : filter.etag), thisUpdate: filter.thisUpdate,
            nextUpdate: filter.nextUpdate)
    }

    /// A store fault is the server's passing trouble, not the client's: 503 with a retry hint.
    private func sendStoreUnavailable(_ connection: OpaquePointer, path: String, what: String, _ error: any Error) -> MHD_Result {
        logger.error("\(what) lookup failed", metadata: ["path": "\(path)", "error": "\(error)"])
        return sendPlain(
            connection, status: 503, "store unavailable, retry later\n", extraHeaders: [("Retry-After", "5"), ("Cache-Control", "no-cache")])
    }

    /// A published document (CRL, filter): 304 on a matching If-None-Match, else 200 with
    /// Cache-Control until its nextUpdate (at most max-age), Last-Modified, Expires and ETag.
    private func sendPublished(
        _ connection: OpaquePointer, body: [UInt8], contentType: String, etag: String, thisUpdate: Date, nextUpdate: Date
    ) -> MHD_Result {
        if ifNoneMatch(connection, etag) { return sendNotModified(connection, etag: etag) }
        let maxAge = Int(max(0, min(nextUpdate.timeIntervalSinceNow, configuration.maxAge)))
        return send(
            connection, status: 200, body: body, contentType: contentType,
            extraHeaders: [
                ("Cache-Control", "max-age=\(maxAge), public, no-transform, must-revalidate"),
                ("Last-Modified", HTTPDate.format(thisUpdate)), ("Expires", HTTPDate.format(nextUpdate)), ("ETag", etag),
            ])
    }

    private func sendNotModified(_ connection: OpaquePointer, etag: String, closing: Bool? = nil) -> MHD_Result {
        send(
            connection, status: UInt32(MHD_HTTP_NOT_MODIFIED), body: [], contentType: nil,
            extraHeaders: [("ETag", etag)], closing: closing)
    }

    private func log(_ result: OCSPResponder.Result) {
        guard let failure = result.failure else { return }
        var metadata: Logger.Metadata = ["ocsp_status": "\(result.status)", "error": "\(failure)"]
        switch result.failureKind {
        case .signing, .store:
            // The responder's own failure (answered tryLater, or signed anew when the signature
            // cache could not be read): the operator must see it, but a flood of requests must
            // not become a flood of lines. One a second, with the count.
            let second = Int(time(nil))
            let last = lastFailureLog.load(ordering: .relaxed)
            let suppressed = suppressedFailureLogs.wrappingAdd(1, ordering: .relaxed).newValue
            guard second > last, lastFailureLog.compareExchange(expected: last, desired: second, ordering: .relaxed).exchanged
            else { return }
            suppressedFailureLogs.store(0, ordering: .relaxed)
            let (signing, store) = responder.failureCounts
            metadata["failures_since_last_log"] = "\(suppressed)"
            metadata["signing_failures"] = "\(signing)"
            metadata["store_failures"] = "\(store)"
            logger.error(
                result.status == .successful
                    ? "signature cache unreadable; OCSP request answered with a fresh signature"
                    : "OCSP request answered tryLater",
                metadata: metadata)
        default:
            logger.debug("OCSP request refused", metadata: metadata)
        }
    }

    func sendPlain(
        _ connection: OpaquePointer, status: UInt32, _ text: String, extraHeaders: [(String, String)] = []
    ) -> MHD_Result {
        send(connection, status: status, body: Array(text.utf8), contentType: "text/plain", extraHeaders: extraHeaders)
    }

    /// Queues a fresh response; it carries `Connection: close` while draining (`closing`, when the
    /// caller has looked already).
    func send(
        _ connection: OpaquePointer, status: UInt32, body: [UInt8], contentType: String?,
        extraHeaders: [(String, String)] = [], closing: Bool? = nil
    ) -> MHD_Result {
        let response = body.withUnsafeBytes { raw in
            MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let response else { return .NO }
        defer { MHD_destroy_response(response) }
        if closing ?? draining.load(ordering: .relaxed) { MHD_add_response_header(response, "Connection", "close") }
        if let contentType { MHD_add_response_header(response, "Content-Type", contentType) }
        for (name, value) in extraHeaders { MHD_add_response_header(response, name, value) }
        return MHD_queue_response(connection, status, response)
    }
}
