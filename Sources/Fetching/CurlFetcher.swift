internal import CCurl
internal import Foundation
internal import Locking

/// ``HTTPFetching`` on libcurl (built on the system's OpenSSL), with what operators expect of an
/// HTTP client: `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment, IPv6 with happy
/// eyeballs, a connect timeout apart from the transfer's, and keep-alive connections reused.
///
/// Each transfer runs on a thread of its own (libcurl's easy interface blocks), never on a
/// cooperative thread; cancelling the waiting task aborts the transfer within about a second.
/// A refused connection fails at once, without a retry.
public final class CurlFetcher: HTTPFetching {
    /// One fetcher for the process (its idle handles keep connections for reuse).
    public static let shared = CurlFetcher()

    private let idle = LockedValue<[CurlHandle]>([])
    private let maximumIdle: Int

    /// - Parameter maximumIdleHandles: handles (and their connections) kept for reuse.
    public init(maximumIdleHandles: Int = 16) {
        maximumIdle = maximumIdleHandles
    }

    public func fetch(_ request: FetchRequest) async throws -> FetchResponse {
        guard request.url.hasPrefix("http://") || request.url.hasPrefix("https://") else {
            throw FetchError(.invalidURL, "\(request.url): not an http or https URL")
        }
        if Task.isCancelled { throw FetchError(.cancelled, "\(request.url): cancelled") }
        let transfer = Transfer(maximumBytes: request.maximumBytes)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<FetchResponse, any Error>) in
                let thread = Thread {
                    continuation.resume(with: Result { try self.perform(request, transfer) })
                }
                thread.name = "curl-fetch"
                thread.start()
            }
        } onCancel: {
            transfer.cancel()
        }
    }

    private func takeHandle() throws -> CurlHandle {
        if let handle = idle.withLock({ $0.popLast() }) { return handle }
        guard let handle = CurlHandle() else { throw FetchError(.other, "libcurl could not make a handle") }
        return handle
    }

    private func giveBack(_ handle: CurlHandle) {
        idle.withLock { handles in
            if handles.count < maximumIdle { handles.append(handle) }
        }
    }

    /// One blocking transfer, on the calling thread.
    ///
    /// The handle holds pointers to this transfer's memory (the error buffer, the header list,
    /// the callbacks' context) until it is reset, and libcurl may write to the error buffer even
    /// while it closes a connection: so it is reset before any of them goes, and before it goes
    /// back to the pool or is cleaned up.
    private func perform(_ request: FetchRequest, _ transfer: Transfer) throws -> FetchResponse {
        let handle = try takeHandle()
        handle.reset()
        let curl = handle.raw
        var headers: UnsafeMutablePointer<curl_slist>? = nil
        // A POST body of over 1 KiB would wait for a 100 Continue that few responders send.
        for line in request.headers.map({ "\($0.key): \($0.value)" }) + ["Expect:"] {
            headers = curl_slist_append(headers, line)
        }
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        let code: CURLcode = request.method.rawValue.withCString { method in
            request.url.withCString { url in
                "http,https".withCString { protocols in
                    "ocsp-responder".withCString { agent in
                        request.body.withUnsafeBytes { body in
                            _ = CCurl_setopt_pointer(curl, CURLOPT_URL, url)
                            _ = CCurl_setopt_pointer(curl, CURLOPT_PROTOCOLS_STR, protocols)
                            _ = CCurl_setopt_pointer(curl, CURLOPT_REDIR_PROTOCOLS_STR, protocols)
                            _ = CCurl_setopt_pointer(curl, CURLOPT_USERAGENT, agent)
                            _ = CCurl_setopt_pointer(curl, CURLOPT_ERRORBUFFER, transfer.errorBuffer)
                            _ = CCurl_setopt_pointer(curl, CURLOPT_HTTPHEADER, headers)
                            // Timeouts by signal would be process-wide: threads must not use them.
                            _ = CCurl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
                            _ = CCurl_setopt_long(curl, CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout))
                            _ = CCurl_setopt_long(
                                curl, CURLOPT_CONNECTTIMEOUT_MS,
                                Self.milliseconds(min(request.connectTimeout ?? request.timeout, request.timeout)))
                            _ = CCurl_setopt_off(curl, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(request.maximumBytes))
                            if request.maximumRedirects > 0 {
                                _ = CCurl_setopt_long(curl, CURLOPT_FOLLOWLOCATION, 1)
                                _ = CCurl_setopt_long(curl, CURLOPT_MAXREDIRS, request.maximumRedirects)
                                _ = CCurl_setopt_long(
                                    curl, CURLOPT_POSTREDIR, Int(CURL_REDIR_POST_301 | CURL_REDIR_POST_302 | CURL_REDIR_POST_303))
                            }
                            if request.method == .post {
                                _ = CCurl_setopt_long(curl, CURLOPT_POST, 1)
                                _ = CCurl_setopt_off(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                                // libcurl reads the body during the transfer, from this memory.
                                _ = CCurl_setopt_pointer(curl, CURLOPT_POSTFIELDS, body.baseAddress ?? UnsafeRawPointer(transfer.errorBuffer))
                            } else if request.method.rawValue == "HEAD" {
                                _ = CCurl_setopt_long(curl, CURLOPT_NOBODY, 1)  // no body follows, whatever the headers say
                            } else if request.method != .get {
                                _ = CCurl_setopt_pointer(curl, CURLOPT_CUSTOMREQUEST, method)
                            }
                            _ = CCurl_setopt_write_function(curl, CURLOPT_WRITEFUNCTION, writeBody)
                            _ = CCurl_setopt_pointer(curl, CURLOPT_WRITEDATA, context)
                            _ = CCurl_setopt_write_function(curl, CURLOPT_HEADERFUNCTION, writeHeader)
                            _ = CCurl_setopt_pointer(curl, CURLOPT_HEADERDATA, context)
                            _ = CCurl_setopt_long(curl, CURLOPT_NOPROGRESS, 0)
                            _ = CCurl_setopt_xferinfo_function(curl, progress)
                            _ = CCurl_setopt_pointer(curl, CURLOPT_XFERINFODATA, context)
                            let code = curl_easy_perform(curl)
                            // Nothing of this frame or of the transfer may stay in the handle.
                            if code == CURLE_OK {
                                _ = CCurl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &transfer.status)
                            } else {
                                _ = CCurl_getinfo_long(curl, CURLINFO_OS_ERRNO, &transfer.osErrno)
                            }
                            handle.reset()
                            return code
                        }
                    }
                }
            }
        }
        curl_slist_free_all(headers)
        giveBack(handle)
        guard code == CURLE_OK else {
            throw Self.error(code, transfer, url: request.url, detail: String(cString: transfer.errorBuffer))
        }
        return FetchResponse(status: transfer.status, headers: transfer.headers, body: transfer.body)
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000))
    }

    private static func error(_ code: CURLcode, _ transfer: Transfer, url: String, detail: String) -> FetchError {
        var what = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        // libcurl says "Couldn't connect to server"; the system says why (Connection refused, …).
        if transfer.osErrno != 0, code == CURLE_COULDNT_CONNECT || code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR {
            let reason = String(cString: strerror(Int32(transfer.osErrno)))
            if !what.contains(reason) { what = reason + ": " + what }
        }
        let kind: FetchError.Code
        switch code {
        case CURLE_COULDNT_CONNECT: kind = .refused
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .unresolved
        case CURLE_OPERATION_TIMEDOUT: kind = .timedOut
        case CURLE_FILESIZE_EXCEEDED: kind = .tooLarge
        case CURLE_WRITE_ERROR where transfer.exceeded: kind = .tooLarge
        case CURLE_PARTIAL_FILE: kind = .truncated
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING: kind = .connectionLost
        case CURLE_ABORTED_BY_CALLBACK: kind = .cancelled
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: kind = .invalidURL
        case CURLE_TOO_MANY_REDIRECTS, CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP2_STREAM: kind = .protocolError
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            kind = .tls
        default: kind = .other
        }
        if kind == .tooLarge {
            return FetchError(kind, "\(url): the answer is larger than \(transfer.maximumBytes) bytes")
        }
        return FetchError(kind, "\(url): \(what)")
    }
}

