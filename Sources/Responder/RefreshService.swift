internal import Foundation
package import Logging
package import ServiceLifecycle
internal import Synchronization

/// Re-signs cached responses before they go stale, on a thread of its own (signing and the
/// store's fsync'd writes block; they stay off the request path and off Swift's cooperative
/// pool), and checks the signer certificates' expiry once a day. A swift-service-lifecycle
/// service: it runs until graceful shutdown, finishing the batch in hand.
package final class RefreshService: Service, Sendable {
    private let responder: OCSPResponder
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)

    package init(responder: OCSPResponder, logger: Logger) {
        self.responder = responder
        self.logger = logger
    }

    package func run() async throws {
        let finished = AsyncStream<Void>.makeStream()
        let thread = Thread { [self] in
            loop()
            finished.continuation.finish()
        }
        thread.name = "ocspd-refresher"
        thread.start()
        // Until SIGTERM (or cancellation); then let the thread finish its batch.
        try? await gracefulShutdown()
        stopping.store(true, ordering: .relaxed)
        for await _ in finished.stream {}
    }

    private func loop() {
        var lastSignerCheck = Date()
        while !stopping.load(ordering: .relaxed) {
            // Once a day: signer certificates that expire within 30 days (checked at start too).
            if Date().timeIntervalSince(lastSignerCheck) >= 86400 {
                lastSignerCheck = Date()
                for problem in (try? responder.checkSigners()) ?? [] { logger.warning("\(problem)") }
            }
            var busy = false
            do {
                let report = try responder.refreshDue()
                busy = report.refreshed + report.dropped > 0
                if busy {
                    logger.debug("refreshed", metadata: ["refreshed": "\(report.refreshed)", "dropped": "\(report.dropped)"])
                }
            } catch {
                logger.error("refresh failed", metadata: ["error": "\(error)"])
            }
            // Keep going while there is work; otherwise look again in a second (in steps, so a
            // shutdown does not wait for the whole second).
            if !busy {
                for _ in 0..<10 where !stopping.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 0.1) }
            }
        }
    }
}
