internal import CMicroHTTPD
package import Foundation
internal import Listening
package import Logging
package import Responder
internal import Locking
internal import Synchronization

/// The HTTP front of the responder, on libmicrohttpd (HTTP/1.1 keep-alive, epoll).
///
/// Routes: `POST /` (application/ocsp-request), `GET /<base64>` (RFC 5019), `GET /crl/…`, and
/// for operators `GET /healthz`, `/metrics`, `/readyz` (see ``OperationsEndpoints``).
///
/// > Warning: libmicrohttpd calls ``handle`` on its own threads; everything it touches
/// > (``OCSPResponder``, the logger) is thread-safe.
package final class HTTPServer: @unchecked Sendable {
    // @unchecked: `daemons` is set once in start() and cleared once in stop(), both from the owner's
    // thread; libmicrohttpd's threads only read the immutable configuration and the responder.

    package struct Configuration: Sendable {
        /// IPv4 or IPv6 literal to bind, e.g. `127.0.0.1` or `::1`.
        package var host: String
        /// 0 picks a free port (see ``HTTPServer/start()``'s return value).
        package var port: UInt16
        /// libmicrohttpd threads, each with its own listening socket (SO_REUSEPORT) and epoll loop.
        package var threads: Int = 1
        /// The largest POST body accepted; larger gets 413.
        package var maxRequestBytes: Int = 16 * 1024
        package var connectionLimit: Int = 4096
        /// A connection that sends nothing for this many seconds is closed.
        package var connectionTimeout: Int = 30
        /// Each request must arrive whole (head and body) within this many seconds of the
        /// connection opening or the previous answer going out; an idle keep-alive connection is
        /// closed after as long. Bounds what a client trickling bytes can hold.
        package var requestTimeout: Int = 10
        /// Connections one client address may hold open at once (0: no limit). Raise it, or set
        /// 0, when every request comes through a proxy or a CDN.
        package var connectionsPerAddress: Int = 256
        /// Each connection's buffer for the request head and the response head (libmicrohttpd's
        /// memory pool, which it zeroes after every request: 32 KiB by default, a quarter of the
        /// CPU time of a cached answer was spent clearing it). A request line and headers larger
        /// than about half of it get 414/431. OCSP GET URLs are a few hundred bytes (RFC 5019
        /// §5 asks clients to use POST beyond 255); POST bodies are streamed, not held here.
        package var connectionMemory: Int = 8 * 1024
        /// Ready responses each thread keeps for repeated requests (a power of two). A full entry
        /// takes about 1.5 KiB (the response, its headers, the request), so the default costs up to
        /// 24 MiB a thread; with a Zipf-like demand over 200 000 certificates it answers about 3 of 4
        /// requests.
        package var frontCacheEntries: Int = 16384
        /// Upper bound of `Cache-Control: max-age` on GET responses.
        package var maxAge: TimeInterval = 86400 * 7
        /// Whether to count answers for ``HTTPServer/requestMetrics`` (per thread, summed when read).
        package var metrics = true
        /// Whether this listener answers OCSP requests and serves CRLs (false for a listener of its
        /// own for metrics and health, `--metrics-listen`).
        package var servesOCSP = true
        /// Whether this listener serves `/healthz`, `/metrics` and `/readyz`.
        package var servesOperations = true
        /// The share of OCSP requests logged one line each (0: none, 1: all), at info level.
        package var requestLogSampleRate = 0.0
        /// On graceful shutdown, how long requests in flight may take before their connections close.
        package var shutdownTimeout = 10.0

        package init(host: String = "127.0.0.1", port: UInt16 = 8080) {
            self.host = host
            self.port = port
        }

        /// Parses `HOST:PORT` or `[IPV6]:PORT`.
        package init(listen: String) throws {
            guard let (host, port) = SocketAddress.split(listen) else {
                throw HTTPServerError(
                    .invalidAddress, "--listen \(listen): expected HOST:PORT with a port of 0…65535, e.g. 127.0.0.1:8080 or [::1]:8080")
            }
            self.init(host: host, port: port)
        }
    }

    package let configuration: Configuration
    let responder: OCSPResponder
    let logger: Logger
    /// What `/metrics` and `/readyz` answer; without it they are 404.
    let operations: (any OperationsEndpoints)?
    /// Connections open now, over all threads.
    let openConnections = Atomic<Int>(0)
    /// Set by ``drain(timeout:)``: every answer closes its connection, and the front cache (whose
    /// shared responses cannot carry that header) is bypassed.
    let draining = Atomic<Bool>(false)
    /// The share of requests the request log samples, as `Double` bits (``setRequestLogSampleRate(_:)``).
    let requestLogShare: Atomic<UInt64>
    /// Listening sockets handed back by ``quiesce()``, closed after the daemons stop.
    private var quiescedSockets: [Int32] = []
    /// Request ids of the request log: this process's random prefix and a count of logged requests.
    let requestIDPrefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    let loggedRequests = Atomic<UInt64>(0)
    let threadContextKey = ThreadContextKey()
    let watchdog: ConnectionWatchdog
    /// The second the last responder failure was logged, and how many since (see `log(_:)`).
    let lastFailureLog = Atomic<Int>(0)
    let suppressedFailureLogs = Atomic<Int>(0)
    /// Every thread's counters, for ``statistics``.
    let counters = LockedValue<[Counters]>([])
    private var daemons: [OpaquePointer] = []  // MHD_Daemon*, owned: one per thread

    package init(
        configuration: Configuration, responder: OCSPResponder, logger: Logger, operations: (any OperationsEndpoints)? = nil
    ) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        self.operations = operations
        requestLogShare = Atomic(configuration.requestLogSampleRate.bitPattern)
        watchdog = ConnectionWatchdog(timeout: UInt64(max(1, configuration.requestTimeout)) * 1_000_000_000)
    }

    deinit { stop() }

    /// Binds and starts serving on libmicrohttpd's own threads.
    /// - Returns: the bound port (useful with port 0).
    /// - Throws: ``HTTPServerError`` if the address is invalid or cannot be bound.
    @discardableResult
    package func start() throws -> UInt16 {
        precondition(daemons.isEmpty, "HTTPServer started twice")
        guard var address = SocketAddress(host: configuration.host, port: configuration.port) else {
            throw HTTPServerError(
                .invalidAddress, "'\(configuration.host)' is not a numeric IPv4 or IPv6 address (e.g. 127.0.0.1, ::1)")
        }
        let count = max(1, configuration.threads)
        let inUse = HTTPServerError(
            .bindFailed, "cannot listen on \(configuration.host):\(configuration.port) (in use, or not an address of this host)")
        guard count > 1 else {
            guard let daemon = startDaemon(address, reusePort: false, connectionLimit: configuration.connectionLimit) else {
                throw inUse
            }
            daemons = [daemon]
            watchdog.start()
            return CMHD_bound_port(daemon)
        }
        // Several threads: one single-threaded daemon each, all bound to the port with
        // SO_REUSEPORT, so the kernel spreads connections over their listening sockets.
        // libmicrohttpd's own thread pool shares one listening socket, and the thread that wakes
        // first accepts every pending connection: measured here, one thread of two served all
        // sixteen connections of a load test while the other idled.
        guard let port = address.probePort() else { throw inUse }
        address.port = port
        let limit = (configuration.connectionLimit + count - 1) / count
        for _ in 0..<count {
            guard let daemon = startDaemon(address, reusePort: true, connectionLimit: limit) else {
                stop()
                throw inUse
            }
            daemons.append(daemon)
        }
        watchdog.start()
        return port
    }

    private func startDaemon(_ address: SocketAddress, reusePort: Bool, connectionLimit: Int) -> OpaquePointer? {
        // ITC (an eventfd) lets quiesce() wake the thread to stop accepting.
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_USE_ERROR_LOG.rawValue
            | MHD_USE_ITC.rawValue
        if address.isIPv6 { flags |= MHD_USE_IPv6.rawValue }
        let context = Unmanaged.passUnretained(self).toOpaque()
        return address.withSockaddr { sockaddr -> OpaquePointer? in
            var options: [MHD_OptionItem] = [
                MHD_OptionItem(option: .SOCK_ADDR, value: 0, ptr_value: UnsafeMutableRawPointer(mutating: sockaddr)),
                // Two-argument options: the function pointer goes in `value`, its closure argument in
                // `ptr_value`. requestCompleted needs the server (it frees each POST's state): with a
                // nil argument it returned early and every POST body buffer leaked (found with ASan).
                MHD_OptionItem(
                    option: .NOTIFY_COMPLETED,
                    value: unsafeBitCast(requestCompleted as MHD_RequestCompletedCallback, to: Int.self), ptr_value: context),
                MHD_OptionItem(
                    option: .UNESCAPE_CALLBACK, value: unsafeBitCast(keepEscapes as UnescapeCallback, to: Int.self),
                    ptr_value: nil),
                MHD_OptionItem(option: .CONNECTION_LIMIT, value: connectionLimit, ptr_value: nil),
                MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: configuration.connectionTimeout, ptr_value: nil),
                MHD_OptionItem(option: .CONNECTION_MEMORY_LIMIT, value: configuration.connectionMemory, ptr_value: nil),
                MHD_OptionItem(
                    option: .NOTIFY_CONNECTION,
                    value: unsafeBitCast(connectionNotified as MHD_NotifyConnectionCallback, to: Int.self), ptr_value: context),
                MHD_OptionItem(option: .LISTEN_BACKLOG_SIZE, value: 1024, ptr_value: nil),
            ]
            if reusePort {
                options.append(MHD_OptionItem(option: .LISTENING_ADDRESS_REUSE, value: 1, ptr_value: nil))
            }
            if configuration.connectionsPerAddress > 0 {
                // Per daemon; the kernel spreads one address's connections over the daemons.
                let threads = max(1, configuration.threads)
                let perDaemon = (configuration.connectionsPerAddress + threads - 1) / threads
                options.append(MHD_OptionItem(option: .PER_IP_CONNECTION_LIMIT, value: perDaemon, ptr_value: nil))
            }
            options.append(MHD_OptionItem(option: .END, value: 0, ptr_value: nil))
            return CMHD_start_daemon(UInt32(flags), address.port, accessHandler, context, options)
        }
    }

    /// How OCSP requests were answered, summed over the threads.
    package struct Statistics: Sendable, Equatable {
        /// Answered from the signature cache by the fast path (a front-cache miss).
        package var storeAnswers = 0
        /// Answered by the responder's full path (decoding, maybe signing).
        package var fullPathAnswers = 0
        package var frontCacheHits = 0
        package var frontCacheInserts = 0
        /// Answers not kept in the front cache: their request was new (the doorkeeper).
        package var frontCacheNotAdmitted = 0
        /// Front-cache entries dropped because the store's change feed named them.
        package var frontCacheInvalidated = 0
        /// Times a thread dropped its whole front cache.
        package var frontCacheCleared = 0
    }

    package var statistics: Statistics {
        counters.withLock { all in
            all.reduce(into: Statistics()) { sum, counters in
                sum.storeAnswers += counters.storeAnswers.load(ordering: .relaxed)
                sum.fullPathAnswers += counters.fullPathAnswers.load(ordering: .relaxed)
                sum.frontCacheHits += counters.frontCacheHits.load(ordering: .relaxed)
                sum.frontCacheInserts += counters.frontCacheInserts.load(ordering: .relaxed)
                sum.frontCacheNotAdmitted += counters.frontCacheNotAdmitted.load(ordering: .relaxed)
                sum.frontCacheInvalidated += counters.frontCacheInvalidated.load(ordering: .relaxed)
                sum.frontCacheCleared += counters.frontCacheCleared.load(ordering: .relaxed)
            }
        }
    }

    /// The answers of every thread so far, and the connections open now.
    package var requestMetrics: RequestMetrics {
        var metrics = RequestMetrics()
        counters.withLock { all in
            for counters in all { counters.requests.read(into: &metrics) }
        }
        metrics.openConnections = openConnections.load(ordering: .relaxed)
        return metrics
    }

    /// Changes the share of requests logged (SIGHUP), from the next request on.
    package func setRequestLogSampleRate(_ share: Double) {
        requestLogShare.store(share.bitPattern, ordering: .relaxed)
    }

    var requestLogSampleRate: Double { Double(bitPattern: requestLogShare.load(ordering: .relaxed)) }

    /// Requests begun and not yet completed, over all threads.
    package var requestsInFlight: Int {
        counters.withLock { all in
            all.reduce(0) { $0 + $1.requestsStarted.load(ordering: .relaxed) - $1.requestsCompleted.load(ordering: .relaxed) }
        }
    }

    /// Stops listening: from now on a connect is refused; connections open are served on (see
    /// ``drain(timeout:)``).
    ///
    /// `MHD_quiesce_daemon` alone only stops libmicrohttpd from accepting. Its listening socket
    /// stays open, so the kernel kept completing connections into a backlog nobody accepted from,
    /// and reset them when the socket was closed after the drain: a client reconnecting during the
    /// drain saw its connect succeed and its request end in `Connection reset by peer`. So each
    /// listening socket is then shut down (`shutdown(2)` on a listening socket stops it listening:
    /// a connect is refused at once), after the connections already in its backlog were accepted
    /// and handed to the daemon to be answered. libmicrohttpd asks that the descriptor be closed
    /// only after the daemon stopped: ``stop()`` closes it.
    package func quiesce() {
        for daemon in daemons {
            let socket = MHD_quiesce_daemon(daemon)
            guard socket >= 0 else { continue }
            adoptBacklog(of: socket, into: daemon)
            shutdown(socket, Int32(SHUT_RDWR))
            quiescedSockets.append(socket)
        }
    }

    /// Accepts the connections waiting in a quiesced listening socket's backlog and hands them to
    /// its daemon (which takes connections from other threads through its ITC). A connect that
    /// completes between the last accept and the `shutdown(2)` that follows is still reset: a
    /// window of two system calls.
    private func adoptBacklog(of listener: Int32, into daemon: OpaquePointer) {
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK)
        var address = sockaddr_storage()
        while true {
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &length) }
            }
            guard client >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // EAGAIN: the backlog is empty
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)  // as libmicrohttpd's own accept4 does
            // On failure (the daemon at its connection limit) libmicrohttpd closes the socket.
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MHD_add_connection(daemon, client, $0, length) }
            }
        }
    }

    /// Stops accepting and closes every connection; idempotent.
    package func stop() {
        watchdog.stop()
        for daemon in daemons {
            MHD_stop_daemon(daemon)
        }
        daemons = []
        // libmicrohttpd leaves a quiesced listening socket to its caller, to close once it stopped.
        for socket in quiescedSockets { close(socket) }
        quiescedSockets = []
    }
}

typealias UnescapeCallback = @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafeMutablePointer<CChar>?) -> Int

/// Leaves the URL as the client sent it: ``GETRequestPath`` does its own percent-decoding.
private let keepEscapes: UnescapeCallback = { _, _, string in
    string.map { strlen($0) } ?? 0
}

/// What the operator endpoints answer, provided by whoever wires the server (the Operations module).
package protocol OperationsEndpoints: Sendable {
    /// The Prometheus text exposition for `/metrics`.
    func metricsExposition() -> [UInt8]
    /// Whether the responder is ready for traffic, and a short JSON body saying why not.
    func readiness() -> (ready: Bool, body: [UInt8])
}
