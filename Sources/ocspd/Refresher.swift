import Foundation
import Logging
import Responder
import Synchronization

/// Re-signs cached responses before they go stale, on its own thread, never on the request path.
final class Refresher: Sendable {
    private let responder: OCSPResponder
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)

    init(responder: OCSPResponder, logger: Logger) {
        self.responder = responder
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "ocspd-refresher"
        thread.start()
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        stopped.wait()
    }

    private func run() {
        defer { stopped.signal() }
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
            // Keep going while there is work; otherwise look again in a second.
            if !busy { Thread.sleep(forTimeInterval: 1) }
        }
    }
}
