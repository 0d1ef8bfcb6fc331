import NIOCore

/// One of the `--connections` logical connections: its place in the request cycle, its open-loop
/// schedule and its share of `--requests-total`, kept across reconnects. Lives on its worker's
/// event loop and is only touched there.
final class LoadConnection {
    private enum Phase {
        case idle
        case connecting
        case connected(LoadConnectionHandler)
        case waitingToReconnect(Scheduled<Void>)
        case done
    }

    let worker: LoadWorker
    /// Position over all connections (spreads start offsets and open-loop phases).
    let index: Int
    private var phase = Phase.idle
    /// No more requests: close when idle, then report done.
    private var finished = false
    /// Next request to send (an index into the plan's requests).
    private var cursor: Int
    /// With `--requests-total`: measured requests this connection may still send.
    private var quota: Int?
    /// Open loop: nanoseconds between intended sends, and the next intended send.
    private let interval: UInt64
    private var nextIntended: UInt64
    private var timer: Scheduled<Void>? = nil

    /// The request on the wire, if any.
    private var inFlight = false
    private var sentAt: UInt64 = 0
    private var intendedAt: UInt64 = 0
    private var inFlightRequest = 0

    init(worker: LoadWorker, index: Int, quota: Int?, openLoopStart: UInt64) {
        self.worker = worker
        self.index = index
        let plan = worker.plan
        cursor = (index * max(1, plan.requests.count / max(1, plan.connections))) % plan.requests.count
        self.quota = quota
        interval = plan.interval
        // Spread the connections' first intended sends over one interval.
        nextIntended = openLoopStart + (interval == 0 ? 0 : interval * UInt64(index) / UInt64(plan.connections))
    }

    // MARK: - Connection lifecycle

    /// Opens the TCP connection (again).
    func connect() {
        phase = .connecting
        worker.connect(self)
    }

    /// The TCP connection is up.
    func connected(_ handler: LoadConnectionHandler) {
        phase = .connected(handler)
        worker.statistics.connects += 1
        sendNext(at: MonotonicClock.now())
    }

    /// Connecting failed: count it, try again shortly (unless the run is over).
    func connectFailed(_ error: any Error) {
        worker.statistics.error(
            ConnectionErrorKind.connect(error), "\(worker.plan.target.host):\(worker.plan.target.port): \(error)")
        guard !finished, !worker.stopping else { return markDone() }
        let retry = worker.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { [self] in
            if case .waitingToReconnect = phase { connect() }
        }
        phase = .waitingToReconnect(retry)
    }

    /// The channel closed (`byUs`: because this side closed it).
    func closed(byUs: Bool) {
        guard case .connected = phase else { return }  // a failed connect reports through connectFailed
        timer?.cancel()
        timer = nil
        if inFlight {
            inFlight = false
            if !byUs { worker.statistics.error("closed", "the server closed the connection before answering") }
        }
        phase = .idle
        if finished || worker.stopping { return markDone() }
        connect()
    }

    /// A protocol or I/O error on the channel (which the handler closes next).
    func failed(_ kind: String, _ message: String) {
        worker.statistics.error(kind, message)
        inFlight = false
    }

    // MARK: - Requests

    /// Sends the next request now, or schedules it (open loop), or winds down.
    func sendNext(at now: UInt64) {
        guard case .connected(let handler) = phase, !inFlight else { return }
        if finished || worker.stopping { return handler.close() }
        let plan = worker.plan
        var intended = now
        if interval > 0 {
            if nextIntended > now {
                if timer == nil {
                    timer = worker.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(nextIntended - now)))
                    {
                        [self] in
                        timer = nil
                        sendNext(at: MonotonicClock.now())
                    }
                }
                return
            }
            intended = nextIntended
            nextIntended += interval
        }
        if intended >= plan.deadline {
            finished = true
            return handler.close()
        }
        if intended >= plan.measureStart, let remaining = quota {
            if remaining == 0 {
                finished = true
                return handler.close()
            }
            quota = remaining - 1
        }
        if plan.picker.order == .cycle {
            inFlightRequest = cursor
            cursor += 1
            if cursor == plan.requests.count { cursor = 0 }
        } else {
            inFlightRequest = plan.picker.next(&worker.random)
        }
        let request = plan.requests[inFlightRequest]
        let post: Bool
        switch plan.method {
        case .get: post = false
        case .post: post = true
        case .mix: post = worker.random.chance(plan.postFraction)
        }
        let sampled = worker.random.chance(plan.verifySample)
        inFlight = true
        sentAt = now
        intendedAt = intended
        handler.send(post ? request.post : request.get, collectBody: sampled)
    }

    /// A complete response arrived.
    func received(_ response: HTTPResponseSummary, at now: UInt64) {
        guard inFlight else {
            worker.statistics.error("http-parse", "a response nobody asked for")
            return
        }
        inFlight = false
        worker.record(
            response, latency: now &- intendedAt, measured: intendedAt >= worker.plan.measureStart,
            request: inFlightRequest, at: now)
        if !response.keepAlive, case .connected(let handler) = phase {
            return handler.close()  // `closed` reconnects
        }
        sendNext(at: now)
    }

    /// Fails a request that has waited longer than the timeout; the connection is replaced.
    func checkTimeout(at now: UInt64) {
        guard inFlight, now &- sentAt > worker.plan.timeout, case .connected(let handler) = phase else { return }
        inFlight = false
        worker.statistics.error("timeout", "no answer within \(Double(worker.plan.timeout) / 1e9) s")
        handler.close()
    }

    /// The run is over: close when idle (an in-flight request may still finish), give up waits.
    func stop(at now: UInt64) {
        if interval > 0, nextIntended < worker.plan.deadline, !finished {
            worker.statistics.unsent += Int((worker.plan.deadline - nextIntended - 1) / interval + 1)
            nextIntended = worker.plan.deadline
        }
        finished = true
        timer?.cancel()
        timer = nil
        switch phase {
        case .connected(let handler): if !inFlight { handler.close() }
        case .waitingToReconnect(let retry):
            retry.cancel()
            markDone()
        case .idle: markDone()
        case .connecting, .done: break
        }
    }

    /// Past the grace period: abandon whatever is in flight (as a timeout) and close.
    func forceStop() {
        guard case .connected(let handler) = phase else { return }
        if inFlight {
            inFlight = false
            worker.statistics.error("timeout", "still unanswered when the run ended")
        }
        handler.close()
    }

    private func markDone() {
        if case .done = phase { return }
        phase = .done
        worker.connectionDone()
    }
}
