internal import Foundation
internal import Logging
internal import Responder
internal import Synchronization

/// What one libmicrohttpd thread keeps between requests: its front cache, its way into the
/// responder's signature cache, and a pool of POST body buffers. Reached through a pthread key;
/// freed when the thread exits.
final class ThreadContext {
    let frontCache: FrontCache
    /// Nil if the store could not be read when the thread started; requests then take the full
    /// path, and the front cache (which could not follow the store's changes) stays unused.
    let reader: OCSPResponder.Reader?
    /// Counters other threads may read (``HTTPServer/statistics``); only this thread writes them.
    let counters = Counters()
    private var postPool: [PostState] = []
    /// xorshift64 state for sampling the request log (never 0).
    private var random = UInt64.random(in: 1...UInt64.max)

    /// When more than this many changes arrive at once, the front cache is cleared instead of
    /// searched once per change.
    static let changesSearchedOneByOne = 64

    init(responder: OCSPResponder, frontCacheEntries: Int, logger: Logger) {
        frontCache = FrontCache(slots: frontCacheEntries)
        do {
            reader = try OCSPResponder.Reader(responder: responder)
        } catch {
            logger.error("cannot read the store; serving without the fast path", metadata: ["error": "\(error)"])
            reader = nil
        }
    }

    /// Whether to log this request, with probability `rate`.
    func sample(_ rate: Double) -> Bool {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return Double(random >> 11) * 0x1p-53 < rate
    }

    func takePostState() -> PostState {
        if let state = postPool.popLast() { return state }
        return PostState()
    }

    func recycle(_ state: PostState) {
        state.body.removeAll(keepingCapacity: true)
        if postPool.count < 64 { postPool.append(state) }
    }

    /// Drops what the store's changes made stale from the front cache (nothing to do, and one
    /// shared-memory read, when nothing was committed since the last call). Returns false if the
    /// front cache must not be used (the store could not be read).
    func synchronize(logger: Logger) -> Bool {
        guard let reader else { return false }
        var pending: [(issuer: UInt64, certificate: UInt64?)] = []
        var dropAll = false
        do {
            try reader.synchronize(
                drop: { issuer, certificate in
                    if pending.count < Self.changesSearchedOneByOne {
                        pending.append((issuer, certificate))
                    } else {
                        dropAll = true
                    }
                },
                dropAll: { dropAll = true })
        } catch {
            logger.error("cannot read the store's changes; front cache cleared", metadata: ["error": "\(error)"])
            dropAll = true
        }
        if dropAll {
            frontCache.clear()
        } else {
            for (issuer, certificate) in pending { frontCache.drop(issuer: issuer, certificate: certificate) }
        }
        counters.publish(frontCache.statistics)
        return true
    }
}

/// Per-request state of a POST: the body read so far.
final class PostState {
    var body: [UInt8] = []
}

/// One thread's counters, written by that thread only and read by others.
final class Counters: Sendable {
    let storeAnswers = Atomic<Int>(0)
    let fullPathAnswers = Atomic<Int>(0)
    let frontCacheHits = Atomic<Int>(0)
    let frontCacheInserts = Atomic<Int>(0)
    let frontCacheNotAdmitted = Atomic<Int>(0)
    let frontCacheInvalidated = Atomic<Int>(0)
    let frontCacheCleared = Atomic<Int>(0)
    /// Requests whose head arrived, and requests libmicrohttpd reported complete (answered, or
    /// ended), on this thread: their difference is what a graceful stop waits for.
    let requestsStarted = Atomic<Int>(0)
    let requestsCompleted = Atomic<Int>(0)
    /// Answers by status, latency and age, for `/metrics`.
    let requests = RequestCells()

    /// Adds one, as the only writer (a plain load and store: no locked instruction).
    static func bump(_ counter: borrowing Atomic<Int>) {
        counter.store(counter.load(ordering: .relaxed) + 1, ordering: .relaxed)
    }

    func publish(_ statistics: FrontCache.Statistics) {
        frontCacheHits.store(statistics.hits, ordering: .relaxed)
        frontCacheInserts.store(statistics.inserts, ordering: .relaxed)
        frontCacheNotAdmitted.store(statistics.notAdmitted, ordering: .relaxed)
        frontCacheInvalidated.store(statistics.invalidated, ordering: .relaxed)
        frontCacheCleared.store(statistics.cleared, ordering: .relaxed)
    }
}

/// The pthread key under which each thread's ``ThreadContext`` lives.
struct ThreadContextKey: @unchecked Sendable {
    // @unchecked: a pthread_key_t is an integer handle, created once and only read afterwards.
    let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<ThreadContext>.fromOpaque(pointer).release() }
        }
        self.key = key
    }

    /// This thread's context, or nil before ``install(_:)``.
    var current: ThreadContext? {
        pthread_getspecific(key).map { Unmanaged<ThreadContext>.fromOpaque($0).takeUnretainedValue() }
    }

    func install(_ context: ThreadContext) {
        pthread_setspecific(key, Unmanaged.passRetained(context).toOpaque())
    }
}
