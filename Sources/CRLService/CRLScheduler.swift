package import Foundation
package import Logging
package import OCSPCore
internal import OCSPValues
package import RevocationStore
internal import Locking
internal import Synchronization
internal import ServiceLifecycle

/// Keeps every issuer's CRLs current inside `ocspd`, on its own thread: a complete CRL (or its
/// shards) when there is none or it is older than ``Configuration/interval``; after status
/// changes, once they have settled for ``Configuration/debounce``, a delta CRL (or, sharded,
/// new shards). With ``Configuration/filters`` set, each issuer's revocation filter too: when
/// there is none, when it is older than the interval, and whenever a CRL was published.
package final class CRLScheduler: Service, Sendable {
    package struct Configuration: Sendable {
        package var policy = CRLPolicy()
        /// How often the complete CRL is regenerated.
        package var interval: TimeInterval = 3600
        /// Quiet time after a status change before regenerating.
        package var debounce: TimeInterval = 2
        /// Whether CA key files must be readable by their owner only.
        package var keyFilePermissions: PrivateKey.FilePermissions = .ownerOnly
        /// How revocation filters are made; nil: none are.
        package var filters: FilterPolicy?
        package init() {}
    }

    private struct IssuerState {
        var sequence: UInt64?
        var changedSince: Date?
        var lastError: String?
        var lastFilterError: String?
        /// The revocation sequence the latest filter was made at (nil: none made since start).
        var filterSequence: UInt64?
    }

    private let store: RevocationStore
    /// The configuration in force and the generator made for it (``reconfigure(_:)``).
    private let settings: LockedValue<(Configuration, CRLGenerator)>
    private let logger: Logger
    private let states = LockedValue<[IssuerID: IssuerState]>([:])
    private let stopping = Atomic<Bool>(false)

    package init(store: RevocationStore, configuration: Configuration, logger: Logger) {
        self.store = store
        settings = LockedValue((configuration, CRLGenerator(store: store, keyFilePermissions: configuration.keyFilePermissions)))
        self.logger = logger
    }

    /// Applies new settings (SIGHUP) from the next pass on.
    package func reconfigure(_ configuration: Configuration) {
        let generator = CRLGenerator(store: store, keyFilePermissions: configuration.keyFilePermissions)
        settings.withLock { $0 = (configuration, generator) }
    }

    /// Runs passes on a thread of its own (generation signs and writes, and blocks) until
    /// graceful shutdown, then lets the pass in hand finish.
    package func run() async throws {
        let finished = AsyncStream<Void>.makeStream()
        let thread = Thread { [self] in
            while !stopping.load(ordering: .relaxed) {
                tick(now: Date())
                Thread.sleep(forTimeInterval: 0.5)
            }
            finished.continuation.finish()
        }
        thread.name = "ocspd-crl"
        thread.start()
        try? await gracefulShutdown()
        stopping.store(true, ordering: .relaxed)
        for await _ in finished.stream {}
    }

    /// One pass over the issuers (exposed for tests).
    package func tick(now: Date) {
        let (configuration, generator) = settings.withLock { $0 }
        let issuers: [IssuerRecord]
        do { issuers = try generator.store.allIssuers() } catch {
            logger.error("CRL scheduler cannot list issuers", metadata: ["error": "\(error)"])
            return
        }
        for issuer in issuers where issuer.caKeyPath != nil {
            do {
                let published = try update(issuer, now: now, configuration: configuration, generator: generator)
                states.withLock { $0[issuer.id, default: IssuerState()].lastError = nil }
                if let policy = configuration.filters {
                    do {
                        try updateFilter(issuer, published: published, now: now, policy: policy, configuration: configuration, generator: generator)
                        states.withLock { $0[issuer.id, default: IssuerState()].lastFilterError = nil }
                    } catch {
                        report(error, issuer: issuer, what: "revocation filter generation failed", last: \.lastFilterError)
                    }
                }
            } catch {
                report(error, issuer: issuer, what: "CRL generation failed", last: \.lastError)
            }
        }
    }

    /// Logs a failure once, not again until it changes or stops.
    private func report(_ error: any Error, issuer: IssuerRecord, what: String, last: WritableKeyPath<IssuerState, String?>) {
        let message = "\(error)"
        let repeated = states.withLock { state -> Bool in
            defer { state[issuer.id, default: IssuerState()][keyPath: last] = message }
            return state[issuer.id]?[keyPath: last] == message
        }
        if !repeated { logger.error("\(what)", metadata: ["issuer": "\(issuer.id.slug)", "error": "\(message)"]) }
    }

    /// Makes the issuer's filter when it has none, when it is older than the interval, or when a
    /// CRL was just published (statuses changed and settled) and statuses changed since the filter.
    private func updateFilter(
        _ issuer: IssuerRecord, published: Bool, now: Date, policy: FilterPolicy, configuration: Configuration,
        generator: CRLGenerator
    ) throws {
        let stored = try generator.store.storedFilter(slug: issuer.id.slug)
        let sequence = try generator.store.revocationSequence(issuer: issuer.id)
        let changed = states.withLock { $0[issuer.id]?.filterSequence } != sequence
        if let stored, now < stored.thisUpdate.addingTimeInterval(configuration.interval), !(published && changed) { return }
        let made = try FilterGenerator(store: generator.store, keyFilePermissions: configuration.keyFilePermissions)
            .generate(issuer, policy: policy, now: now)
        states.withLock { $0[issuer.id, default: IssuerState()].filterSequence = sequence }
        logger.info(
            "revocation filter generated",
            metadata: [
                "issuer": "\(issuer.id.slug)", "sequence": "\(made.filter.sequence)", "revoked": "\(made.metadata.revoked)",
                "good": "\(made.metadata.good)", "bytes": "\(made.filter.mlbf.count)", "layers": "\(made.layers)",
                "seconds": "\(String(format: "%.3f", made.duration / .seconds(1)))",
            ])
    }

    /// Publishes what is due; returns whether a CRL was published.
    private func update(_ issuer: IssuerRecord, now: Date, configuration: Configuration, generator: CRLGenerator) throws -> Bool {
        let policy = configuration.policy
        let sequence = try generator.store.revocationSequence(issuer: issuer.id)
        let completeScope: CRLScope = policy.shards > 1 ? .shard(0) : .full
        let complete = try generator.store.storedCRL(slug: issuer.id.slug, scope: completeScope)
        var state = states.withLock { $0[issuer.id] } ?? IssuerState()
        var published = false

        if complete == nil || now >= complete!.thisUpdate.addingTimeInterval(configuration.interval) {
            let made = try generator.generateFull(issuer, policy: policy, now: now)
            logger.info("CRL generated", metadata: ["issuer": "\(issuer.id.slug)", "scope": "complete", "number": "\(made.first?.crl.number ?? 0)"])
            (state.sequence, state.changedSince) = (sequence, nil)
            published = true
        } else if state.sequence != sequence {
            // Something changed (or we just started): wait for it to settle, then publish.
            let since = state.changedSince ?? now
            if now.timeIntervalSince(since) >= configuration.debounce {
                if policy.shards > 1 {
                    _ = try generator.generateFull(issuer, policy: policy, now: now)
                } else {
                    let delta = try generator.generateDelta(issuer, policy: policy, now: now)
                    logger.info("CRL generated", metadata: ["issuer": "\(issuer.id.slug)", "scope": "delta", "number": "\(delta.crl.number)"])
                }
                (state.sequence, state.changedSince) = (sequence, nil)
                published = true
            } else {
                state.changedSince = since
                if state.sequence == nil { state.changedSince = now.addingTimeInterval(-configuration.debounce) }
            }
        }
        let final = state
        states.withLock { $0[issuer.id] = final }
        return published
    }
}
