public import Foundation
public import OCSPValues

/// A signed revocation filter kept in the store for `ocspd` to serve: the cascade's MLBF bytes
/// and the CMS-signed metadata that goes with them (made by OCSPCore's `RevocationFilter`; the
/// store does not read either).
public struct StoredFilter: Hashable, Sendable {
    public var mlbf: [UInt8]
    public var signedMetadata: [UInt8]
    public var sequence: UInt64
    public var thisUpdate: Date
    public var nextUpdate: Date
    /// Strong HTTP entity tags: 64 bits of a hash of each (the generator computes them).
    public var etag: UInt64
    public var metadataETag: UInt64

    public init(
        mlbf: [UInt8], signedMetadata: [UInt8], sequence: UInt64, thisUpdate: Date, nextUpdate: Date, etag: UInt64,
        metadataETag: UInt64
    ) {
        self.mlbf = mlbf
        self.signedMetadata = signedMetadata
        self.sequence = sequence
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.etag = etag
        self.metadataETag = metadataETag
    }

    // Key in `crls`: the issuer slug ‖ F 0 0 (CRL scopes start with 0, 1 or 2).
    static func key(slug: String) -> [UInt8] { Array(slug.utf8) + [0x46, 0, 0] }

    // version(1) sequence(8) thisUpdate(8) nextUpdate(8) etag(8) metadataETag(8) mlbfLength(8)
    // mlbf signedMetadata
    var encoded: [UInt8] {
        var out: [UInt8] = [1]
        for value in [
            Int64(bitPattern: sequence), CachedResponse.seconds(thisUpdate), CachedResponse.seconds(nextUpdate),
            Int64(bitPattern: etag), Int64(bitPattern: metadataETag), Int64(mlbf.count),
        ] {
            withUnsafeBytes(of: value.bigEndian) { out += $0 }
        }
        return out + mlbf + signedMetadata
    }

    init(encoded bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count >= 49, bytes[0] == 1 else { throw StoreError(.corrupt, "stored filter has an unknown format") }
        sequence = UInt64(bitPattern: CachedResponse.int64(bytes, at: 1))
        thisUpdate = Date(timeIntervalSince1970: TimeInterval(CachedResponse.int64(bytes, at: 9)))
        nextUpdate = Date(timeIntervalSince1970: TimeInterval(CachedResponse.int64(bytes, at: 17)))
        etag = UInt64(bitPattern: CachedResponse.int64(bytes, at: 25))
        metadataETag = UInt64(bitPattern: CachedResponse.int64(bytes, at: 33))
        let length = CachedResponse.int64(bytes, at: 41)
        guard length >= 0, length <= bytes.count - 49 else { throw StoreError(.corrupt, "stored filter is truncated") }
        mlbf = Array(bytes[49..<49 + Int(length)])
        signedMetadata = Array(bytes[(49 + Int(length))...])
    }
}

extension RevocationStore {
    /// Reserves the next filter sequence number of `issuer`, durably, before a filter carries it.
    public func reserveFilterSequence(issuer: IssuerID) throws -> UInt64 {
        try environment.write { txn in try advanceCounter(txn, Array("filter_seq:".utf8) + issuer.bytes, by: 1) }
    }

    /// Stores an issuer's latest filter (replacing the one before).
    public func storeFilter(slug: String, _ filter: StoredFilter) throws {
        try environment.write { txn in try txn.put(crls, StoredFilter.key(slug: slug), filter.encoded) }
    }

    /// The latest filter of an issuer (by its URL slug), or nil.
    public func storedFilter(slug: String) throws -> StoredFilter? {
        try environment.read { txn in
            try StoredFilter.key(slug: slug).withUnsafeBytes { key in
                try txn.withValue(crls, key: key) { try $0.map(StoredFilter.init(encoded:)) }
            }
        }
    }
}
