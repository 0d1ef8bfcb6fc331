package import Foundation
package import OCSPValues
package import RevocationStore

#if canImport(Glibc)
import Glibc
#endif

/// Follows an OpenSSL CA database (`index.txt`) as `openssl ca` changes it: `ocspctl import
/// --follow`.
///
/// Each time the file may have changed, the whole file is read again and applied through
/// ``RevocationStore/importRecords(issuer:_:sign:now:)``: lines the store already holds as they
/// are write nothing, and a record added or changed has its cached responses re-signed in the same
/// transaction (with the signing ``makeSigning`` gives, or dropped when it gives none), so a
/// running ocspd on the same store answers the new status from the commit on. A line that does not
/// parse is skipped (reported once, by number and text), and the rest applied. A line that says
/// good of a certificate the store holds as revoked (an `ocspctl revoke`) leaves it revoked:
/// revocation is permanent.
///
/// The file is watched two ways: inotify on its directory (`openssl ca` writes `index.txt.new`
/// and renames it over `index.txt`, which a watch on the file itself would lose), and, as the
/// safety net for what inotify misses (network file systems, a watch that could not be set, a
/// queue overflow), its device, inode, size and modification time compared every ``pollInterval``
/// (a ``FileWatch``).
///
/// > Warning: Not thread-safe: one task runs ``run(report:)`` (or calls ``apply(now:)``).
package struct IndexFollower {
    /// What one application of the file did.
    package struct ChangeSet: Sendable, Hashable {
        /// Certificates new to the store.
        package var added = 0
        /// Certificates whose status, revocation or expiry changed.
        package var changed = 0
        /// Lines the store already held as they are.
        package var unchanged = 0
        /// Lines that say good of a certificate the store holds as revoked (by `ocspctl revoke`,
        /// say): left revoked, as revocation is permanent.
        package var keptRevoked = 0
        /// Every line that does not parse, this time.
        package var bad: [OpenSSLIndex.BadLine] = []
        /// The bad lines not reported by an earlier application (reported once, however often
        /// the file is read again).
        package var newlyBad: [OpenSSLIndex.BadLine] = []
        /// The file's modification time when it was read.
        package var modified: Date?
        /// When the change was committed.
        package var applied = Date()

        /// From the file's modification to the commit (zero when the clock says otherwise).
        package var lag: TimeInterval { modified.map { max(0, applied.timeIntervalSince($0)) } ?? 0 }
        /// Whether the store changed.
        package var wroteAnything: Bool { added + changed > 0 }

        package init() {}
    }

    /// What ``run(report:)`` tells its caller.
    package typealias Event = FollowerEvent<ChangeSet>

    package let store: RevocationStore
    package let issuer: IssuerID
    /// The index file's path.
    package let path: String
    /// The signing for the records an application changes, made anew for each application (a
    /// signing closure may fix its `now` when made); nil drops their cached responses instead.
    package var makeSigning: () -> ResponseSigning?
    /// How often the file's fingerprint is compared, whatever inotify says.
    package var pollInterval: Duration = .seconds(1)
    /// How often the inotify descriptor is read (it never blocks a thread of the pool).
    package var tick: Duration = .milliseconds(50)
    /// Certificates per write transaction.
    package var batchSize = 50_000

    private var reported: Set<OpenSSLIndex.BadLine> = []
    private var lastApplied: FileWatch.Fingerprint?

    package init(
        store: RevocationStore, issuer: IssuerID, path: String, makeSigning: @escaping () -> ResponseSigning? = { nil }
    ) {
        self.store = store
        self.issuer = issuer
        self.path = path
        self.makeSigning = makeSigning
    }

    /// Reads the whole file and applies it to the store.
    /// - Parameter now: the time recorded as the records' change time.
    /// - Throws: when the file cannot be read or the store refuses the write (nothing of this
    ///   application's failed batch is written).
    package mutating func apply(now: Date = Date()) throws -> ChangeSet {
        let before = FileWatch.Fingerprint(path: path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError(.notFound, "cannot read \(path)")
        }
        var set = ChangeSet()
        set.modified = before?.modified
        let (entries, bad) = OpenSSLIndex.parseSkippingBad(contents: [UInt8](data), now: now)
        set.bad = bad
        set.newlyBad = bad.filter { !reported.contains($0) }
        // Made when the first changed record is signed: a file read again unchanged makes none.
        var signing: ResponseSigning?? = nil
        let makeSigning = makeSigning
        let sign: ResponseSigning = { key, record in
            if signing == nil { signing = makeSigning() }
            guard let made = signing ?? nil else { throw StoreError(.refused, "no signing here") }  // dropped instead
            return try made(key, record)
        }
        var start = 0
        while start < entries.count {
            let batch = entries[start..<min(entries.count, start + batchSize)].map { ($0.serial, $0.record) }
            let written = try store.importRecords(issuer: issuer, batch, sign: sign, keepRevocations: true, now: now)
            set.added += written.added
            set.changed += written.changed
            set.unchanged += written.unchanged
            set.keptRevoked += written.keptRevoked
            start += batchSize
        }
        if entries.count > batchSize { store.releaseMappedPages() }
        // A bad line fixed and garbled again is reported again.
        reported = Set(bad)
        lastApplied = before
        set.applied = Date()
        return set
    }

    /// Applies the file, then again whenever it may have changed, until the task is cancelled.
    /// Failures are reported and retried at the next change or poll, never thrown.
    /// - Parameter report: called with each application and failure, on the calling task.
    package mutating func run(report: (Event) -> Void) async {
        let name = (path as NSString).lastPathComponent
        var watch = FileWatch(directory: (path as NSString).deletingLastPathComponent)
        (watch.pollInterval, watch.tick) = (pollInterval, tick)
        await watch.run(names: { $0 == name }, unwatchable: { report(.pollingOnly($0)) }) { notified, pollDue in
            guard notified || (pollDue && FileWatch.Fingerprint(path: path) != lastApplied) else { return }
            do {
                report(.applied(try apply()))
            } catch {
                // Between `openssl ca`'s two renames the file is briefly absent: try again.
                report(.failed("\(error)"))
                lastApplied = nil  // so the next poll tries again
            }
        }
    }
}
