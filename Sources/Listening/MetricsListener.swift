internal import CMicroHTTPD
internal import Foundation

/// A small HTTP listener on libmicrohttpd, as ocspd's front is, for a sidecar's operations
/// endpoints: `GET /metrics` (Prometheus text, from ``exposition``) and `GET /healthz`. Anything
/// else gets 404, a method other than GET or HEAD 405; request bodies are not kept. A connection
/// idle for 30 s is closed, so a scraper that never finishes a request holds no socket for ever.
package final class MetricsListener: @unchecked Sendable {  // the daemon pointer: set in start, cleared in stop, by the owner
    package let host: String
    package let port: UInt16
    let exposition: @Sendable () -> [UInt8]
    private var daemon: OpaquePointer?  // MHD_Daemon*, owned

    /// - Parameter exposition: the `/metrics` body, asked for each scrape.
    package init(host: String, port: UInt16, exposition: @escaping @Sendable () -> [UInt8]) {
        self.host = host
        self.port = port
        self.exposition = exposition
    }

    /// `host:port` or `[v6]:port`, split; nil when it is neither.
    package static func address(_ listen: String) -> (host: String, port: UInt16)? { SocketAddress.split(listen) }

    /// Binds and serves on libmicrohttpd's own thread.
    /// - Returns: the bound port (the kernel's pick for port 0).
    /// - Throws: ``MetricsListenerError`` when the address is not numeric or cannot be bound.
    @discardableResult
    package func start() throws -> UInt16 {
        precondition(daemon == nil, "MetricsListener started twice")
        guard let address = SocketAddress(host: host, port: port) else {
            throw MetricsListenerError(description: "'\(host)' is not a numeric IPv4 or IPv6 address (e.g. 127.0.0.1, ::1)")
        }
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_USE_ERROR_LOG.rawValue
        if address.isIPv6 { flags |= MHD_USE_IPv6.rawValue }
        let context = Unmanaged.passUnretained(self).toOpaque()
        daemon = address.withSockaddr { sockaddr -> OpaquePointer? in
            let options: [MHD_OptionItem] = [
                MHD_OptionItem(option: .SOCK_ADDR, value: 0, ptr_value: UnsafeMutableRawPointer(mutating: sockaddr)),
                MHD_OptionItem(option: .CONNECTION_LIMIT, value: 64, ptr_value: nil),
                MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: 30, ptr_value: nil),
                MHD_OptionItem(option: .END, value: 0, ptr_value: nil),
            ]
            return CMHD_start_daemon(UInt32(flags), address.port, metricsHandler, context, options)
        }
        guard let daemon else { throw MetricsListenerError(description: "cannot listen on \(host):\(port) (in use, or not an address of this host)") }
        return CMHD_bound_port(daemon)
    }

    /// Stops listening and closes every connection.
    package func stop() {
        guard let daemon else { return }
        MHD_stop_daemon(daemon)
        self.daemon = nil
    }

    deinit { stop() }

    /// The answer to `method` `path`: status, body, content type.
    func answer(method: String, path: String) -> (status: UInt32, body: [UInt8], contentType: String) {
        guard method == "GET" || method == "HEAD" else { return (405, Array("GET or HEAD\n".utf8), "text/plain; charset=utf-8") }
        switch path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path {
        case "/metrics": return (200, exposition(), "text/plain; version=0.0.4; charset=utf-8")
        case "/healthz": return (200, Array("ok\n".utf8), "text/plain; charset=utf-8")
        default: return (404, Array("not found: /metrics or /healthz\n".utf8), "text/plain; charset=utf-8")
        }
    }
}

/// Why the listener could not start, in one line.
package struct MetricsListenerError: Error, CustomStringConvertible, Sendable {
    package let description: String
}

/// The first call of a request only marks it (a response queued then would end keep-alive); body
/// bytes are dropped; the last call answers.
private let metricsHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, _, uploadSize, state in
    guard let cls, let connection, let url, let method, let uploadSize, let state else { return .NO }
    guard state.pointee != nil else {
        state.pointee = UnsafeMutableRawPointer(bitPattern: 1)
        return .YES
    }
    if uploadSize.pointee > 0 {
        uploadSize.pointee = 0
        return .YES
    }
    let listener = Unmanaged<MetricsListener>.fromOpaque(cls).takeUnretainedValue()
    let (status, body, contentType) = listener.answer(method: String(cString: method), path: String(cString: url))
    let response = body.withUnsafeBytes { raw in
        MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let response else { return .NO }
    defer { MHD_destroy_response(response) }
    MHD_add_response_header(response, "Content-Type", contentType)
    return MHD_queue_response(connection, status, response)
}
