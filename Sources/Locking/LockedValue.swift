#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value that threads share, reached only with its lock held: `Synchronization.Mutex`'s
/// `withLock`, over a pthread mutex.
///
/// Why not `Mutex`: on Linux it locks with futexes directly, which ThreadSanitizer cannot see, so
/// every access under it was reported as a race (a ten-line program incrementing a dictionary
/// under `Mutex.withLock` from four threads gets the same reports). ThreadSanitizer intercepts
/// pthread mutexes, so with this the sanitizer run (`Tests/Sanitizers/run.sh thread`) reports
/// only real races. Uncontended, both are one atomic operation to lock and one to unlock.
///
/// @unchecked Sendable: `value` is only touched inside `withLock`, with the mutex held, and
/// `sending` keeps non-Sendable values from escaping it, as with `Mutex`.
package final class LockedValue<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    package init(_ initialValue: consuming sending Value) {
        mutex = .allocate(capacity: 1)
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
        value = initialValue
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the lock held and the value to read or change.
    package func withLock<Result, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
