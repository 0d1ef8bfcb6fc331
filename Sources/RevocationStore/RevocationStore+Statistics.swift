internal import CLMDB
public import Foundation
public import OCSPValues

// Read-only views for the operator (`ocspctl stats`, `ocspctl issuer show`): counts and time
// ranges computed by walking the store's keys once, reading only the bytes they need (a status
// byte, two timestamps) without decoding whole records.

extension RevocationStore {
    /// How many certificates of an issuer are in each status.
    public struct CertificateCounts: Hashable, Sendable {
        public var good = 0
        /// Revoked for any reason other than certificateHold (no reason included).
        public var revoked = 0
        /// Revoked with reason certificateHold.
        public var hold = 0

        public init(good: Int = 0, revoked: Int = 0, hold: Int = 0) {
            self.good = good
            self.revoked = revoked
            self.hold = hold
        }

        public var total: Int { good + revoked + hold }
    }

    /// What the signature cache holds for an issuer: every hash algorithm's responses.
    public struct ResponseStatistics: Hashable, Sendable {
        public var count = 0
        public var oldestThisUpdate: Date?
        public var newestThisUpdate: Date?
        public var earliestNextUpdate: Date?
        public var latestNextUpdate: Date?
        /// Responses whose nextUpdate is at or before the time asked: ocspd re-signs them before
        /// serving them (or answers tryLater when it cannot sign).
        public var expired = 0

        public init() {}
    }

    /// The CRLs of an issuer: the numbers handed out, and those stored for `ocspd` to serve.
    public struct CRLStatistics: Hashable, Sendable {
        /// One stored CRL: its number and times.
        public struct Summary: Hashable, Sendable {
            public var number: UInt64
            public var thisUpdate: Date
            public var nextUpdate: Date
        }

        /// The last CRL number reserved (0: none yet). A crash between reservation and storing
        /// skips numbers, so this can be ahead of every stored CRL's number.
        public var lastReservedNumber: UInt64 = 0
        /// The stored complete CRL, if any (a sharded generation stores shards instead: ``shards``).
        public var full: Summary?
        /// The stored delta CRL, if any.
        public var delta: Summary?
        /// How many shards of a sharded complete CRL are stored.
        public var shards = 0
        /// The highest number among the stored shards.
        public var latestShardNumber: UInt64?

        public init() {}
    }

    /// The statistics of one issuer, read in one snapshot.
    public struct IssuerStatistics: Sendable {
        public var issuer: IssuerRecord
        public var certificates: CertificateCounts
        public var responses: ResponseStatistics
        public var crls: CRLStatistics
    }

    /// The statistics of the whole store, read in one snapshot.
    public struct StoreStatistics: Sendable {
        /// Every issuer, in id order.
        public var issuers: [IssuerStatistics]
        /// Certificates across issuers (LMDB's entry count).
        public var certificates: Int
        /// Cached responses across issuers and hash algorithms.
        public var responses: Int
        /// The size of `data.mdb` (its length, and the bytes the filesystem allocated for it).
        public var fileBytes: Int
        public var allocatedBytes: Int
        /// Bytes of the data file in use (up to the last page LMDB wrote) and the map size (the
        /// most the store may grow to).
        public var usedBytes: Int
        public var mapSize: Int
        /// The sequence number of the newest audit entry, or nil when the log is empty.
        public var lastAuditSequence: UInt64?
        /// The id of the commit the snapshot shows (see ``RevocationStore/changeCounter``).
        public var snapshot: Int
    }

    /// Counts the certificates of `issuer` by status, in one read transaction: one walk of its
    /// records reading a status and a reason byte each (a million certificates take a fraction of
    /// a second).
    /// - Throws: ``StoreError/Code/corrupt`` for a record that does not decode.
    public func certificateCounts(issuer: IssuerID) throws -> CertificateCounts {
        try environment.read { txn in try certificateCounts(txn, issuer: issuer) }
    }

    /// Reads the cached responses of `issuer` (their count, thisUpdate and nextUpdate ranges, how
    /// many have expired at `now`), in one read transaction.
    public func responseStatistics(issuer: IssuerID, now: Date = Date()) throws -> ResponseStatistics {
        try environment.read { txn in try responseStatistics(txn, issuer: issuer, now: now) }
    }

    /// The CRL numbers of `issuer`: reserved, and of the CRLs stored.
    public func crlStatistics(issuer: IssuerID) throws -> CRLStatistics {
        try environment.read { txn in try crlStatistics(txn, issuer: issuer) }
    }

    /// Reads ``StoreStatistics`` in one read transaction, so that the numbers add up: a walk of
    /// every certificate and cached response (under a second for a million of each, from the page
    /// cache), counters from `meta`, the stored CRLs' headers.
    public func statistics(now: Date = Date()) throws -> StoreStatistics {
        let (usedBytes, mapSize) = environment.usage
        let (fileBytes, allocatedBytes) = dataFileSize()
        return try environment.read { txn in
            var stored: [(IssuerID, [UInt8])] = []
            try txn.forEach(issuers) { key, value in
                stored.append((IssuerID(bytes: Array(key)), Array(value)))
                return true
            }
            var result: [IssuerStatistics] = []
            for (id, json) in stored {
                result.append(
                    IssuerStatistics(
                        issuer: try IssuerRecord(id: id, encoded: json),
                        certificates: try certificateCounts(txn, issuer: id),
                        responses: try responseStatistics(txn, issuer: id, now: now),
                        crls: try crlStatistics(txn, issuer: id)))
            }
            let lastAudit = try auditHead(txn).sequence
            return StoreStatistics(
                issuers: result, certificates: try txn.count(certs), responses: try txn.count(responses),
                fileBytes: fileBytes, allocatedBytes: allocatedBytes, usedBytes: usedBytes, mapSize: mapSize,
                lastAuditSequence: lastAudit == 0 ? nil : lastAudit, snapshot: txn.id)
        }
    }

