import Foundation
import Locking
import Testing

/// The admission in front of a PKCS#11 token: a place, a bounded queue, a timeout.
@Suite struct BoundedGateTests {
    @Test func beyondTheQueueACallerIsTurnedAwayAtOnceAndAWaiterGivesUpAfterTheTimeout() throws {
        let gate = BoundedGate(capacity: 1, queue: 1)
        let inside = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holder = Thread {
            try? gate.run(timeout: 1) {
                inside.signal()
                _ = release.wait(timeout: .now() + 120)
            }
        }
        holder.start()
        inside.wait()
        defer { release.signal() }

        let waiterDone = DispatchSemaphore(value: 0)
        let outcome = LockedValue<(BoundedGate.Refusal?, Double)>((nil, 0))
        let waiter = Thread {
            let started = Date()
            do { try gate.run(timeout: 0.3) {} } catch let refusal as BoundedGate.Refusal {
                outcome.withLock { $0 = (refusal, Date().timeIntervalSince(started)) }
            } catch {}
            waiterDone.signal()
        }
        waiter.start()
        // Wait until the waiter is queued, then a third caller finds the queue full. It would wait
        // a minute and time out if it queued: `queueFull` (not `timedOut`) shows it was refused
        // without waiting, however slow the machine.
        let deadline = Date().addingTimeInterval(60)
        while gate.load.waiting < 1, Date() < deadline { usleep(1000) }
        #expect(gate.load == (inside: 1, waiting: 1))
        #expect(throws: BoundedGate.Refusal.queueFull) { try gate.run(timeout: 60) {} }

        waiterDone.wait()
        let (refusal, waited) = outcome.withLock { $0 }
        #expect(refusal == .timedOut)
        // At least its timeout; the upper bound only catches a waiter that never gives up.
        #expect(waited >= 0.25 && waited < 60)
    }

    @Test func aPlaceThatFreesUpLetsTheNextWaiterIn() throws {
        let gate = BoundedGate(capacity: 1, queue: 4)
        let inside = DispatchSemaphore(value: 0)
        Thread {
            try? gate.run(timeout: 1) {
                inside.signal()
                usleep(100_000)
            }
        }.start()
        inside.wait()
        let ran = try gate.run(timeout: 5) { true }
        #expect(ran)
        #expect(gate.load == (inside: 0, waiting: 0))
    }
}
