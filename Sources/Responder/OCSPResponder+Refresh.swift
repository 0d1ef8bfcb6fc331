public import Foundation
internal import RevocationStore

extension OCSPResponder {
    /// What one refresh pass did.
    public struct RefreshReport: Sendable {
        public var refreshed = 0
        /// Cached `unknown` responses that fell due and were dropped rather than re-signed (so
        /// queries for random serials do not pile up in the store).
        public var dropped = 0
    }

    /// Re-signs up to `limit` cached responses whose refresh time has come, in one transaction.
    /// A response whose certificate changed status meanwhile is left to that change's own re-signing.
    public func refreshDue(now: Date = Date(), limit: Int = 256) throws -> RefreshReport {
        let due = try store.responsesDue(at: now, limit: limit)
        var report = RefreshReport()
        var items: [(ResponseKey, CachedResponse, CertificateRecord?)] = []
        var drop: [ResponseKey] = []
        for (key, kind) in due {
            let record = try store.certificate(issuer: key.issuer, serial: key.serial)
            if kind == .unknown && record == nil {
                drop.append(key)
                continue
            }
            items.append((key, try sign(key, record: record, now: now, reason: .refresh), record))
        }
        if !drop.isEmpty {
            try store.deleteResponses(drop)
            report.dropped = drop.count
        }
        if !items.isEmpty { report.refreshed = try store.storeResponses(items) }
        return report
    }
}
