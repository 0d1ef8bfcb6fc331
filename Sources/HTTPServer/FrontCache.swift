internal import CMicroHTTPD
internal import Foundation

/// A small per-thread cache of ready-to-queue libmicrohttpd responses, keyed by the request's
/// bytes (the GET path as sent, or the POST body), so a repeated request costs a hash, a compare
/// and a queue: no decoding, no store lookup, no allocation.
///
/// Bounded (a fixed number of slots, direct-mapped) and never stale: an entry lives at most
/// `lifetime`, and the whole cache is dropped when the store's change counter moves, i.e. after
/// any committed write (a revocation by `ocspctl` included) and before the next lookup.
///
/// Not thread-safe: one instance per libmicrohttpd thread.
final class FrontCache {
    struct Entry {
        var key: [UInt8]
        var hash: UInt64
        /// An MHD_Response with body and headers set, owned by this cache (one reference).
        var response: OpaquePointer
        /// The response's ETag header value, quoted.
        var etag: String
        var expiresAt: UInt64
    }

    private var slots: [Entry?]
    private let mask: Int
    private var generation = -1
    /// Entries live this long; Cache-Control max-age is shortened by as much, so no HTTP cache
    /// keeps a response past its nextUpdate.
    static let lifetime: UInt64 = 10_000_000_000

    init(slots count: Int = 4096) {
        precondition(count > 0 && count & (count - 1) == 0, "slot count must be a power of two")
        slots = Array(repeating: nil, count: count)
        mask = count - 1
    }

    deinit { clear() }

    /// Drops everything if the store changed since the last call.
    func validate(generation current: Int) {
        if current != generation {
            clear()
            generation = current
        }
    }

    func lookup(_ key: UnsafeRawBufferPointer, now: UInt64) -> Entry? {
        let hash = Self.hash(key)
        guard let entry = slots[Int(truncatingIfNeeded: hash) & mask], entry.hash == hash, entry.expiresAt > now,
            entry.key.withUnsafeBytes({ $0.elementsEqual(key) })
        else { return nil }
        return entry
    }

    /// Takes over one reference to `response`.
    func insert(_ key: UnsafeRawBufferPointer, response: OpaquePointer, etag: String, now: UInt64) {
        let hash = Self.hash(key)
        let index = Int(truncatingIfNeeded: hash) & mask
        if let old = slots[index] { MHD_destroy_response(old.response) }
        slots[index] = Entry(key: Array(key), hash: hash, response: response, etag: etag, expiresAt: now + Self.lifetime)
    }

    func clear() {
        for index in slots.indices {
            if let entry = slots[index] {
                MHD_destroy_response(entry.response)
                slots[index] = nil
            }
        }
    }

    /// FNV-1a, 64-bit.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    static func monotonicNow() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
