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

    /// Stops accepting connections (a connect is refused from now on), tells keep-alive clients
    /// to go (`Connection: close` on every answer from now on, so a client's next request goes to
    /// another server), waits until no request is in flight and none has begun for a moment, then
    /// ends the connections still open, idle ones, with a FIN; all within `timeout`.
    package func drain(timeout: Double) async {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(timeout * 1000)))
        // The listeners first: a client told to close before they stopped could reconnect into
        // a backlog, to be reset when the process exits.
        quiesce()
        draining.store(true, ordering: .relaxed)
        guard await waitUntilQuiet(before: deadline) else {
            logger.warning(
                "shutdown deadline reached with requests in flight; closing their connections",
                metadata: ["in_flight": "\(requestsInFlight)", "timeout_s": "\(timeout)"])
            return
        }
        // What is still open has had no request for 100 ms: idle keep-alive connections. Each gets
        // a FIN; its client closes in turn and libmicrohttpd, reading that end, closes the
        // connection. A request the client sent meanwhile is still read (its client sees the end
        // instead of an answer, which HTTP clients retry on), not met with a reset, as closing the
        // socket at once would be (libmicrohttpd's stop does that, to what is left after 1 s).
        guard watchdog.finishAll() > 0 else { return }
        let lingerEnd = min(deadline, clock.now.advanced(by: .seconds(1)))
        while openConnections.load(ordering: .relaxed) > 0 && clock.now < lingerEnd {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Waits until no request is in flight and none has begun for 100 ms; false if `deadline`
    /// came first.
    private func waitUntilQuiet(before deadline: ContinuousClock.Instant) async -> Bool {
        let clock = ContinuousClock()
        var quietSince: ContinuousClock.Instant? = nil
        var lastStarted = requestsStarted
        while clock.now < deadline {
            let started = requestsStarted
            if requestsInFlight <= 0 && started == lastStarted {
                let since = quietSince ?? clock.now
                quietSince = since
                // Bytes a client sent before the listener closed are read within microseconds;
                // 100 ms without a new request means none is coming on the open connections.
                if clock.now - since >= .milliseconds(100) { return true }
            } else {
                quietSince = nil
            }
            lastStarted = started
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Requests begun so far, over all threads.
    var requestsStarted: Int {
        counters.withLock { all in all.reduce(0) { $0 + $1.requestsStarted.load(ordering: .relaxed) } }
    }
}
