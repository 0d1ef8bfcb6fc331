public import Foundation
internal import OCSPCore
public import OCSPValues
internal import RevocationStore
internal import Locking

extension OCSPResponder {
    /// (Re)signs the SHA-1 response of every certificate (of `issuer`, if given), on every core,
    /// a page at a time so memory stays flat however large the store.
    /// - Parameters:
    ///   - progress: called after each page with (signed so far, total).
    /// - Returns: how many responses were signed and stored.
    public func presign(
        issuer: IssuerID? = nil, workers: Int = ProcessInfo.processInfo.activeProcessorCount, pageSize: Int = 4096,
        progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> Int {
        var total = try store.certificateCount()
        var cursor: [UInt8]? = nil
        if issuer != nil {
            total = 0
            repeat {
                let page = try store.certificatesPage(issuer: issuer, after: cursor, limit: 65536)
                total += page.items.count
                cursor = page.next
            } while cursor != nil
        }

        // Sign page n+1 while page n is written (the write ends in an fsync): at most one page
        // waits for the store, so memory stays at two pages.
        let writer = PageWriter(store: store, total: total, progress: progress)
        cursor = nil
        var ranked = 0
        repeat {
            let page = try store.certificatesPage(issuer: issuer, after: cursor, limit: pageSize)
            cursor = page.next
            let signed = try signConcurrently(page.items, workers: workers, first: ranked, of: total)
            ranked += page.items.count
            try writer.enqueue(signed)
        } while cursor != nil
        let count = try writer.finish()
        // In-process caches (a running ocspd's) drop what they hold for these issuers: after a
        // responder rotation they serve the new signatures at once.
        for id in try issuer.map({ [$0] }) ?? store.allIssuers().map(\.id) { try store.announceIssuerChange(id) }
        return count
    }

    /// Signs a page; item i is number `first + i` of `total`, which places its refresh.
    private func signConcurrently(
        _ items: [(IssuerID, SerialNumber, CertificateRecord)], workers: Int, first: Int, of total: Int
    ) throws -> [(ResponseKey, CachedResponse, CertificateRecord?)] {
        let now = Date()
        let results = LockedValue<[Int: Swift.Result<CachedResponse, any Error>]>([:])
        let chunk = max(1, (items.count + workers - 1) / max(1, workers))
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { worker in
            // Clamped both ends: with fewer items than workers (none, for an empty store) the
            // last workers get an empty range, not an inverted one.
            let range = min(items.count, worker * chunk)..<min(items.count, (worker + 1) * chunk)
            guard !range.isEmpty else { return }
            var local: [Int: Swift.Result<CachedResponse, any Error>] = [:]
            for index in range {
                let (issuer, serial, record) = items[index]
                let key = ResponseKey(issuer: issuer, algorithm: .sha1, serial: serial)
                let spread = Double(first + index) / Double(max(total, 1))
                local[index] = Swift.Result { try sign(key, record: record, now: now, spread: min(spread, 1), reason: .presign) }
            }
            results.withLock { $0.merge(local) { a, _ in a } }
        }
        let signed = results.withLock { $0 }
        return try items.indices.map { index in
            let (issuer, serial, record) = items[index]
            return (ResponseKey(issuer: issuer, algorithm: .sha1, serial: serial), try signed[index]!.get(), record)
        }
    }
}

/// Writes signed pages on a background queue, one at a time, in order.
private final class PageWriter: @unchecked Sendable {
    // @unchecked: `done` and `failure` are only touched on `queue`, or after `queue.sync`.
    private let store: RevocationStore
    private let total: Int
    private let progress: @Sendable (Int, Int) -> Void
    private let queue = DispatchQueue(label: "presign-writer")
    private let slot = DispatchSemaphore(value: 1)
    private var done = 0
    private var failure: (any Error)?

    init(store: RevocationStore, total: Int, progress: @escaping @Sendable (Int, Int) -> Void) {
        self.store = store
        self.total = total
        self.progress = progress
    }

    func enqueue(_ page: [(ResponseKey, CachedResponse, CertificateRecord?)]) throws {
        slot.wait()
        if let failure = queue.sync(execute: { self.failure }) {
            slot.signal()
            throw failure
        }
        queue.async {
            defer { self.slot.signal() }
            guard self.failure == nil else { return }
            do {
                self.done += try self.store.storeResponses(page)
                self.store.releaseMappedPages()
                self.progress(self.done, self.total)
            } catch {
                self.failure = error
            }
        }
    }

    func finish() throws -> Int {
        try queue.sync {
            if let failure { throw failure }
            return done
        }
    }
}

extension OCSPResponder {
    /// Signs again the SHA-1 responses of certificates whose status just changed elsewhere (a
    /// follower applied the system of record's changes, which dropped their cached responses),
    /// from their records now, and stores each only if its record is still the one signed for.
    /// Past `limit` certificates it stops: the rest are signed on their first request, and by the
    /// refresher. Certificates whose issuer cannot sign here are skipped the same way.
    /// - Returns: how many responses were stored.
    @discardableResult
    public func resign(_ certificates: [(IssuerID, SerialNumber)], limit: Int = 1000, now: Date = Date()) -> Int {
        var items: [(ResponseKey, CachedResponse, CertificateRecord?)] = []
        for (issuer, serial) in certificates.prefix(limit) {
            let key = ResponseKey(issuer: issuer, algorithm: .sha1, serial: serial)
            guard let record = try? store.certificate(issuer: issuer, serial: serial),
                let response = try? sign(key, record: record, now: now, reason: .statusChange)
            else { continue }
            items.append((key, response, record))
        }
        return (try? store.storeResponses(items)) ?? 0
    }
}
