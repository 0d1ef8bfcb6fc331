#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pthread read-write lock (ThreadSanitizer sees it, as it sees ``LockedValue``): many readers
/// at once, or one writer, who may give up after a time.
///
/// @unchecked Sendable: the lock is only reached through pthread calls.
package final class ReadWriteLock: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    package init() {
        lock = .allocate(capacity: 1)
        let rc = pthread_rwlock_init(lock, nil)
        precondition(rc == 0, "pthread_rwlock_init failed: \(rc)")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` holding the lock shared.
    package func withReadLock<Result, E: Error>(_ body: () throws(E) -> Result) throws(E) -> Result {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body` holding the lock alone, or returns nil without running it when the readers
    /// did not all leave within `timeout` seconds.
    package func withWriteLock<Result, E: Error>(timeout: Double, _ body: () throws(E) -> Result) throws(E) -> Result? {
        var deadline = realtime(after: timeout)
        guard pthread_rwlock_timedwrlock(lock, &deadline) == 0 else { return nil }
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}

/// A mutex that guards a stretch of work rather than a value (``LockedValue`` guards a value).
///
/// @unchecked Sendable: the mutex is only reached through pthread calls.
package final class SerialLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    package init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the mutex held.
    package func run<Result, E: Error>(_ body: () throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// Admission to a resource that serves at most `capacity` callers at once: up to `queue` more
/// wait, each for at most a timeout; beyond that a caller is turned away at once. A bounded queue
/// in front of something that can be slow (an HSM), so callers fail fast rather than pile up.
///
/// @unchecked Sendable: the counters are only touched with the mutex held.
package final class BoundedGate: @unchecked Sendable {
    /// Why a caller was not let in.
    package enum Refusal: Error, Sendable {
        /// `queue` callers were waiting already.
        case queueFull
        /// No place came free within the timeout.
        case timedOut
    }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let freed: UnsafeMutablePointer<pthread_cond_t>
    private let capacity: Int
    private let queue: Int
    private var inside = 0
    private var waiting = 0

    package init(capacity: Int, queue: Int) {
        precondition(capacity > 0 && queue >= 0)
        self.capacity = capacity
        self.queue = queue
        mutex = .allocate(capacity: 1)
        freed = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(freed, nil)
    }

    deinit {
        pthread_cond_destroy(freed)
        pthread_mutex_destroy(mutex)
        freed.deallocate()
        mutex.deallocate()
    }

    /// Callers inside and callers waiting, now.
    package var load: (inside: Int, waiting: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (inside, waiting)
    }

    /// Runs `body` once a place is free, waiting at most `timeout` seconds for one.
    package func run<Result>(timeout: Double, _ body: () throws -> Result) throws -> Result {
        try enter(timeout: timeout)
        defer { leave() }
        return try body()
    }

    private func enter(timeout: Double) throws(Refusal) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if inside < capacity {
            inside += 1
            return
        }
        guard waiting < queue else { throw .queueFull }
        waiting += 1
        defer { waiting -= 1 }
        var deadline = realtime(after: timeout)
        while inside >= capacity {
            if pthread_cond_timedwait(freed, mutex, &deadline) == ETIMEDOUT, inside >= capacity { throw .timedOut }
        }
        inside += 1
    }

    private func leave() {
        pthread_mutex_lock(mutex)
        inside -= 1
        pthread_cond_signal(freed)
        pthread_mutex_unlock(mutex)
    }
}

/// CLOCK_REALTIME `seconds` from now, as pthread's timed waits take it.
private func realtime(after seconds: Double) -> timespec {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    let nanoseconds = Int(time.tv_nsec) + Int((max(0, seconds) * 1e9).rounded())
    time.tv_sec += nanoseconds / 1_000_000_000
    time.tv_nsec = nanoseconds % 1_000_000_000
    return time
}
