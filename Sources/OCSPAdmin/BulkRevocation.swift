package import Foundation
package import OCSPValues
package import RevocationStore

/// Revokes a list of certificates of one issuer (an incident's list: `ocspctl revoke --serials`).
///
/// Unpaced, the list is written in transactions of ``batchSize``, the store's mapped pages
/// released after each (a long list would otherwise keep the whole file resident). Paced at
/// ``rate`` certificates a second, each certificate is a transaction of its own, durable and
/// acknowledged as it lands; the pace is kept against the start, so a slow write is made up by
/// not sleeping before the next. Either way, certificates already revoked are skipped and counted
/// (a hold is revoked for good), so running the same list again changes nothing.
package struct BulkRevocation {
    /// How a paced revocation reads the time and waits: the wall clock, or a test's.
    package struct Clock: Sendable {
        package var now: @Sendable () -> Date
        /// Blocks the calling thread until the time given (the store's writes are thread-bound).
        package var sleep: @Sendable (_ until: Date) -> Void

        package init(now: @escaping @Sendable () -> Date, sleep: @escaping @Sendable (_ until: Date) -> Void) {
            self.now = now
            self.sleep = sleep
        }

        /// `Date()`, and `Thread.sleep(until:)`.
        package static let system = Clock(now: { Date() }, sleep: { Thread.sleep(until: $0) })
    }

    /// What a run did.
    package struct Outcome: Sendable, Hashable {
        /// How many serials the list held.
        package var listed: Int
        /// How many of them this run revoked.
        package var revoked: Int
        /// How many were revoked already (skipped).
        package var alreadyRevoked: Int { listed - revoked }

        package init(listed: Int, revoked: Int) {
            self.listed = listed
            self.revoked = revoked
        }
    }

    /// The transaction size of an unpaced run.
    package static let defaultBatchSize = 1000

    package let store: RevocationStore
    package let issuer: IssuerID
    package var time: Date
    package var reason: RevocationReason?
    package var invalidityDate: Date?
    /// How the cached responses of the certificates revoked are re-signed (nil: they are dropped).
    package var sign: ResponseSigning?
    /// At most this many certificates a second, each in a transaction of its own; nil: unpaced.
    package var rate: Double?
    /// Certificates per transaction when unpaced.
    package var batchSize: Int
    /// The time and the waits of a paced run.
    package var clock: Clock

    /// - Parameters:
    ///   - time: the revocation time of every certificate revoked.
    ///   - rate: at most this many certificates a second (positive and finite), each in a
    ///     transaction of its own; nil writes transactions of `batchSize`.
    package init(
        store: RevocationStore, issuer: IssuerID, time: Date, reason: RevocationReason?, invalidityDate: Date? = nil,
        sign: ResponseSigning? = nil, rate: Double? = nil, batchSize: Int = defaultBatchSize, clock: Clock = .system
    ) {
        self.store = store
        self.issuer = issuer
        self.time = time
        self.reason = reason
        self.invalidityDate = invalidityDate
        self.sign = sign
        self.rate = rate
        self.batchSize = batchSize
        self.clock = clock
    }

    /// Revokes `serials`, each transaction durable when the next begins.
    /// - Parameters:
    ///   - progress: called after each transaction with how many serials of the list are done.
    /// - Returns: how many were listed and how many this run revoked.
    /// - Throws: the store's error; the transactions before it stay committed (a second run
    ///   skips what they revoked).
    package func run(_ serials: [SerialNumber], progress: (_ done: Int) -> Void = { _ in }) throws -> Outcome {
        var revoked = 0
        if let rate {
            precondition(rate > 0 && rate.isFinite, "BulkRevocation: the rate must be positive and finite")
            let started = clock.now()
            for (index, serial) in serials.enumerated() {
                let due = started.addingTimeInterval(Double(index) / rate)
                if due > clock.now() { clock.sleep(due) }
                revoked += try revoke([serial])
                progress(index + 1)
            }
        } else {
            precondition(batchSize > 0, "BulkRevocation: the batch size must be positive")
            for start in stride(from: 0, to: serials.count, by: batchSize) {
                let end = min(serials.count, start + batchSize)
                revoked += try revoke(Array(serials[start..<end]))
                store.releaseMappedPages()
                progress(end)
            }
        }
        return Outcome(listed: serials.count, revoked: revoked)
    }

    private func revoke(_ serials: [SerialNumber]) throws -> Int {
        try store.revoke(
            issuer: issuer, serials: serials, time: time, reason: reason, invalidityDate: invalidityDate, sign: sign)
    }
}
