internal import CMicroHTTPD
internal import Foundation
internal import Locking
internal import Synchronization

/// One connection's request deadline, which its libmicrohttpd thread sets and the watchdog reads.
final class ConnectionClock: Sendable {
    let socket: Int32
    /// Monotonic nanoseconds by which the current request must have arrived whole (head and body);
    /// `UInt64.max` while its answer is on the way out.
    let deadline: Atomic<UInt64>

    init(socket: Int32, deadline: UInt64) {
        self.socket = socket
        self.deadline = Atomic(deadline)
    }
}

/// Closes connections whose request did not arrive whole in time.
///
/// libmicrohttpd's connection timeout counts from the last byte received, so a client trickling a
/// byte every few seconds could hold a connection for ever; with the connection cap, a few
/// thousand such clients would lock everyone out. Here each request, counted from when the
/// connection opened or the previous answer went out, must be in within ``timeout`` (an idle
/// keep-alive connection is closed after as long). A thread looks four times a second and shuts
/// the late sockets down (`shutdown(2)`): libmicrohttpd then sees the connection end and closes
/// it on its own thread.
///
/// Sockets are only shut down under the lock that ``closed(_:)`` takes, and libmicrohttpd reports
/// a connection closed before it closes its socket, so a socket number reused for a new
/// connection is never shut down by mistake.
final class ConnectionWatchdog: Sendable {
    let timeout: UInt64
    private let open = LockedValue<[Int32: ConnectionClock]>([:])
    private let running = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)
    /// How many connections it shut down.
    let closedLate = Atomic<Int>(0)

    init(timeout: UInt64) { self.timeout = timeout }

    /// A connection opened; its first request is due within ``timeout``.
    func opened(socket: Int32) -> ConnectionClock {
        let clock = ConnectionClock(socket: socket, deadline: FrontCache.monotonicNow() + timeout)
        open.withLock { $0[socket] = clock }
        return clock
    }

    /// A connection is about to close (its socket is still open).
    func closed(_ clock: ConnectionClock) {
        open.withLock { table in
            if table[clock.socket] === clock { table[clock.socket] = nil }
        }
    }

    /// The request arrived whole: no deadline while it is answered.
    func requestReceived(_ clock: ConnectionClock) {
        clock.deadline.store(.max, ordering: .relaxed)
    }

    /// The answer went out: the next request is due within ``timeout``.
    func requestCompleted(_ clock: ConnectionClock) {
        clock.deadline.store(FrontCache.monotonicNow() + timeout, ordering: .relaxed)
    }

    func start() {
        running.store(true, ordering: .relaxed)
        let thread = Thread { [self] in
            defer { stopped.signal() }
            while running.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: 0.25)
                shutDownLateConnections(now: FrontCache.monotonicNow())
            }
        }
        thread.name = "ocspd-deadlines"
        thread.start()
    }

    /// Stops the thread (before the daemons stop); idempotent.
    func stop() {
        guard running.exchange(false, ordering: .relaxed) else { return }
        stopped.wait()
    }

    /// Sends a FIN on every open connection (`shutdown(SHUT_WR)`): its client sees the end and
    /// closes, and libmicrohttpd, reading that, closes the connection on its own thread. For the
    /// end of a drain, when the connections still open are idle. Returns how many.
    func finishAll() -> Int {
        open.withLock { table in
            for clock in table.values { shutdown(clock.socket, Int32(SHUT_WR)) }
            return table.count
        }
    }

    /// Shuts down every connection past its deadline at `now`; returns how many.
    @discardableResult
    func shutDownLateConnections(now: UInt64) -> Int {
        open.withLock { table in
            var count = 0
            for clock in table.values where clock.deadline.load(ordering: .relaxed) < now {
                shutdown(clock.socket, Int32(SHUT_RDWR))
                // Not again: libmicrohttpd closes it (and reports it closed) on its next turn.
                clock.deadline.store(.max, ordering: .relaxed)
                count += 1
            }
            closedLate.add(count, ordering: .relaxed)
            return count
        }
    }
}