/// What one transfer has received so far, written by libcurl's callbacks on the transfer's
/// thread; ``cancel()`` comes from another.
final class Transfer: @unchecked Sendable {  // all but the flag: the transfer's thread only; the flag: locked
    let maximumBytes: Int
    var body: [UInt8] = []
    var headers: [String: String] = [:]
    var status = 0
    /// The system's error for a failed connection (ECONNREFUSED, …), 0 if none.
    var osErrno = 0
    var exceeded = false
    /// libcurl's error message (CURLOPT_ERRORBUFFER): memory of the transfer's own, not of a frame.
    let errorBuffer: UnsafeMutablePointer<CChar>
    private let cancelled = LockedValue(false)

    init(maximumBytes: Int) {
        self.maximumBytes = maximumBytes
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit { errorBuffer.deallocate() }

    func cancel() { cancelled.withLock { $0 = true } }
    var isCancelled: Bool { cancelled.withLock { $0 } }

    func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= maximumBytes else {
            exceeded = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// One header line; a status line starts a new response (after a redirect or a 100).
    func header(_ line: String) {
        if line.hasPrefix("HTTP/") {
            headers = [:]
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        headers[name] = value
    }
}

private func transfer(_ pointer: UnsafeMutableRawPointer?) -> Transfer {
    Unmanaged<Transfer>.fromOpaque(pointer!).takeUnretainedValue()
}

private let writeBody: curl_write_callback = { data, size, count, context in
    let bytes = UnsafeRawBufferPointer(start: data, count: size * count)
    return transfer(context).append(bytes) ? size * count : 0
}

private let writeHeader: curl_write_callback = { data, size, count, context in
    let bytes = UnsafeRawBufferPointer(start: data, count: size * count)
    transfer(context).header(String(decoding: bytes, as: UTF8.self))
    return size * count
}

private let progress: curl_xferinfo_callback = { context, _, _, _, _ in
    transfer(context).isCancelled ? 1 : 0
}
