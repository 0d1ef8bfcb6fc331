package import Foundation
package import Logging
package import OCSPCore
internal import OCSPValues
package import RevocationStore
internal import Locking
internal import Synchronization

/// Keeps every issuer's CRLs current inside `ocspd`, on its own thread: a complete CRL (or its
/// shards) when there is none or it is older than ``Configuration/interval``; after status
/// changes, once they have settled for ``Configuration/debounce``, a delta CRL (or, sharded,
/// new shards).
package final class CRLScheduler: Sendable {
    package struct Configuration: Sendable {
        package var policy = CRLPolicy()
        /// How often the complete CRL is regenerated.
        package var interval: TimeInterval = 3600
        /// Quiet time after a status change before regenerating.
        package var debounce: TimeInterval = 2
        /// Whether CA key files must be readable by their owner only.
        package var keyFilePermissions: PrivateKey.FilePermissions = .ownerOnly
        package init() {}
    }

    private struct IssuerState {
        var sequence: UInt64?
        var changedSince: Date?
        var lastError: String?
    }

    private let generator: CRLGenerator
    private let configuration: Configuration
    private let logger: Logger
    private let states = LockedValue<[IssuerID: IssuerState]>([:])
    private let stopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)

    package init(store: RevocationStore, configuration: Configuration, logger: Logger) {
        generator = CRLGenerator(store: store, keyFilePermissions: configuration.keyFilePermissions)
        self.configuration = configuration
        self.logger = logger
    }

    package func start() {
        let thread = Thread { [self] in
            defer { stopped.signal() }
            while !stopping.load(ordering: .relaxed) {
                tick(now: Date())
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        thread.name = "ocspd-crl"
        thread.start()
    }

    package func stop() {
        stopping.store(true, ordering: .relaxed)
        stopped.wait()
    }

    /// One pass over the issuers (exposed for tests).
    package func tick(now: Date) {
        let issuers: [IssuerRecord]
        do { issuers = try generator.store.allIssuers() } catch {
            logger.error("CRL scheduler cannot list issuers", metadata: ["error": "\(error)"])
            return
        }
        for issuer in issuers where issuer.caKeyPath != nil {
            do {
                try update(issuer, now: now)
                states.withLock { $0[issuer.id, default: IssuerState()].lastError = nil }
            } catch {
                let message = "\(error)"
                let repeated = states.withLock { state -> Bool in
                    defer { state[issuer.id, default: IssuerState()].lastError = message }
                    return state[issuer.id]?.lastError == message
                }
                if !repeated { logger.error("CRL generation failed", metadata: ["issuer": "\(issuer.id.slug)", "error": "\(message)"]) }
            }
        }
    }

    private func update(_ issuer: IssuerRecord, now: Date) throws {
        let policy = configuration.policy
        let sequence = try generator.store.revocationSequence(issuer: issuer.id)
        let completeScope: CRLScope = policy.shards > 1 ? .shard(0) : .full
        let complete = try generator.store.storedCRL(slug: issuer.id.slug, scope: completeScope)
        var state = states.withLock { $0[issuer.id] } ?? IssuerState()

        if complete == nil || now >= complete!.thisUpdate.addingTimeInterval(configuration.interval) {
            let made = try generator.generateFull(issuer, policy: policy, now: now)
            logger.info("CRL generated", metadata: ["issuer": "\(issuer.id.slug)", "scope": "complete", "number": "\(made.first?.crl.number ?? 0)"])
            state = IssuerState(sequence: sequence, changedSince: nil)
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
                state = IssuerState(sequence: sequence, changedSince: nil)
            } else {
                state.changedSince = since
                if state.sequence == nil { state.changedSince = now.addingTimeInterval(-configuration.debounce) }
            }
        }
        let final = state
        states.withLock { $0[issuer.id] = final }
    }
}
