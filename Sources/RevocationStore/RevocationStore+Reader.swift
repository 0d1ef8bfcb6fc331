internal import CLMDB
public import OCSPValues

extension RevocationStore {
    /// One thread's way into the store on the request path: a read transaction kept and reused
    /// (renewed per read, reset after it), and lookups that take the caller's bytes and allocate
    /// nothing.
    ///
    /// > Warning: Not thread-safe. Each serving thread owns one.
    public final class Reader {
        private let store: RevocationStore
        private let transaction: ReusableReadTransaction

        public init(store: RevocationStore) {
            self.store = store
            transaction = ReusableReadTransaction(environment: store.environment)
        }

        /// Runs `body` in a snapshot of the store's last commit. What the snapshot hands out
        /// (``CachedResponseView``, ``StoreChange``) is valid only inside `body`.
        ///
        /// A forwarder, inlined into the caller's module so it is specialised there (STYLE §10: a
        /// generic called across modules otherwise runs unspecialised, with its metadata looked
        /// up on every request); the work is ``withSnapshot(_:)``.
        @inlinable
        public func read<R>(_ body: (borrowing Snapshot) throws -> R) throws -> R {
            var result: R?
            try withSnapshot { snapshot in result = try body(snapshot) }
            return result!
        }

        /// Runs `body` once in a snapshot of the store's last commit (see ``read(_:)``).
        public func withSnapshot(_ body: (borrowing Snapshot) throws -> Void) throws {
            // The snapshot holds database handles (integers), not the store: no reference
            // counting per read. This reader keeps the store, so the handles stay valid.
            let databases = Snapshot.Databases(
                issuerIndex: store.issuerIndex, responses: store.responses, changes: store.changes)
            try transaction.read { txn in
                try body(Snapshot(databases: databases, transaction: Transaction(handle: txn.handle)))
            }
        }
    }

    /// A consistent view of the store, lent to a ``Reader/read(_:)`` closure.
    public struct Snapshot: ~Copyable {
        struct Databases {
            let issuerIndex: Database
            let responses: Database
            let changes: Database
        }

        let databases: Databases
        let transaction: Transaction

        /// The id of the commit this snapshot shows (compare with ``RevocationStore/changeCounter``).
        public var id: Int { transaction.id }

        /// The id (32 bytes, in the snapshot) of the issuer a CertID's hashes name, or nil.
        public func issuerID(
            hashAlgorithm: HashAlgorithm, issuerNameHash: UnsafeRawBufferPointer, issuerKeyHash: UnsafeRawBufferPointer
        ) throws -> UnsafeRawBufferPointer? {
            let indexCount = 1 + issuerNameHash.count + issuerKeyHash.count
            let issuer = try withUnsafeTemporaryAllocation(byteCount: indexCount, alignment: 1) { key in
                key[0] = hashAlgorithm.rawValue
                UnsafeMutableRawBufferPointer(rebasing: key[1...]).copyMemory(from: issuerNameHash)
                UnsafeMutableRawBufferPointer(rebasing: key[(1 + issuerNameHash.count)...]).copyMemory(from: issuerKeyHash)
                return try transaction.withValue(databases.issuerIndex, key: UnsafeRawBufferPointer(key)) { $0 }
            }
            guard let issuer, issuer.count == IssuerID.byteCount else { return nil }
            return issuer
        }

        /// The version-2 cached response of `serial` (its magnitude, no leading zeros) under the
        /// issuer with id `issuer` and CertID hash `hashAlgorithm`; nil when there is none (never
        /// signed, or stored by an older version: ask the slow way).
        public func cachedResponse(
            issuer: UnsafeRawBufferPointer, hashAlgorithm: HashAlgorithm, serial: UnsafeRawBufferPointer
        ) throws -> CachedResponseView? {
            guard issuer.count == IssuerID.byteCount else { return nil }
            let keyCount = IssuerID.byteCount + 1 + serial.count
            return try withUnsafeTemporaryAllocation(byteCount: keyCount, alignment: 1) { key in
                UnsafeMutableRawBufferPointer(rebasing: key[..<IssuerID.byteCount]).copyMemory(from: issuer)
                key[IssuerID.byteCount] = hashAlgorithm.rawValue
                UnsafeMutableRawBufferPointer(rebasing: key[(IssuerID.byteCount + 1)...]).copyMemory(from: serial)
                return try transaction.withValue(databases.responses, key: UnsafeRawBufferPointer(key)) {
                    $0.flatMap(CachedResponseView.init)
                }
            }
        }

        /// The sequence number of the newest change in the feed (0 when there is none).
        public func lastChange() throws -> UInt64 {
            try transaction.lastKey(databases.changes).flatMap { key in key.withUnsafeBytes(Self.sequence) } ?? 0
        }

        /// Visits the changes after `position`, oldest first.
        /// - Returns: the position to pass next time, and whether every change after `position`
        ///   was still in the feed (false: older ones were pruned, so the caller cannot know
        ///   everything that changed and must drop all it holds).
        public func changes(after position: UInt64, _ visit: (StoreChange) -> Void) throws -> (position: UInt64, complete: Bool) {
            var last = position
            var complete = true
            try withUnsafeBytes(of: (position &+ 1).bigEndian) { start in
                try transaction.forEach(databases.changes, startingAt: start) { key, value in
                    guard let sequence = Self.sequence(key) else { return true }
                    if sequence != last &+ 1 { complete = false }
                    last = sequence
                    guard value.count >= IssuerID.byteCount else { return true }
                    let issuer = UnsafeRawBufferPointer(rebasing: value[..<IssuerID.byteCount])
                    let serial = value.count > IssuerID.byteCount
                        ? UnsafeRawBufferPointer(rebasing: value[IssuerID.byteCount...]) : nil
                    visit(StoreChange(issuer: issuer, serial: serial))
                    return true
                }
            }
            return (last, complete)
        }

        private static func sequence(_ key: UnsafeRawBufferPointer) -> UInt64? {
            key.count == 8 ? UInt64(bigEndian: key.loadUnaligned(as: UInt64.self)) : nil
        }
    }
}
