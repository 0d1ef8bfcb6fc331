public import Foundation
public import OCSPValues

/// The key of a cached response: issuer id ‖ CertID hash algorithm ‖ serial.
public struct ResponseKey: Hashable, Sendable {
    public let issuer: IssuerID
    public let algorithm: HashAlgorithm
    public let serial: SerialNumber

    public init(issuer: IssuerID, algorithm: HashAlgorithm, serial: SerialNumber) {
        self.issuer = issuer
        self.algorithm = algorithm
        self.serial = serial
    }

    var bytes: [UInt8] { issuer.bytes + [algorithm.rawValue] + serial.bytes }

    init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 33, let algorithm = HashAlgorithm(rawValue: bytes[32]) else { return nil }
        issuer = IssuerID(bytes: Array(bytes[0..<32]))
        self.algorithm = algorithm
        serial = SerialNumber(bytes: bytes[33...])
    }
}

/// Produces the signed response for a key given the certificate's current record (nil: not in
/// the store), inside the caller's write transaction.
public typealias ResponseSigning = (_ key: ResponseKey, _ record: CertificateRecord?) throws -> CachedResponse

extension RevocationStore {
    /// The result of looking up a CertID in the signature cache.
    public enum CacheLookup: Sendable {
        case unknownIssuer
        /// A cached response that is still valid at the time asked.
        case hit(ResponseKey, CachedResponse)
        /// Nothing to serve: the certificate's record to sign from (nil: not in store), and whether
        /// a response was cached but is stale (expired, or a record that does not decode).
        case miss(ResponseKey, CertificateRecord?, stale: Bool)
    }

    /// Looks up a CertID's cached response, falling back to its status, in one read transaction.
    /// - Returns: the lookup, and the ``changeCounter`` value of the snapshot it read.
    public func lookupCached(_ certID: CertID, now: Date) throws -> (CacheLookup, snapshot: Int) {
        let indexKey = certID.issuer.indexKey
        return try environment.read { txn in (try lookupCached(txn, certID, indexKey, now), txn.id) }
    }

    private func lookupCached(_ txn: borrowing Transaction, _ certID: CertID, _ indexKey: [UInt8], _ now: Date) throws
        -> CacheLookup
    {
            guard let id = try txn.get(issuerIndex, indexKey) else { return .unknownIssuer }
            let key = ResponseKey(issuer: IssuerID(bytes: id), algorithm: certID.hashAlgorithm, serial: certID.serialNumber)
            // A record that does not decode is as good as none: sign anew from the status.
            let (stored, cached) = try key.bytes.withUnsafeBytes { k in
                try txn.withValue(responses, key: k) { ($0 != nil, $0.flatMap { try? CachedResponse(encoded: $0) }) }
            }
            if let cached, cached.isServable(at: now) { return .hit(key, cached) }
            return .miss(key, try record(txn, issuer: key.issuer, serial: key.serial), stale: stored)
    }

    /// The cached response for a key, or nil.
    public func cachedResponse(_ key: ResponseKey) throws -> CachedResponse? {
        try environment.read { txn in
            try key.bytes.withUnsafeBytes { k in
                try txn.withValue(responses, key: k) { try $0.map(CachedResponse.init(encoded:)) }
            }
        }
    }

    /// Stores `response` for `key` only if the certificate's record is still `expected` (so a
    /// response signed from a status that has since changed is dropped). Returns whether it stored.
    @discardableResult
    public func storeResponse(_ response: CachedResponse, for key: ResponseKey, ifRecordIs expected: CertificateRecord?)
        throws -> Bool
    {
        try environment.write { txn in
            guard try record(txn, issuer: key.issuer, serial: key.serial) == expected else { return false }
            try putResponse(txn, key, response)
            return true
        }
    }

    /// Stores many responses in one transaction, each only if its record is unchanged. Returns how many.
    @discardableResult
    public func storeResponses(_ items: [(ResponseKey, CachedResponse, CertificateRecord?)]) throws -> Int {
        try environment.write { txn in
            var stored = 0
            for (key, response, expected) in items where try record(txn, issuer: key.issuer, serial: key.serial) == expected {
                try putResponse(txn, key, response)
                stored += 1
            }
            return stored
        }
    }

