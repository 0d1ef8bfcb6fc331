public import Foundation
public import Logging
public import OCSPCore
public import Fetching
internal import OCSPValues
internal import Locking

/// Keeps many certificates' staples current: the daemon behind `ocsp-stapler`.
///
/// Each target is refreshed at once when the service starts (a restart must not leave a server
/// without staples: the last good staple is still in its file, and a fresh one follows), then on
/// the ``RefreshPolicy``'s schedule. After each refresh the service delivers the staple to the
/// target's outputs (``StapleOutput``: HAProxy's runtime API, Envoy's SDS file, the reload
/// command), as each one's ``StapleOutput/trigger`` says. At most ``Options/concurrency``
/// fetches run at once. What each target looks like is in ``states()`` (for metrics).
public final class StaplingService: Sendable {
    public struct Options: Sendable {
        public var fetcher: StapleFetcher.Options
        public var policy: RefreshPolicy
        /// How many fetches may run at once.
        public var concurrency: Int
        /// How often watched directories are scanned for added or removed certificates.
        public var rescanInterval: Duration

        public init(
            fetcher: StapleFetcher.Options = StapleFetcher.Options(), policy: RefreshPolicy = RefreshPolicy(),
            concurrency: Int = 32, rescanInterval: Duration = .seconds(30)
        ) {
            self.fetcher = fetcher
            self.policy = policy
            self.concurrency = concurrency
            self.rescanInterval = rescanInterval
        }
    }

    /// What one target looks like now.
    public struct TargetState: Sendable {
        public let target: StapleTarget
        /// The last refresh's result; nil before the first one finished.
        public var lastStatus: Stapler.Outcome.Status?
        /// Why the last refresh failed, or why an output was not given the staple.
        public var lastError: String?
        /// What the staple file holds (nil when nothing valid).
        public var staple: OCSPResponseVerifier.Verified?
        public var lastAttempt: Date?
        public var lastSuccess: Date?
        /// Refreshes that failed (unreachable responder, an answer that did not verify, an
        /// unreadable certificate), since the service started.
        public var fetchFailures = 0
        public var consecutiveFailures = 0
        /// Staples handed to the target's outputs, and attempts that failed, by
        /// ``StapleOutput/name`` (outputs with the ``StapleOutputTrigger/untilDelivered`` trigger).
        public var deliveries: [String: Int] = [:]
        public var deliveryFailures: [String: Int] = [:]
        public var nextAttempt: Date?
        public var mustStaple = false

        init(target: StapleTarget) { self.target = target }
    }

    /// What one `refreshAll` did for one target.
    public struct Report: Sendable {
        public let target: StapleTarget
        public let outcome: Stapler.Outcome
        /// Whether the certificate asks for must-staple (TLS Feature status_request).
        public let mustStaple: Bool
    }

    public let options: Options
    private let logger: Logger
    /// Every target's outputs, after its own (the reload command).
    private let outputs: [any StapleOutput]
    private let http: any HTTPFetching
    private let clock: StaplerClock
    private let permits: Permits
    private let statesByName = LockedValue<[String: TargetState]>([:])
    /// The certificate files read, kept while they do not change.
    public let files = CertificateFiles()
    /// The loop of each target being kept (``run(targets:watching:)``).
    private let running = LockedValue<[StapleTarget: Task<Void, Never>]>([:])

    /// - Parameters:
    ///   - options: how staples are fetched and refreshed, how many at once, how often the
    ///     watched directories are scanned.
    ///   - outputs: outputs of every target, after each one's own (``ReloadHook``).
    ///   - fetcher: how requests reach the responders (libcurl; tests give a scripted one).
    ///   - clock: what the refresh loops sleep on (tests give a manual one). Staples' windows are
    ///     wall-clock dates, read from `Date()`.
    ///   - logger: where refreshes, failures and deliveries are logged.
    public init(
        options: Options, outputs: [any StapleOutput] = [], fetcher: any HTTPFetching = CurlFetcher.shared,
        clock: any Clock<Duration> = ContinuousClock(), logger: Logger
    ) {
        self.options = options
        self.outputs = outputs
        self.http = fetcher
        self.clock = StaplerClock(clock)
        self.logger = logger
        self.permits = Permits(max(1, options.concurrency))
    }

