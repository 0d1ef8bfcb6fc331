internal import CMicroHTTPD
internal import Foundation
internal import RevocationStore

/// A per-thread cache of ready-to-queue libmicrohttpd responses, keyed by the request's bytes
/// (the GET path as sent, or the POST body, after a byte that tells them apart), so a repeated
/// request costs a hash, a compare and a queue: no decoding, no store lookup, no allocation.
///
/// Bounded: a fixed number of slots in sets of ``ways`` (a key may sit in any slot of its set; a
/// new one replaces the least recently used), and keys in one slab allocated up front (a longer
/// request is not cached). Never stale: an entry lives at most ``lifetime``, and each one
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
        /// When it was last found or stored (the cache's own clock), to pick a victim in its set.
        var lastUsed: UInt64 = 0
        /// What the metrics need of the response (see ``FrontCache/tag(_:thisUpdate:)``); the
        /// slot stays 64 bytes.
        var tag: UInt64 = 0
    }

    /// What the cache did, for tests and (later) metrics.
    struct Statistics: Equatable {
        var hits = 0
        var inserts = 0
        /// Responses not kept: their request was seen for the first time (see ``admits(_:)``).
        var notAdmitted = 0
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
    /// Slots a key may use. Direct-mapped (1) lost a quarter of the hits of a Zipf-like demand to
    /// two hot requests sharing a slot; four slots of 64 bytes each are four cache lines to look at.
    static let ways = 4

    /// A request's key bytes with their hash, computed once per request.
    struct Key {
        let bytes: UnsafeRawBufferPointer
        let hash: UInt64
        init(_ bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
            hash = FrontCache.hash(bytes)
        }
    }

    // Plain memory the cache owns (no copy-on-write or bounds checks on the request path).
    private let slots: UnsafeMutableBufferPointer<Slot>
    private let keys: UnsafeMutableRawBufferPointer
    /// Sets − 1 (the set count is a power of two).
    private let setMask: Int
    /// Counts lookups and stores: the clock of `Slot.lastUsed`.
    private var clock: UInt64 = 0
    private(set) var statistics = Statistics()
    /// The doorkeeper: one bit per recently seen request hash. A response is kept only when its
    /// request was seen before (TinyLFU's doorkeeper), so requests asked once — most of a
    /// population asked about evenly — neither pay for an insertion nor evict an entry that is
    /// asked for again and again. Cleared after `doorkeeperLimit` new requests, so it only
    /// remembers recent ones.
    private let doorkeeper: UnsafeMutableBufferPointer<UInt64>
    private var doorkeeperCount = 0
    private let doorkeeperLimit: Int

    init(slots count: Int = 4096) {
        precondition(count > 0 && count & (count - 1) == 0, "slot count must be a power of two")
        let total = max(count, Self.ways)
        slots = .allocate(capacity: total)
        slots.initialize(repeating: Slot())
        keys = .allocate(byteCount: total * Self.maximumKeyCount, alignment: 8)
        setMask = total / Self.ways - 1
        // 64 bits a slot, at least 2^16: with at most 8 requests a slot recorded before it is
        // cleared, under 13 % of the bits are set, so few one-off requests slip in.
        let bits = max(1 << 16, total * 64)
        doorkeeper = .allocate(capacity: bits / 64)
        doorkeeper.initialize(repeating: 0)
        doorkeeperLimit = bits / 8
    }

    deinit {
        clear()
        slots.deallocate()
        keys.deallocate()
        doorkeeper.deallocate()
    }

    var count: Int { slots.reduce(0) { $0 + ($1.keyCount > 0 ? 1 : 0) } }

    /// The first slot of `key`'s set.
    private func firstSlot(_ key: Key) -> Int { (Int(truncatingIfNeeded: key.hash) & setMask) * Self.ways }

    /// A response's status label and thisUpdate (seconds since 1970) in one word, kept with it.
    static func tag(_ label: OCSPStatusLabel, thisUpdate: Int64) -> UInt64 {
        UInt64(label.rawValue) | UInt64(bitPattern: thisUpdate) << 8
    }

    /// The status label and thisUpdate a ``tag(_:thisUpdate:)`` holds.
    static func untag(_ tag: UInt64) -> (OCSPStatusLabel, thisUpdate: Int64) {
        (OCSPStatusLabel(rawValue: Int(tag & 0xFF)) ?? .good, Int64(bitPattern: tag) >> 8)
    }

    /// The response cached for `key`, with its tag, if it has not expired at `now`
    /// (``monotonicNow()``); the cache keeps its reference.
    func lookup(_ key: Key, now: UInt64) -> (response: OpaquePointer, tag: UInt64)? {
        let first = firstSlot(key)
        for index in first..<(first + Self.ways) {
            let slot = slots[index]
            guard slot.hash == key.hash, slot.keyCount == key.bytes.count, let response = slot.response,
                memcmp(keys.baseAddress! + index * Self.maximumKeyCount, key.bytes.baseAddress!, key.bytes.count) == 0
            else { continue }
            guard slot.expiresAt > now else { return nil }
            clock &+= 1
            slots[index].lastUsed = clock
            statistics.hits += 1
            return (response, slot.tag)
        }
        return nil
    }

    /// Whether a response to `key` (not found by ``lookup(_:now:)``) is worth keeping: true when
    /// the same request was seen recently; otherwise notes it, for next time.
    func admits(_ key: Key) -> Bool {
        let bit = Int(truncatingIfNeeded: key.hash >> 32) & (doorkeeper.count * 64 - 1)
        let mask: UInt64 = 1 << UInt64(bit & 63)
        if doorkeeper[bit >> 6] & mask != 0 { return true }
        if doorkeeperCount >= doorkeeperLimit {
            doorkeeper.update(repeating: 0)
            doorkeeperCount = 0
        }
        doorkeeper[bit >> 6] |= mask
        doorkeeperCount += 1
        statistics.notAdmitted += 1
        return false
    }

    /// Caches `response` for `key`, taking over one reference to it (released right away if the
    /// key is too long to keep). Replaces whatever the slot held. The entry expires after
    /// ``lifetime``, or when the response does (`validFor` nanoseconds from `now`), if sooner.
    func insert(
        _ key: Key, response: OpaquePointer, issuer: UInt64, certificate: UInt64, tag: UInt64, now: UInt64, validFor: UInt64
    ) {
        guard !key.bytes.isEmpty, key.bytes.count <= Self.maximumKeyCount, validFor > 0 else {
            MHD_destroy_response(response)
            return
        }
        // The slot that held this key, else the least recently used (an empty one has lastUsed 0).
        let first = firstSlot(key)
        var index = first
        for candidate in first..<(first + Self.ways) {
            let slot = slots[candidate]
            if slot.keyCount == key.bytes.count, slot.hash == key.hash,
                memcmp(keys.baseAddress! + candidate * Self.maximumKeyCount, key.bytes.baseAddress!, key.bytes.count) == 0
            {
                index = candidate
                break
            }
            if slot.lastUsed < slots[index].lastUsed { index = candidate }
        }
        release(index)
        UnsafeMutableRawBufferPointer(rebasing: keys[(index * Self.maximumKeyCount)...].prefix(key.bytes.count))
            .copyMemory(from: key.bytes)
        clock &+= 1
        slots[index] = Slot(
            hash: key.hash, keyCount: key.bytes.count, response: response, expiresAt: now + min(Self.lifetime, validFor),
            issuer: issuer, certificate: certificate, lastUsed: clock, tag: tag)
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

    /// Nanoseconds from now for which a response with this thisUpdate and nextUpdate (seconds since
    /// 1970) may be served: until its serving margin before nextUpdate begins
    /// (``CachedResponse/servingMargin(thisUpdate:nextUpdate:)``), 0 if that has passed.
    static func servable(thisUpdate: Int64, nextUpdate: Int64) -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        let now = Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
        let end = nextUpdate - CachedResponse.servingMargin(thisUpdate: thisUpdate, nextUpdate: nextUpdate)
        return UInt64(max(0, end * 1_000_000_000 - now))
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
