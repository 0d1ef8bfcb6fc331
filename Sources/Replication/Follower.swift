package import Foundation
internal import Locking
package import Logging
package import OCSPValues
package import RevocationStore
internal import ServiceLifecycle
internal import Synchronization

/// `ocspd --follow`: keeps the local store a replica of the system of record. It applies the
/// database's log in order into the store (``RevocationStore/apply(_:)``: the same change, the
/// same record, so the chain and head are the database's), which drops the cached responses of
/// every certificate a record changes and tells the request path's caches; then it hands the
/// changed certificates to `changed` (ocspd signs them again with this host's own key, and
/// purges them from an HTTP cache in front).
///
/// It catches up at start (from the store's head; a new, empty store gets the whole log), then
/// waits for `NOTIFY ocsp_audit` (latency) or ``Configuration/pollInterval`` (the safety net,
/// when a notification is lost), whichever comes first. When the database is unreachable it
/// keeps the store as it is (ocspd answers from it), logs it once, and reconnects with backoff
/// (libpq's multi-host strings find the new primary after a failover); it resumes from the
/// store's head.
///
/// A link that goes silent (a proxy or firewall that stops forwarding without closing) is
/// noticed three ways: every database call has a deadline (``Configuration/timeout``), the
/// notification connection is probed when it has been quiet that long, and the sockets have TCP
/// keepalives and `tcp_user_timeout`. Cancellation (SIGTERM) ends any wait within 100 ms.
package final class Follower: Service, Sendable {
    package struct Configuration: Sendable {
        package var location: DatabaseLocation
        /// How often the log is read without a notification.
        package var pollInterval: TimeInterval = 1
        /// `/readyz` fails while a committed record older than this is not applied.
        package var maxLag: TimeInterval = 10
        /// Records applied per store transaction.
        package var batchSize = 1000
        /// The deadline of every database call, and how long the notification connection may be
        /// quiet before it is probed.
        package var timeout: TimeInterval = 10

        package init(location: DatabaseLocation) { self.location = location }
    }

    /// What `/readyz` and `/metrics` show.
    package struct Status: Sendable {
        /// Whether the follower is connected to the database now.
        package var connected = false
        /// The last record applied (the store's head).
        package var appliedSequence: UInt64 = 0
        /// The database's head when last read.
        package var databaseSequence: UInt64 = 0
        /// How long the oldest committed record not yet applied has waited (0 when caught up),
        /// as of the last read of the database.
        package var lagSeconds: TimeInterval = 0
        /// When the follower last saw itself caught up with the database (nil: not since start).
        package var caughtUpAt: Date?
        /// Why it stopped following, when it did (a store whose log is not the database's).
        package var fault: String?
        /// Records applied since start.
        package var applied = 0
    }

    /// Called with the certificates a catch-up changed (issuer, serial), once they are applied.
    package typealias Changed = @Sendable ([(IssuerID, SerialNumber)]) async -> Void

    package let configuration: Configuration
    private let store: RevocationStore
    private let logger: Logger
    private let changed: Changed
    private let state = LockedValue(Status())
    private let wake = Wakeup()

    package init(store: RevocationStore, configuration: Configuration, logger: Logger, changed: @escaping Changed) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.changed = changed
        let head = try? store.auditHead()
        startedWithData = (head?.sequence ?? 0) > 0
        if let head { state.withLock { $0.appliedSequence = head.sequence } }
    }

    /// Whether the store held a log when ocspd started (a restart, not a new follower).
    private let startedWithData: Bool
    private let startedAt = Date()

    package var status: Status { state.withLock { $0 } }

    /// Why ocspd is not ready because of the follower, or nil.
    package func readinessProblem(now: Date = Date()) -> String? {
        let status = self.status
        if let fault = status.fault { return "follower stopped: \(fault)" }
        // Until its first catch-up a follower is not ready: a new one (an empty store) at all; a
        // restarted one for at most max-lag, after which it serves its store (a database outage
        // must not drain every follower that restarts during it).
        if status.caughtUpAt == nil && (!startedWithData || now.timeIntervalSince(startedAt) < configuration.maxLag) {
            return status.connected
                ? "follower catching up with \(configuration.location) (\(status.appliedSequence) of \(status.databaseSequence))"
                : "follower has not reached \(configuration.location) since it started"
        }
        if status.lagSeconds > configuration.maxLag {
            return "follower lags \(Int(status.lagSeconds)) s behind \(configuration.location) (bound \(Int(configuration.maxLag)) s)"
        }
        return nil
    }

    package func run() async throws {
        var backoff = Backoff()
        var lastError: String?
        while !(Task.isCancelled || Task.isShuttingDownGracefully) {
            var reached = false
            do {
                try await cancelWhenGracefulShutdown { try await self.follow() }
            } catch {
                if (Task.isCancelled || Task.isShuttingDownGracefully) { break }
                let message = (error as? ReplicationError)?.message ?? "\(error)"
                reached = state.withLock { state in
                    defer { state.connected = false }
                    return state.connected
                }
                if reached || message != lastError {
                    logger.error("follower lost the database; answering from the local store meanwhile", metadata: ["error": "\(message)"])
                    lastError = message
                }
                if state.withLock({ $0.fault }) != nil { break }
            }
            try? await Task.sleep(for: backoff.next(afterConnecting: reached))
        }
        // Stopped by a fault: ocspd goes on answering from the store (and /readyz says why) until
        // it is told to stop; a service that returned would stop the whole process.
        try? await gracefulShutdown()
    }

    /// Follows until a connection fails.
    private func follow() async throws {
        let timeout = Duration.milliseconds(Int(configuration.timeout * 1000))
        let database = try await RecordDatabase.connect(configuration.location, timeout: .seconds(5), callTimeout: timeout, logger: logger)
        let listener: RecordDatabase
        do {
            listener = try await RecordDatabase.connect(configuration.location, timeout: .seconds(5), callTimeout: timeout, logger: logger)
        } catch {
            await database.close()
            throw error
        }
        defer {
            Task {
                await database.close()
                await listener.close()
            }
        }
        state.withLock { $0.connected = true }
        logger.notice(
            "following \(configuration.location)",
            metadata: ["applied": "\(state.withLock { $0.appliedSequence })", "server": "\(database.server)"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await listener.listen(probeAfter: timeout) { self.wake.signal() }
            }
            group.addTask {
                while !Task.isCancelled {
                    try await self.catchUp(database)
                    await self.wake.wait(timeout: self.configuration.pollInterval)
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Applies every record the database has that the store has not; then hands what changed to
    /// ``changed`` (also when a later batch failed: what was applied was applied).
    private func catchUp(_ database: RecordDatabase) async throws {
        var changedCertificates: [(IssuerID, SerialNumber)] = []
        do {
            try await applyAll(database, changed: &changedCertificates)
        } catch {
            if !changedCertificates.isEmpty { await changed(changedCertificates) }
            throw error
        }
        if !changedCertificates.isEmpty { await changed(changedCertificates) }
    }

    /// One round trip a batch: the head and the records after the store's, read together (one
    /// snapshot); caught up when the batch ends at that head.
    private func applyAll(_ database: RecordDatabase, changed: inout [(IssuerID, SerialNumber)]) async throws {
        while true {
            let local = try store.auditHead()
            let (head, batch) = try await database.headAndRecords(after: local.sequence, limit: configuration.batchSize)
            if !Self.mayFollow(local, head) {
                let fault = "the local store's log (head \(local)) is not a prefix of the database's (head \(head)): it was written to locally; rebuild it from the database"
                state.withLock { $0.fault = fault }
                logger.critical("follower stopped", metadata: ["error": "\(fault)"])
                throw ReplicationError(.diverged, fault)
            }
            guard local.sequence < head.sequence else {
                markCaughtUp(head: head, applied: local)
                return
            }
            guard let first = batch.first else { return }
            state.withLock {
                $0.databaseSequence = head.sequence
                $0.lagSeconds = Self.lag(oldestUnapplied: first.committed, now: Date())
            }
            let applied: AuditHead
            do {
                applied = try store.apply(batch.map(\.encoded))
            } catch let error as StoreError {
                let fault = "cannot apply record \(first.sequence)…: \(error.message)"
                state.withLock { $0.fault = fault }
                logger.critical("follower stopped", metadata: ["error": "\(fault)"])
                throw ReplicationError(.diverged, fault)
            }
            state.withLock {
                $0.appliedSequence = applied.sequence
                $0.applied += batch.count
            }
            changed += Self.changedCertificates(batch.map(\.encoded))
            if applied.sequence >= head.sequence {
                markCaughtUp(head: head, applied: applied)
                return
            }
        }
    }

    private func markCaughtUp(head: AuditHead, applied: AuditHead) {
        state.withLock {
            $0.databaseSequence = head.sequence
            $0.appliedSequence = applied.sequence
            $0.lagSeconds = 0
            $0.caughtUpAt = Date()
        }
    }

    /// How long the oldest committed record not applied yet has waited (0 for a clock behind the
    /// database's).
    static func lag(oldestUnapplied committed: Date, now: Date) -> TimeInterval {
        max(0, now.timeIntervalSince(committed))
    }

    /// The certificates the records change (issuer, serial), each once.
    static func changedCertificates(_ records: [[UInt8]]) -> [(IssuerID, SerialNumber)] {
        var seen = Set<[UInt8]>()
        var out: [(IssuerID, SerialNumber)] = []
        for encoded in records {
            guard let record = try? AuditRecord(encoded: encoded), let issuerHex = record.issuer, let serialHex = record.serial,
                let issuerBytes = [UInt8](hexString: issuerHex), issuerBytes.count == IssuerID.byteCount,
                let serial = try? SerialNumber(hex: serialHex), seen.insert(issuerBytes + serial.bytes).inserted
            else { continue }
            out.append((IssuerID(bytes: issuerBytes), serial))
        }
        return out
    }

    /// Whether a store whose log ends at `local` can follow a database whose log ends at `head`:
    /// it is not ahead, and not apart at the same length (a gap further back shows when a record
    /// does not chain).
    static func mayFollow(_ local: AuditHead, _ head: AuditHead) -> Bool {
        local.sequence < head.sequence || (local.sequence == head.sequence && local.hash == head.hash)
    }

    /// Brings the store at `storePath` to `head` (ocspctl's working copy).
    /// - Throws: ``ReplicationError/Code/diverged`` when its log is not a prefix of the database's.
    static func apply(from database: RecordDatabase, to head: AuditHead, storePath: String, actor: AuditActor) async throws {
        let store = try RevocationStore.open(at: storePath, actor: actor)
        var local = try store.auditHead()
        if !mayFollow(local, head) {
            throw ReplicationError(.diverged, "the working copy is ahead of or apart from the database")
        }
        while local.sequence < head.sequence {
            let batch = try await database.records(after: local.sequence, limit: 4096).filter { $0.sequence <= head.sequence }
            guard !batch.isEmpty else { break }
            do {
                local = try store.apply(batch.map(\.encoded))
            } catch let error as StoreError {
                throw ReplicationError(.diverged, "the working copy does not take the database's log: \(error.message)")
            }
        }
    }
}

extension RecordDatabase {
    /// Calls `notified` for `NOTIFY ocsp_audit` (once per batch that arrives together) until the
    /// connection fails or the task is cancelled. After `probeAfter` without one, it asks the
    /// server `SELECT 1` (with the call deadline): a silent link fails here.
    func listen(probeAfter: Duration, _ notified: @escaping @Sendable () -> Void) async throws {
        try await execute("LISTEN \(Self.channel)")
        while !Task.isCancelled {
            let count: Int
            do {
                count = try await connection.notifications(within: probeAfter)
            } catch let failure as PostgresConnection.Failure {
                throw Self.replicationError(failure, location: location)
            }
            if count > 0 {
                notified()
            } else {
                try await execute("SELECT 1")
            }
        }
    }
}

/// The wait before reconnecting: 0.5 s, doubling to 5 s while attempts fail; 0.5 s again after
/// an attempt that connected.
struct Backoff {
    private(set) var delay: Duration = .milliseconds(500)

    mutating func next(afterConnecting connected: Bool) -> Duration {
        if connected { delay = .milliseconds(500) }
        defer { delay = min(delay * 2, .seconds(5)) }
        return delay
    }
}

/// Wakes one waiter early (a notification), or lets it sleep out its timeout.
final class Wakeup: Sendable {
    private let pending = LockedValue<(signalled: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func signal() {
        let waiter = pending.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state = (state.waiter == nil, nil) }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns at the next ``signal()`` (at once if one came since the last wait), or after `timeout`.
    func wait(timeout: TimeInterval) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = pending.withLock { state -> Bool in
                if state.signalled {
                    state.signalled = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if resumeNow {
                continuation.resume()
                return
            }
            Task {
                try? await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
                let waiter = self.pending.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
        }
    }
}