    /// Up to `limit` cached responses whose refresh time is at or before `now`, earliest first.
    public func responsesDue(at now: Date, limit: Int) throws -> [(ResponseKey, CachedResponse.Kind)] {
        let nowSeconds = CachedResponse.seconds(now)
        var due: [ResponseKey] = []
        try environment.read { txn in
            try txn.forEach(refreshQueue) { key, _ in
                guard key.count > 8, due.count < limit else { return false }
                guard CachedResponse.int64(key, at: 0) <= nowSeconds else { return false }
                if let responseKey = ResponseKey(bytes: UnsafeRawBufferPointer(rebasing: key[8...])) {
                    due.append(responseKey)
                }
                return true
            }
        }
        return try due.compactMap { key in try cachedResponse(key).map { (key, $0.kind) } }
    }

    /// How fresh the signature cache is, and how big the store: for metrics and readiness.
    public struct Freshness: Sendable, Equatable {
        public var certificates = 0
        public var responses = 0
        /// Cached responses whose refresh time has passed (counted up to the `limit` given).
        public var refreshBacklog = 0
        /// The earliest refresh time that has passed: how far behind the refresher is.
        public var oldestDue: Date?
        /// The earliest nextUpdate among the responses looked at: the first `sample` due for
        /// refresh and the next `sample` to fall due. Responses are queued by refresh time, which
        /// comes well before nextUpdate, so the ones nearest their nextUpdate are among these.
        public var earliestNextUpdate: Date?
        /// Responses looked at that are past their nextUpdate (re-signed before they are served,
        /// or answered tryLater when no signature can be made).
        public var expired = 0
        /// Bytes of the store file in use, and the most it may grow to.
        public var usedBytes = 0
        public var mapSize = 0
    }

    /// Reads ``Freshness`` in one read transaction: a walk of the refresh queue's due part (up to
    /// `limit` entries) and `sample` more, and one response lookup for each of `sample` due and
    /// `sample` not yet due.
    public func freshness(now: Date = Date(), sample: Int = 1024, limit: Int = 1_000_000) throws -> Freshness {
        let nowSeconds = CachedResponse.seconds(now)
        var result = Freshness()
        (result.usedBytes, result.mapSize) = environment.usage
        try environment.read { txn in
            result.certificates = try txn.count(certs)
            result.responses = try txn.count(responses)
            var dueLookedAt = 0
            var laterLookedAt = 0
            var earliest = Int64.max
            try txn.forEach(refreshQueue) { key, _ in
                guard key.count > 8 else { return true }
                let refreshAt = CachedResponse.int64(key, at: 0)
                let due = refreshAt <= nowSeconds
                if due {
                    if result.refreshBacklog == 0 { result.oldestDue = Date(timeIntervalSince1970: TimeInterval(refreshAt)) }
                    result.refreshBacklog += 1
                    if result.refreshBacklog >= limit { return false }
                    guard dueLookedAt < sample else { return true }
                    dueLookedAt += 1
                } else {
                    guard laterLookedAt < sample else { return false }
                    laterLookedAt += 1
                }
                let nextUpdate = try txn.withValue(responses, key: UnsafeRawBufferPointer(rebasing: key[8...])) { value in
                    value.flatMap { $0.count >= 18 ? CachedResponse.int64($0, at: 10) : nil }
                }
                if let nextUpdate {
                    earliest = min(earliest, nextUpdate)
                    if nextUpdate <= nowSeconds { result.expired += 1 }
                }
                return true
            }
            if earliest != .max { result.earliestNextUpdate = Date(timeIntervalSince1970: TimeInterval(earliest)) }
        }
        return result
    }

    /// Deletes cached responses (and their refresh entries).
    public func deleteResponses(_ keys: [ResponseKey]) throws {
        try environment.write { txn in
            for key in keys { try deleteResponse(txn, key) }
        }
    }

    /// How many responses are cached.
    public func cachedResponseCount() throws -> Int {
        try environment.read { txn in try txn.count(responses) }
    }

    // MARK: - In a write transaction

    func record(_ txn: borrowing Transaction, issuer: IssuerID, serial: SerialNumber) throws -> CertificateRecord? {
        try (issuer.bytes + serial.bytes).withUnsafeBytes { k in
            try txn.withValue(certs, key: k) { try $0.map(CertificateRecord.init(encoded:)) }
        }
    }

