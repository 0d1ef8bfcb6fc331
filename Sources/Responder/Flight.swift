internal import Foundation
internal import RevocationStore

/// One in-progress signature that concurrent requests for the same key wait on (single-flight).
///
/// @unchecked Sendable: `outcome` is only read and written with `condition` held.
final class Flight: @unchecked Sendable {
    private let condition = NSCondition()
    private var outcome: Result<CachedResponse, any Error>?

    /// Blocks until the leader finishes; returns its response or rethrows its error.
    func wait() throws -> CachedResponse {
        condition.lock()
        defer { condition.unlock() }
        while outcome == nil { condition.wait() }
        return try outcome!.get()
    }

    func finish(_ result: Result<CachedResponse, any Error>) {
        condition.lock()
        outcome = result
        condition.broadcast()
        condition.unlock()
    }
}
