public import Foundation
public import OCSPValues

/// Which CRL of an issuer: the complete one, its delta, or one shard.
public enum CRLScope: Hashable, Sendable, CustomStringConvertible {
    case full
    case delta
    case shard(Int)

    var keyBytes: [UInt8] {
        switch self {
        case .full: [0, 0, 0]
        case .delta: [1, 0, 0]
        case .shard(let index): [2, UInt8(truncatingIfNeeded: index >> 8), UInt8(truncatingIfNeeded: index)]
        }
    }

    public var description: String {
        switch self {
        case .full: "full"
        case .delta: "delta"
        case .shard(let index): "shard \(index)"
        }
    }
}

/// A signed CRL kept in the store for `ocspd` to serve.
public struct StoredCRL: Hashable, Sendable {
    public var der: [UInt8]
    public var number: UInt64
    public var thisUpdate: Date
    public var nextUpdate: Date
    /// A strong HTTP entity tag: 64 bits of a hash of ``der`` (the generator computes it).
    public var etag: UInt64

    public init(der: [UInt8], number: UInt64, thisUpdate: Date, nextUpdate: Date, etag: UInt64) {
        self.der = der
        self.number = number
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.etag = etag
    }

    public var etagHeader: String { Self.etagHeader(etag) }

    /// A quoted strong entity tag: the 64 bits in hex.
    public static func etagHeader(_ etag: UInt64) -> String {
        "\"" + withUnsafeBytes(of: etag.bigEndian) { Array($0) }.hexString + "\""
    }

    // version(1) number(8) thisUpdate(8) nextUpdate(8) etag(8) der
    var encoded: [UInt8] {
        var out: [UInt8] = [1]
        for value in [Int64(bitPattern: number), CachedResponse.seconds(thisUpdate), CachedResponse.seconds(nextUpdate), Int64(bitPattern: etag)] {
            withUnsafeBytes(of: value.bigEndian) { out += $0 }
        }
        return out + der
    }

    init(encoded bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 33, bytes[0] == 1 else { throw StoreError(.corrupt, "stored CRL has an unknown format") }
        number = UInt64(bitPattern: CachedResponse.int64(bytes, at: 1))
        thisUpdate = Date(timeIntervalSince1970: TimeInterval(CachedResponse.int64(bytes, at: 9)))
        nextUpdate = Date(timeIntervalSince1970: TimeInterval(CachedResponse.int64(bytes, at: 17)))
        etag = UInt64(bitPattern: CachedResponse.int64(bytes, at: 25))
        der = Array(bytes[33...])
    }
}

extension RevocationStore {
    /// Reserves `count` CRL numbers for `issuer`, durably, before any CRL carries them: a crash
    /// can skip numbers but never reuse one. Returns the first.
    /// The reservation is an audit record (`crl.number`, with the last number reserved).
    public func reserveCRLNumbers(issuer: IssuerID, count: Int = 1) throws -> UInt64 {
        try environment.write { txn in
            let first = try advanceCounter(txn, Array("crl_number:".utf8) + issuer.bytes, by: UInt64(count))
            try appendAudit(
                txn,
                AuditRecord(
                    time: Date(), actor: "", host: "", action: .crlNumber, issuer: issuer.description,
                    detail: ["number": String(first + UInt64(count) - 1), "count": String(count)]))
            return first
        }
    }

    /// Stores generated CRLs (replacing those of the same scopes) in one transaction.
    public func storeCRLs(issuer: IssuerID, _ crls: [(CRLScope, StoredCRL)]) throws {
        try environment.write { txn in
            for (scope, crl) in crls {
                try txn.put(self.crls, Array(issuer.slug.utf8) + scope.keyBytes, crl.encoded)
            }
        }
    }

    /// The stored CRL of an issuer (by its URL slug) and scope, or nil.
    public func storedCRL(slug: String, scope: CRLScope) throws -> StoredCRL? {
        try environment.read { txn in
            try (Array(slug.utf8) + scope.keyBytes).withUnsafeBytes { key in
                try txn.withValue(crls, key: key) { try $0.map(StoredCRL.init(encoded:)) }
            }
        }
    }

    /// A counter that moves whenever a certificate of `issuer` changes status.
    public func revocationSequence(issuer: IssuerID) throws -> UInt64 {
        try environment.read { txn in try counter(txn, Array("revocation_seq:".utf8) + issuer.bytes) }
    }

    func bumpRevocationSequence(_ txn: borrowing Transaction, issuer: IssuerID) throws {
        _ = try advanceCounter(txn, Array("revocation_seq:".utf8) + issuer.bytes, by: 1)
    }

    /// A big-endian UInt64 counter in `meta` (0 when absent).
    func counter(_ txn: borrowing Transaction, _ key: [UInt8]) throws -> UInt64 {
        try txn.get(meta, key).map { bytes in
            bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
        } ?? 0
    }

    /// Adds `amount` to a counter in `meta`; returns the first new value.
    func advanceCounter(_ txn: borrowing Transaction, _ key: [UInt8], by amount: UInt64) throws -> UInt64 {
        let last = try counter(txn, key)
        try txn.put(meta, key, withUnsafeBytes(of: (last + amount).bigEndian) { Array($0) })
        return last + 1
    }

    /// Raises a counter in `meta` to `value` (a replayed reservation); never lowers it.
    func raiseCounter(_ txn: borrowing Transaction, _ key: [UInt8], to value: UInt64) throws {
        if try counter(txn, key) < value { try txn.put(meta, key, withUnsafeBytes(of: value.bigEndian) { Array($0) }) }
    }
}
