import NIOCore
import NIOPosix

/// The connections of one event loop, and what they counted. Created, used and finished on that
/// loop only, so the hot path takes no lock: statistics are merged after the run.
final class LoadWorker {
    let plan: LoadPlan
    let eventLoop: any EventLoop
    let verifier: ResponseVerifier
    /// This loop's counts; see ``LoadStatistics``.
    var statistics = LoadStatistics()
    /// Per-request choices (method, sampling).
    var random: FastRandom
    /// The run is over: no new requests.
    private(set) var stopping = false

    private let connectionIndices: Range<Int>
    private var connections: [LoadConnection] = []
    private var running = 0
    private var ticker: Scheduled<Void>? = nil
    private var stopTask: Scheduled<Void>? = nil
    private var forceTask: Scheduled<Void>? = nil
    private let done: EventLoopPromise<LoadStatistics>

    /// How often in-flight requests are checked against the timeout.
    static let tick = TimeAmount.milliseconds(100)

    /// - Parameters:
    ///   - connectionIndices: This worker's share of the connections.
    ///   - done: Completed with the statistics once every connection has closed.
    init(
        plan: LoadPlan, eventLoop: any EventLoop, verifier: ResponseVerifier, connectionIndices: Range<Int>,
        done: EventLoopPromise<LoadStatistics>
    ) {
        self.plan = plan
        self.eventLoop = eventLoop
        self.verifier = verifier
        self.connectionIndices = connectionIndices
        self.done = done
        random = FastRandom(
            seed: UInt64(connectionIndices.lowerBound + 1) &* 0x9E37_79B9_7F4A_7C15 ^ MonotonicClock.now())
    }

    /// Opens the connections and arms the end of the run. Call on ``eventLoop``.
    func start() {
        eventLoop.preconditionInEventLoop()
        let now = MonotonicClock.now()
        for index in connectionIndices {
            // --requests-total is split evenly; the first connections take the remainder.
            let quota = plan.requestsTotal.map { total in
                total / plan.connections + (index < total % plan.connections ? 1 : 0)
            }
            connections.append(LoadConnection(worker: self, index: index, quota: quota, openLoopStart: now))
        }
        running = connections.count
        guard running > 0 else { return finish() }
        let isolated = eventLoop.assumeIsolated()
        stopTask = isolated.scheduleTask(in: .nanoseconds(Int64(plan.deadline &- min(now, plan.deadline)))) {
            [self] in stop()
        }
        scheduleTick()
        for connection in connections { connection.connect() }
    }

    /// Opens a TCP connection for `connection`; its handler reports back when it is up.
    func connect(_ connection: LoadConnection) {
        let bound = NIOLoopBound(connection, eventLoop: eventLoop)
        let connectTimeout = TimeAmount.nanoseconds(Int64(min(plan.timeout, 10_000_000_000)))
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LoadConnectionHandler(connection: bound.value))
                }
            }
            .connect(host: plan.target.host, port: plan.target.port)
            .assumeIsolated()
            .whenFailure { error in connection.connectFailed(error) }
    }

    /// Counts one response and (for a sample) queues it for checking.
    @inline(__always)
    func record(_ response: HTTPResponseSummary, latency: UInt64, measured: Bool, request: Int, at now: UInt64) {
        var ok = false
        if response.status != 200 {
            statistics.error("http-\(response.status)", "\(plan.requests[request].label): HTTP \(response.status)")
        } else if let status = response.ocspStatus {
            if status == 0 {
                ok = true
            } else {
                let name = OCSPStatusName.name(status)
                statistics.error("ocsp-\(name)", "\(plan.requests[request].label): OCSP responseStatus \(name)")
            }
        } else {
            statistics.error("not-ocsp", "\(plan.requests[request].label): the body is not a DER OCSPResponse")
        }
        if measured {
            statistics.completed += 1
            if ok { statistics.successes += 1 }
            _ = statistics.histogram.record(latency)
            statistics.lastCompletion = now
        } else {
            statistics.warmupResponses += 1
        }
        // Only answers that look right are worth the full check; the others are errors already.
        if ok, let body = response.body { verifier.submit(body, request: request) }
    }

    /// A connection has closed for good.
    func connectionDone() {
        running -= 1
        if running == 0 { finish() }
    }

    /// Ends the run: idle connections close now, busy ones after their answer or the timeout.
    private func stop() {
        guard !stopping else { return }
        stopping = true
        let now = MonotonicClock.now()
        forceTask = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(plan.timeout))) { [self] in
            for connection in connections { connection.forceStop() }
        }
        for connection in connections { connection.stop(at: now) }
    }

    private func scheduleTick() {
        ticker = eventLoop.assumeIsolated().scheduleTask(in: Self.tick) { [self] in
            let now = MonotonicClock.now()
            for connection in connections { connection.checkTimeout(at: now) }
            if running > 0 { scheduleTick() }
        }
    }

    private func finish() {
        ticker?.cancel()
        stopTask?.cancel()
        forceTask?.cancel()
        stopping = true
        connections.removeAll()  // they reference this worker
        done.succeed(statistics)
    }
}
