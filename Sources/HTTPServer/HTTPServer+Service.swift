internal import CMicroHTTPD
internal import ServiceLifecycle
internal import Synchronization

extension HTTPServer: Service {
    /// Serves (the server was started, and bound, before the service group ran) until graceful
    /// shutdown (SIGTERM), then drains: stops accepting, answers what is in flight, and closes.
    package func run() async throws {
        try? await gracefulShutdown()
        await drain(timeout: configuration.shutdownTimeout)
        stop()
    }

    /// Stops accepting connections, tells keep-alive clients to go (`Connection: close` on every
    /// answer from now on, so a client's next request goes to another server), and waits until
    /// no request is in flight and none has begun for a moment, or `timeout` has passed.
    package func drain(timeout: Double) async {
        quiesce()
        draining.store(true, ordering: .relaxed)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(timeout * 1000)))
        var quietSince: ContinuousClock.Instant? = nil
        var lastStarted = requestsStarted
        while clock.now < deadline {
            let started = requestsStarted
            if requestsInFlight <= 0 && started == lastStarted {
                let since = quietSince ?? clock.now
                quietSince = since
                // Bytes a client sent before the listener closed are read within microseconds;
                // 100 ms without a new request means none is coming on the open connections.
                if clock.now - since >= .milliseconds(100) { return }
            } else {
                quietSince = nil
            }
            lastStarted = started
            try? await Task.sleep(for: .milliseconds(10))
        }
        logger.warning(
            "shutdown deadline reached with requests in flight; closing their connections",
            metadata: ["in_flight": "\(requestsInFlight)", "timeout_s": "\(timeout)"])
    }

    /// Requests begun so far, over all threads.
    var requestsStarted: Int {
        counters.withLock { all in all.reduce(0) { $0 + $1.requestsStarted.load(ordering: .relaxed) } }
    }
}