    // MARK: - In a read transaction

    /// The walks below unmap the store pages they have read every this many entries
    /// (``releaseMappedPages()``): the map is read-only and file-backed, so a page is simply
    /// faulted in again if touched, and a walk of the whole store does not make this process's
    /// resident set the size of the store.
    static let entriesBetweenReleases = 1 << 13

    func certificateCounts(_ txn: borrowing Transaction, issuer: IssuerID) throws -> CertificateCounts {
        var counts = CertificateCounts()
        let hold = UInt8(RevocationReason.certificateHold.rawValue)
        var visited = 0
        try txn.forEach(certs, prefix: issuer.bytes) { key, value in
            visited += 1
            if visited % Self.entriesBetweenReleases == 0 { environment.releaseMappedPages() }
            // The layout of CertificateRecord.encoded: version, status, reason, then dates.
            let version1 = value.count == 27 && value[0] == 1
            guard version1 || (value.count == CertificateRecord.encodedCount && value[0] == 2) else {
                throw Self.corruptRecord(key, issuer: issuer)
            }
            switch (value[1], value[2]) {
            case (0, _): counts.good += 1
            case (1, hold): counts.hold += 1
            case (1, _): counts.revoked += 1
            default: throw Self.corruptRecord(key, issuer: issuer)
            }
            return true
        }
        return counts
    }

    func responseStatistics(_ txn: borrowing Transaction, issuer: IssuerID, now: Date) throws -> ResponseStatistics {
        var result = ResponseStatistics()
        let nowSeconds = CachedResponse.seconds(now)
        var oldest = Int64.max
        var newest = Int64.min
        var earliest = Int64.max
        var latest = Int64.min
        try txn.forEach(responses, prefix: issuer.bytes) { _, value in
            result.count += 1
            if result.count % Self.entriesBetweenReleases == 0 { environment.releaseMappedPages() }
            // Versions 1 and 2 both start version(1) kind(1) thisUpdate(8) nextUpdate(8).
            guard value.count >= 18, value[0] == 1 || value[0] == 2 else { return true }
            let thisUpdate = CachedResponse.int64(value, at: 2)
            let nextUpdate = CachedResponse.int64(value, at: 10)
            oldest = min(oldest, thisUpdate)
            newest = max(newest, thisUpdate)
            earliest = min(earliest, nextUpdate)
            latest = max(latest, nextUpdate)
            if nextUpdate <= nowSeconds { result.expired += 1 }
            return true
        }
        func date(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }
        if oldest != .max {
            result.oldestThisUpdate = date(oldest)
            result.newestThisUpdate = date(newest)
            result.earliestNextUpdate = date(earliest)
            result.latestNextUpdate = date(latest)
        }
        return result
    }

    func crlStatistics(_ txn: borrowing Transaction, issuer: IssuerID) throws -> CRLStatistics {
        var result = CRLStatistics()
        if let counter = try txn.get(meta, Array("crl_number:".utf8) + issuer.bytes), counter.count == 8 {
            result.lastReservedNumber = counter.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
        }
        let slug = Array(issuer.slug.utf8)
        try txn.forEach(crls, prefix: slug) { key, value in
            // StoredCRL.encoded: version(1) number(8) thisUpdate(8) nextUpdate(8) etag(8) der.
            guard key.count == slug.count + 3, key[slug.count] != StoredFilter.key(slug: "")[0], value.count > 33, value[0] == 1
            else { return true }  // (the issuer's revocation filter is kept next to its CRLs)
            let summary = CRLStatistics.Summary(
                number: UInt64(bitPattern: CachedResponse.int64(value, at: 1)),
                thisUpdate: Date(timeIntervalSince1970: TimeInterval(CachedResponse.int64(value, at: 9))),
                nextUpdate: Date(timeIntervalSince1970: TimeInterval(CachedResponse.int64(value, at: 17))))
            switch key[slug.count] {
            case CRLScope.full.keyBytes[0]: result.full = summary
            case CRLScope.delta.keyBytes[0]: result.delta = summary
            default:
                result.shards += 1
                result.latestShardNumber = max(result.latestShardNumber ?? 0, summary.number)
            }
            return true
        }
        return result
    }

    /// The error for a `certs` record that does not decode, naming its certificate.
    private static func corruptRecord(_ key: UnsafeRawBufferPointer, issuer: IssuerID) -> StoreError {
        let serial = SerialNumber(bytes: UnsafeRawBufferPointer(rebasing: key[min(key.count, IssuerID.byteCount)...]))
        return StoreError(.corrupt, "the record of certificate \(serial.hex) of issuer \(issuer) does not decode")
    }

    /// The length of `data.mdb` and the bytes allocated for it on disk (0, 0 if it cannot be read).
    private func dataFileSize() -> (length: Int, allocated: Int) {
        var path: UnsafePointer<CChar>? = nil
        guard mdb_env_get_path(environment.env, &path) == 0, let path else { return (0, 0) }
        var info = stat()
        guard stat(String(cString: path) + "/data.mdb", &info) == 0 else { return (0, 0) }
        return (Int(info.st_size), Int(info.st_blocks) * 512)
    }
}