    func putResponse(_ txn: borrowing Transaction, _ key: ResponseKey, _ response: CachedResponse) throws {
        let keyBytes = key.bytes
        let old = try keyBytes.withUnsafeBytes { k in
            try txn.withValue(responses, key: k) { $0.flatMap(CachedResponse.refreshAt(encoded:)) }
        }
        // The put replaces the old response; only its refresh-queue entry needs deleting.
        if let old { try txn.delete(refreshQueue, Self.queueKey(old, keyBytes)) }
        try txn.put(responses, keyBytes, response.encoded)
        try txn.put(refreshQueue, Self.queueKey(response.refreshAt, keyBytes), [])
    }

    func deleteResponse(_ txn: borrowing Transaction, _ key: ResponseKey) throws {
        let old = try key.bytes.withUnsafeBytes { k in
            try txn.withValue(responses, key: k) { $0.flatMap(CachedResponse.refreshAt(encoded:)) }
        }
        guard let old else { return }
        try txn.delete(refreshQueue, Self.queueKey(old, key.bytes))
        try txn.delete(responses, key.bytes)
    }

    /// After a status change: puts the responses signed ahead for the new record, and drops every
    /// other cached response of the serial, so no stale answer outlives the transaction.
    func replaceResponses(
        _ txn: borrowing Transaction, issuer: IssuerID, serial: SerialNumber, signed: [ResponseKey: CachedResponse]
    ) throws {
        for algorithm in HashAlgorithm.allCases {
            let key = ResponseKey(issuer: issuer, algorithm: algorithm, serial: serial)
            if let response = signed[key] {
                try putResponse(txn, key, response)
            } else {
                try deleteResponse(txn, key)
            }
        }
    }

    /// One certificate's change, worked out before the write transaction.
    struct PlannedChange {
        let serial: SerialNumber
        /// The record the change replaces (nil: the serial is new), as read before the write.
        let previous: CertificateRecord?
        let updated: CertificateRecord
    }

    /// Signs the responses of changed records before their write transaction: the SHA-1 one, and
    /// one for each other hash algorithm cached now. Signing may wait on an HSM, and LMDB has one
    /// writer: a revocation must not hold every other write (and ocspd's cache fills) behind a
    /// slow token. The write uses a serial's responses only if its record is still `previous`
    /// (see ``signedAhead(_:for:current:)``); a signature that fails is left out, and the write
    /// then drops that response instead (ocspd signs it on the next request: never a stale one).
    func signAhead(issuer: IssuerID, _ changes: [PlannedChange], sign: ResponseSigning?) throws -> [SerialNumber: [ResponseKey: CachedResponse]] {
        guard let sign, !changes.isEmpty else { return [:] }
        let wanted: [(PlannedChange, [ResponseKey])] = try environment.read { txn in
            try changes.map { change in
                let keys = try HashAlgorithm.allCases.compactMap { algorithm -> ResponseKey? in
                    let key = ResponseKey(issuer: issuer, algorithm: algorithm, serial: change.serial)
                    let exists = try key.bytes.withUnsafeBytes { k in try txn.withValue(responses, key: k) { $0 != nil } }
                    return exists || algorithm == .sha1 ? key : nil
                }
                return (change, keys)
            }
        }
        var signed: [SerialNumber: [ResponseKey: CachedResponse]] = [:]
        for (change, keys) in wanted {
            for key in keys {
                if let response = try? sign(key, change.updated) { signed[change.serial, default: [:]][key] = response }
            }
        }
        return signed
    }

    /// The responses signed ahead for `serial`, if the write replaces the record they were
    /// planned against with the record they were signed for (else none: the responses are dropped).
    static func signedAhead(
        _ signed: [SerialNumber: [ResponseKey: CachedResponse]], _ plans: [SerialNumber: PlannedChange],
        serial: SerialNumber, replacing current: CertificateRecord?, with updated: CertificateRecord
    ) -> [ResponseKey: CachedResponse] {
        guard let plan = plans[serial], plan.previous == current, plan.updated == updated else { return [:] }
        return signed[serial] ?? [:]
    }

    static func queueKey(_ refreshAt: Date, _ key: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(8 + key.count)
        withUnsafeBytes(of: CachedResponse.seconds(refreshAt).bigEndian) { out += $0 }
        return out + key
    }
}
