internal import CLMDB
public import OCSPValues

extension RevocationStore {
    /// How many entries the change feed keeps by default. A reader that falls further behind
    /// than ``changeRetention`` (a thread idle through 65 536 status changes) cannot tell what
    /// changed and drops its cache.
    public static let defaultChangeRetention = 65_536

    /// Notes in the change feed that everything answered for `issuer` may be stale (its cached
    /// responses were re-signed in bulk, e.g. by `presign` after a responder rotation), so that
    /// in-process caches drop it. Not an audit record: no status changed.
    public func announceIssuerChange(_ issuer: IssuerID) throws {
        try environment.write { txn in try recordChange(txn, issuer: issuer, serial: nil) }
    }

    /// Notes in the change feed that what was answered for `serial` of `issuer` (for every
    /// serial of the issuer when nil) may be stale. In the caller's write transaction, so the
    /// note commits with the change.
    func recordChange(_ txn: borrowing Transaction, issuer: IssuerID, serial: SerialNumber?) throws {
        var next: UInt64 = 1
        if let last = try txn.lastKey(changes), last.count == 8 {
            next = last.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) } + 1
        }
        try txn.put(changes, withUnsafeBytes(of: next.bigEndian) { Array($0) }, issuer.bytes + (serial?.bytes ?? []))
        if try txn.count(changes) > changeRetention { try txn.deleteFirst(changes) }
    }
}

/// 64-bit names for what a cache holds, so that a change in the feed can find the entries it
/// makes stale: one for an issuer, one for a certificate (issuer ‖ serial). Lookups and the
/// change feed compute them the same way (FNV-1a), from the issuer id and the serial magnitude.
public enum CacheIdentity {
    /// The identity of an issuer (its 32-byte id).
    public static func issuer(_ id: UnsafeRawBufferPointer) -> UInt64 { fnv(id) }

    /// The identity of a certificate: its issuer's id and its serial's magnitude (no leading zeros).
    public static func certificate(issuer id: UnsafeRawBufferPointer, serial: UnsafeRawBufferPointer) -> UInt64 {
        fnv(serial, fnv(id))
    }

    private static func fnv(_ bytes: UnsafeRawBufferPointer, _ start: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = start
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}

/// One entry of the change feed, as it lies in the store.
public struct StoreChange {
    /// The issuer id (32 bytes).
    public let issuer: UnsafeRawBufferPointer
    /// The serial's magnitude, or nil when every certificate of the issuer may have changed.
    public let serial: UnsafeRawBufferPointer?
}
