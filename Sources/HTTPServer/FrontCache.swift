internal import CMicroHTTPD
internal import Foundation

/// A per-thread cache of ready-to-queue libmicrohttpd responses, keyed by the request's bytes
/// (the GET path as sent, or the POST body, after a byte that tells them apart), so a repeated
/// request costs a hash, a compare and a queue: no decoding, no store lookup, no allocation.
///
/// Bounded: a fixed number of direct-mapped slots, and keys in one slab allocated up front (a
/// longer request is not cached). Never stale: an entry lives at most ``lifetime``, and each one
/// carries the identities of its issuer and certificate (see `RevocationStore.CacheIdentity`), so
/// a change in the store's feed drops exactly the entries it concerns (``drop(issuer:certificate:)``).
///
/// Not thread-safe: one instance per libmicrohttpd thread.
final class FrontCache {
    private struct Slot {
        var hash: UInt64 = 0
        /// 0: empty.
        var keyCount = 0
        /// An MHD_Response with body and headers set, owned by this cache (one reference).
        var response: OpaquePointer? = nil
        var expiresAt: UInt64 = 0
        var issuer: UInt64 = 0
        var certificate: UInt64 = 0
    }

    /// What the cache did, for tests and (later) metrics.
    struct Statistics: Equatable {
        var hits = 0
        var inserts = 0
        /// Entries dropped because the change feed named their certificate or issuer.
        var invalidated = 0
        /// Times everything was dropped at once.
        var cleared = 0
    }

    /// Entries live this long; Cache-Control max-age is shortened by as much, so no HTTP cache
    /// keeps a response past its nextUpdate.
    static let lifetime: UInt64 = 10_000_000_000
    /// The longest request key kept (1 + the GET path or POST body).
    static let maximumKeyCount = 256

    private var slots: [Slot]
    private let keys: UnsafeMutableRawBufferPointer
    private let mask: Int
    private(set) var statistics = Statistics()

    init(slots count: Int = 4096) {
        precondition(count > 0 && count & (count - 1) == 0, "slot count must be a power of two")
        slots = Array(repeating: Slot(), count: count)
        keys = .allocate(byteCount: count * Self.maximumKeyCount, alignment: 8)
        mask = count - 1
    }

    deinit {
        clear()
        keys.deallocate()
    }

    var count: Int { slots.reduce(0) { $0 + ($1.keyCount > 0 ? 1 : 0) } }

    /// The response cached for `key` if it has not expired at `now` (``monotonicNow()``); the
    /// cache keeps its reference.
    func lookup(_ key: UnsafeRawBufferPointer, now: UInt64) -> OpaquePointer? {
        let hash = Self.hash(key)
        let index = Int(truncatingIfNeeded: hash) & mask
        let slot = slots[index]
        guard slot.keyCount == key.count, slot.hash == hash, slot.expiresAt > now, let response = slot.response,
            memcmp(keys.baseAddress! + index * Self.maximumKeyCount, key.baseAddress!, key.count) == 0
        else { return nil }
        statistics.hits += 1
        return response
    }

    /// Caches `response` for `key`, taking over one reference to it (released right away if the
    /// key is too long to keep). Replaces whatever the slot held. The entry expires after
    /// ``lifetime``, or when the response does (`validFor` nanoseconds from `now`), if sooner.
    func insert(
        _ key: UnsafeRawBufferPointer, response: OpaquePointer, issuer: UInt64, certificate: UInt64, now: UInt64,
        validFor: UInt64
    ) {
        guard !key.isEmpty, key.count <= Self.maximumKeyCount, validFor > 0 else {
            MHD_destroy_response(response)
            return
        }
        let hash = Self.hash(key)
        let index = Int(truncatingIfNeeded: hash) & mask
        release(index)
        UnsafeMutableRawBufferPointer(rebasing: keys[(index * Self.maximumKeyCount)...].prefix(key.count))
            .copyMemory(from: key)
        slots[index] = Slot(
            hash: hash, keyCount: key.count, response: response, expiresAt: now + min(Self.lifetime, validFor), issuer: issuer,
            certificate: certificate)
        statistics.inserts += 1
    }

    /// Drops the entries of one certificate, or of every certificate of an issuer when
    /// `certificate` is nil.
    func drop(issuer: UInt64, certificate: UInt64?) {
        for index in slots.indices where slots[index].keyCount > 0 {
            let matches = certificate.map { slots[index].certificate == $0 } ?? (slots[index].issuer == issuer)
            if matches {
                release(index)
                statistics.invalidated += 1
            }
        }
    }

    /// Drops everything.
    func clear() {
        for index in slots.indices { release(index) }
        statistics.cleared += 1
    }

    private func release(_ index: Int) {
        if let response = slots[index].response { MHD_destroy_response(response) }
        slots[index] = Slot()
    }

    /// A 64-bit hash of the key, eight bytes at a time (a multiply and a rotate per word; the
    /// compare after it makes collisions harmless).
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var offset = 0
        while offset + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            hash = ((hash ^ word) &* 0xFF51_AFD7_ED55_8CCD).rotateLeft(31)
            offset += 8
        }
        var tail: UInt64 = 0
        while offset < bytes.count {
            tail = tail << 8 | UInt64(bytes[offset])
            offset += 1
        }
        hash = (hash ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return hash ^ hash >> 29
    }

    /// Nanoseconds from now until `nextUpdate` (seconds since 1970), 0 if it has passed.
    static func remaining(until nextUpdate: Int64) -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        let now = Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
        return UInt64(max(0, nextUpdate * 1_000_000_000 - now))
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    static func monotonicNow() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

extension UInt64 {
    fileprivate func rotateLeft(_ count: UInt64) -> UInt64 { self << count | self >> (64 - count) }
}
