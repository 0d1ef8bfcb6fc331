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
        public func read<R>(_ body: (borrowing Snapshot) throws -> R) throws -> R {
            try transaction.read { txn in try body(Snapshot(store: store, transaction: Transaction(handle: txn.handle))) }
        }
    }

    /// A consistent view of the store, lent to a ``Reader/read(_:)`` closure.
    public struct Snapshot: ~Copyable {
        let store: RevocationStore
        let transaction: Transaction

        /// The id of the commit this snapshot shows (compare with ``RevocationStore/changeCounter``).
        public var id: Int { transaction.id }

        /// What ``cachedResponse(hashAlgorithm:issuerNameHash:issuerKeyHash:serial:)`` found.
        public enum CachedLookup {
            /// No issuer answers to these hashes.
            case unknownIssuer
            /// The issuer (its 32-byte id) is known but there is no version-2 cached response for
            /// the serial (never signed, or stored by an older version): ask the slow way.
            case notCached(issuer: UnsafeRawBufferPointer)
            case found(issuer: UnsafeRawBufferPointer, response: CachedResponseView)
        }

        /// The cached response for a CertID given as its parts, all borrowed bytes.
        /// - Parameters:
        ///   - serial: the serial's magnitude, without leading zeros.
        public func cachedResponse(
            hashAlgorithm: HashAlgorithm, issuerNameHash: UnsafeRawBufferPointer, issuerKeyHash: UnsafeRawBufferPointer,
            serial: UnsafeRawBufferPointer
        ) throws -> CachedLookup {
            let indexCount = 1 + issuerNameHash.count + issuerKeyHash.count
            let issuer = try withUnsafeTemporaryAllocation(byteCount: indexCount, alignment: 1) { key in
                key[0] = hashAlgorithm.rawValue
                UnsafeMutableRawBufferPointer(rebasing: key[1...]).copyMemory(from: issuerNameHash)
                UnsafeMutableRawBufferPointer(rebasing: key[(1 + issuerNameHash.count)...]).copyMemory(from: issuerKeyHash)
                return try transaction.withValue(store.issuerIndex, key: UnsafeRawBufferPointer(key)) { $0 }
            }
            guard let issuer, issuer.count == IssuerID.byteCount else { return .unknownIssuer }
            let keyCount = IssuerID.byteCount + 1 + serial.count
            let view = try withUnsafeTemporaryAllocation(byteCount: keyCount, alignment: 1) { key in
                UnsafeMutableRawBufferPointer(rebasing: key[..<IssuerID.byteCount]).copyMemory(from: issuer)
                key[IssuerID.byteCount] = hashAlgorithm.rawValue
                UnsafeMutableRawBufferPointer(rebasing: key[(IssuerID.byteCount + 1)...]).copyMemory(from: serial)
                return try transaction.withValue(store.responses, key: UnsafeRawBufferPointer(key)) {
                    $0.flatMap(CachedResponseView.init)
                }
            }
            guard let view else { return .notCached(issuer: issuer) }
            return .found(issuer: issuer, response: view)
        }

        /// The sequence number of the newest change in the feed (0 when there is none).
        public func lastChange() throws -> UInt64 {
            try transaction.lastKey(store.changes).flatMap { key in key.withUnsafeBytes(Self.sequence) } ?? 0
        }

        /// Visits the changes after `position`, oldest first.
        /// - Returns: the position to pass next time, and whether every change after `position`
        ///   was still in the feed (false: older ones were pruned, so the caller cannot know
        ///   everything that changed and must drop all it holds).
        public func changes(after position: UInt64, _ visit: (StoreChange) -> Void) throws -> (position: UInt64, complete: Bool) {
            var last = position
            var complete = true
            try withUnsafeBytes(of: (position &+ 1).bigEndian) { start in
                try transaction.forEach(store.changes, startingAt: start) { key, value in
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