    /// Every target's state, by name.
    public func states() -> [String: TargetState] { statesByName.withLock { $0 } }

    // MARK: - Once

    /// Refreshes every target once (``Options/concurrency`` at a time), delivers the staples to
    /// the outputs that take them until delivered (HAProxy, Envoy), and returns what happened, in
    /// the order given. Outputs told of changes only (the reload command) are not: a one-shot
    /// caller runs its command itself if a staple ``Stapler/Outcome/changed``.
    public func refreshAll(_ targets: [StapleTarget]) async -> [Report] {
        statesByName.withLock { states in
            for target in targets where states[target.name] == nil { states[target.name] = TargetState(target: target) }
        }
        return await withTaskGroup(of: (Int, Report).self) { group in
            for (index, target) in targets.enumerated() {
                group.addTask {
                    let refreshed = await self.permits.withPermit { await self.refresh(target, owed: nil) }
                    return (index, Report(target: target, outcome: refreshed.outcome, mustStaple: refreshed.mustStaple))
                }
            }
            var reports = [Report?](repeating: nil, count: targets.count)
            for await (index, report) in group { reports[index] = report }
            return reports.map { $0! }
        }
    }

    // MARK: - Daemon

    /// Keeps the targets, and those of the watched directories, current until the task is cancelled.
    public func run(targets: [StapleTarget], watching directories: [WatchedDirectory]) async {
        while !Task.isCancelled {
            var wanted = Set(targets)
            for directory in directories {
                do {
                    wanted.formUnion(try directory.targets(from: files))
                } catch {
                    logger.error("cannot scan a watched directory", metadata: ["directory": "\(directory.path)", "error": "\(error)"])
                    // Keep what was found there before: a passing error must not drop staples.
                    wanted.formUnion(
                        running.withLock { Array($0.keys) }.filter {
                            ($0.certificatePath as NSString).deletingLastPathComponent == directory.path
                        })
                }
            }
            files.keep(only: Set(wanted.flatMap(\.certificateFiles)))
            running.withLock { running in
                for (target, task) in running where !wanted.contains(target) {
                    task.cancel()
                    running[target] = nil
                    _ = statesByName.withLock { $0.removeValue(forKey: target.name) }
                    logger.info("certificate no longer watched", metadata: ["certificate": "\(target.name)"])
                }
                for target in wanted.sorted(by: { $0.name < $1.name }) where running[target] == nil {
                    statesByName.withLock { $0[target.name] = TargetState(target: target) }
                    running[target] = Task { await self.maintain(target) }
                }
            }
            let interval = directories.isEmpty ? Duration.seconds(3600) : options.rescanInterval
            try? await clock.sleep(for: interval)
        }
        for output in outputs { await output.stop() }
        let tasks = running.withLock { running in
            defer { running = [:] }
            return Array(running.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Refreshes every staple now, whatever its schedule (SIGHUP in `ocsp-stapler`: after a
    /// revocation, say), and delivers each to its outputs again (those told of changes only, if
    /// it changed).
    public func refreshNow() {
        logger.info("refreshing every staple now")
        running.withLock { running in
            for (target, task) in running {
                task.cancel()
                running[target] = Task { await self.maintain(target) }
            }
        }
    }

    /// One target's loop: refresh, then sleep until the policy says.
    private func maintain(_ target: StapleTarget) async {
        var failures = 0
        // The outputs that may not hold the staple in place: at start, all of them.
        var owed: Set<Int>? = nil
        while !Task.isCancelled {
            let owing = owed
            let (facts, current, stillOwed) = await permits.withPermit {
                let refreshed = await self.refresh(target, owed: owing)
                return (Facts(refreshed.outcome), refreshed.current, refreshed.owed)
            }
            // A staple written is reloaded even if this loop was restarted meanwhile (SIGHUP): the
            // new loop finds the same bytes and would not ask again.
            if facts.changed { await notify(target, of: current) }
            if Task.isCancelled { return }
            owed = stillOwed
            let outputsHaveCurrent = stillOwed.isEmpty

            let now = Date()
            let delay: TimeInterval
            if facts.answered, outputsHaveCurrent, let thisUpdate = facts.thisUpdate, let nextUpdate = facts.nextUpdate {
                failures = 0
                delay = options.policy.nextRefresh(
                    thisUpdate: thisUpdate, nextUpdate: nextUpdate, now: now, jitter: Double.random(in: -1...1)
                ).timeIntervalSince(now)
            } else {
                failures += 1
                delay = options.policy.retryDelay(
                    failures: failures, validUntil: facts.validUntil, now: now, jitter: Double.random(in: -1...1))
            }
            statesByName.withLock { $0[target.name]?.nextAttempt = now.addingTimeInterval(delay) }
            logger.debug(
                "next refresh", metadata: ["certificate": "\(target.name)", "in_seconds": "\(Int(delay.rounded(.up)))"])
            try? await clock.sleep(for: .milliseconds(Int64(max(delay, 0.05) * 1000)))
        }
    }

    /// The target's outputs, then every target's.
    private func outputs(of target: StapleTarget) -> [any StapleOutput] { target.outputs + outputs }

    /// Tells the outputs that take changes only (the reload command) that the staple changed.
    private func notify(_ target: StapleTarget, of current: DeliveredStaple?) async {
        for output in outputs(of: target) where output.trigger == .onChange {
            // Their failures are theirs to report (the reload command logs and counts its runs).
            if let current {
                try? await output.deliver(current, for: target)
            } else {
                try? await output.withdraw(for: target)
            }
        }
    }

    /// What one refresh did: the outcome, and which outputs may still lack the staple in place.
    private struct Refreshed: Sendable {
        let outcome: Stapler.Outcome
        let mustStaple: Bool
        /// The staple in place (nil: none valid).
        let current: DeliveredStaple?
        /// Indices in ``outputs(of:)`` of the outputs that take staples until delivered and may
        /// not hold the one in place: the next refresh delivers to them even if nothing changed.
        let owed: Set<Int>
    }

    /// Refreshes one target, delivers to its outputs, records its state, and logs what happened.
    /// - Parameter owed: the outputs that may not hold the staple in the file (nil: all of them,
    ///   at start), so that the next success hands it over even if unchanged.
    private func refresh(_ target: StapleTarget, owed: Set<Int>?) async -> Refreshed {
        let started = Date()
        var fetcherOptions = options.fetcher
        if let url = target.responderURL { fetcherOptions.responderURL = url }
        let file = StapleFile(path: target.outputPath)
        let outcome: Stapler.Outcome
        var mustStaple = false
        var metadata: Logger.Metadata = ["certificate": "\(target.name)", "out": "\(target.outputPath)"]
        let outputs = outputs(of: target)
        let delivering = outputs.indices.filter { outputs[$0].trigger == .untilDelivered }
        do {
            let (leaf, issuer) = try target.loadCertificates(from: files)
            mustStaple = leaf.isMustStaple
            metadata["serial"] = "\(leaf.serialNumber.hex)"
            let fetcher = StapleFetcher(options: fetcherOptions, fetcher: http)
            outcome = await Stapler(fetcher: fetcher).refresh(leaf: leaf, issuer: issuer, file: file)
        } catch {
            outcome = .failed(error as? StaplingError ?? StaplingError(.certificate, "\(error)"))
        }
        // Stopped or restarted meanwhile (shutdown, SIGHUP): a fetch cut short is not a failure.
        if Task.isCancelled, outcome.status == .failed {
            return Refreshed(outcome: outcome, mustStaple: mustStaple, current: nil, owed: owed ?? Set(delivering))
        }

        // Every output after a change; else those that may lack the staple in place.
        var stillOwed = outcome.changed ? Set(delivering) : owed ?? Set(delivering)
        var delivered: [String] = []
        var failed: [(output: any StapleOutput, error: String)] = []
        let current = outcome.file.flatMap { verified in file.read().map { DeliveredStaple(der: $0, verified: verified) } }
        for index in delivering where stillOwed.contains(index) {
            let output = outputs[index]
            do {
                if let current {
                    try await output.deliver(current, for: target)
                    delivered.append(output.name)
                    stillOwed.remove(index)
                } else {
                    // Nothing valid to hand over: the output stays owed the next staple.
                    try await output.withdraw(for: target)
                }
            } catch {
                failed.append((output, "\(error)"))
            }
        }
        // After a failed refresh, the next success hands the staple over again, changed or not.
        if outcome.status == .failed { stillOwed = Set(delivering) }

        statesByName.withLock { states in
            // A target dropped meanwhile (its file left a watched directory) stays dropped.
            guard var state = states[target.name] else { return }
            state.lastStatus = outcome.status
            state.staple = outcome.file
            state.lastAttempt = started
            state.mustStaple = mustStaple
            state.lastError = outcome.error.map { "\($0)" } ?? failed.first?.error
            if outcome.status == .failed {
                state.fetchFailures += 1
                state.consecutiveFailures += 1
            } else {
                state.consecutiveFailures = 0
                state.lastSuccess = started
            }
            for name in delivered { state.deliveries[name, default: 0] += 1 }
            for (output, _) in failed { state.deliveryFailures[output.name, default: 0] += 1 }
            states[target.name] = state
        }
        log(outcome, mustStaple: mustStaple, delivered: delivered, failed: failed, metadata: &metadata)
        return Refreshed(outcome: outcome, mustStaple: mustStaple, current: current, owed: stillOwed)
    }

    private func log(
        _ outcome: Stapler.Outcome, mustStaple: Bool, delivered: [String], failed: [(output: any StapleOutput, error: String)],
        metadata: inout Logger.Metadata
    ) {
        metadata["ocsp_status"] = "\(outcome.status.rawValue)"
        if let staple = outcome.file {
            metadata["this_update"] = "\(staple.thisUpdate)"
            metadata["next_update"] = "\(staple.nextUpdate)"
        }
        for name in delivered { metadata["\(name)_updated"] = "true" }
        if outcome.removedStale { metadata["removed_stale"] = "true" }
        switch outcome.status {
        case .good:
            if outcome.changed {
                logger.info("staple written", metadata: metadata)
            } else {
                logger.debug("staple unchanged", metadata: metadata)
            }
        case .revoked:
            logger.error("the certificate is REVOKED; the staple says so", metadata: metadata)
        case .unknown:
            logger.error(
                "the responder does not know the certificate; nothing written, the last good staple is kept",
                metadata: metadata)
        case .failed:
            metadata["error"] = "\(outcome.error.map { "\($0)" } ?? "unknown")"
            logger.error(
                outcome.fileIsValid ? "no new staple; the last valid one is kept" : "no new staple, and none valid in place",
                metadata: metadata)
        }
        if outcome.removedStale {
            logger.critical("removed a staple that no longer verifies (expired): the server has none now", metadata: metadata)
        }
        for (output, error) in failed {
            metadata["error"] = "\(error)"
            logger.error("\(output.recipient) was not given the staple", metadata: metadata)
        }
        if mustStaple, !outcome.fileIsValid {
            logger.critical(
                "must-staple certificate without a valid staple: clients that enforce it will refuse it", metadata: metadata)
        }
    }
}

/// What a target's loop needs of a refresh's outcome, as plain values. (Swift 6.3's release
/// build crashed, an ownership verifier error in CopyPropagation, when the loop kept the
/// `Stapler.Outcome` itself across its awaits.)
private struct Facts: Sendable {
    /// A good or revoked answer was fetched.
    let answered: Bool
    let changed: Bool
    /// The nextUpdate of what the file holds.
    let validUntil: Date?
    /// The fetched answer's window.
    let thisUpdate: Date?
    let nextUpdate: Date?

    init(_ outcome: Stapler.Outcome) {
        answered = outcome.status == .good || outcome.status == .revoked
        changed = outcome.changed
        validUntil = outcome.file?.nextUpdate
        thisUpdate = outcome.staple?.verified.thisUpdate
        nextUpdate = outcome.staple?.verified.nextUpdate
    }
}

/// A counting semaphore for async tasks: at most `count` bodies run at once; the others wait, in order.
actor Permits {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// The first waiter not resumed yet (a queue without the cost of removing from the front).
    private var head = 0

    init(_ count: Int) { available = count }

    func withPermit<Result: Sendable>(_ body: @Sendable () async -> Result) async -> Result {
        await acquire()
        let result = await body()
        release()
        return result
    }

    private func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if head == waiters.count {
            available += 1
        } else {
            waiters[head].resume()
            head += 1
            if head == waiters.count {
                waiters.removeAll(keepingCapacity: true)
                head = 0
            }
        }
    }
}
