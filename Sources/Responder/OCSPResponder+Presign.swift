public import Foundation
internal import OCSPCore
public import RevocationStore
internal import Synchronization

extension OCSPResponder {
    /// (Re)signs the SHA-1 response of every certificate (of `issuer`, if given), on every core,
    /// a page at a time so memory stays flat however large the store.
    /// - Parameters:
    ///   - progress: called after each page with (signed so far, total).
    /// - Returns: how many responses were signed and stored.
    public func presign(
        issuer: IssuerID? = nil, workers: Int = ProcessInfo.processInfo.activeProcessorCount, pageSize: Int = 4096,
        progress: (Int, Int) -> Void = { _, _ in }
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

        var done = 0
        cursor = nil
        repeat {
            let page = try store.certificatesPage(issuer: issuer, after: cursor, limit: pageSize)
            cursor = page.next
            let signed = try signConcurrently(page.items, workers: workers)
            done += try store.storeResponses(signed)
            progress(done, total)
        } while cursor != nil
        return done
    }

    private func signConcurrently(
        _ items: [(IssuerID, SerialNumber, CertificateRecord)], workers: Int
    ) throws -> [(ResponseKey, CachedResponse, CertificateRecord?)] {
        let now = Date()
        let results = Mutex<[Int: Swift.Result<CachedResponse, any Error>]>([:])
        let chunk = max(1, (items.count + workers - 1) / max(1, workers))
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { worker in
            let range = (worker * chunk)..<min(items.count, (worker + 1) * chunk)
            guard !range.isEmpty else { return }
            var local: [Int: Swift.Result<CachedResponse, any Error>] = [:]
            for index in range {
                let (issuer, serial, record) = items[index]
                let key = ResponseKey(issuer: issuer, algorithm: .sha1, serial: serial)
                local[index] = Swift.Result { try sign(key, record: record, now: now) }
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
