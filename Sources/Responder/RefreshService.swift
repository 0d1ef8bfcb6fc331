internal import Foundation
package import Logging
internal import ServiceLifecycle
internal import Synchronization
internal import OCSPValues
internal import RevocationStore

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
        let feed = ChangeLog(responder: responder, logger: logger)
        while !stopping.load(ordering: .relaxed) {
            feed.logNewChanges()
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
            } catch let error as OCSPError where error.code == .keyUnavailable {
                // A lost or slow PKCS#11 token: logged once by the token, tried again each second.
                logger.debug("refresh waits for the signing key", metadata: ["error": "\(error)"])
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

/// Logs the status changes the store's change feed shows (revocations, holds, releases, made by
/// `ocspctl` in its own process) and issuer changes (a replaced signer), as ocspd observes them.
final class ChangeLog {
    private let responder: OCSPResponder
    private let logger: Logger
    private let reader: RevocationStore.Reader
    private var position: UInt64?
    /// Beyond this many changes in one look, one summary line instead of a line each.
    static let linesPerPass = 256

    init(responder: OCSPResponder, logger: Logger) {
        self.responder = responder
        self.logger = logger
        reader = RevocationStore.Reader(store: responder.store)
        position = try? reader.read { try $0.lastChange() }
    }

    func logNewChanges() {
        guard let start = position else {
            position = try? reader.read { try $0.lastChange() }
            return
        }
        var changes: [(issuer: IssuerID, serial: SerialNumber?)] = []
        var count = 0
        do {
            let (next, complete) = try reader.read { snapshot in
                try snapshot.changes(after: start) { change in
                    count += 1
                    // Issuer-wide changes are never dropped: each reloads a signer.
                    guard changes.count < Self.linesPerPass || change.serial == nil else { return }
                    changes.append(
                        (IssuerID(bytes: Array(change.issuer)), change.serial.map { SerialNumber(bytes: Array($0)) }))
                }
            }
            position = next
            if !complete { logger.warning("change feed overrun: some status changes were not logged") }
        } catch {
            logger.error("cannot read the change feed", metadata: ["error": "\(error)"])
            return
        }
        for (issuer, serial) in changes {
            guard let serial else {
                responder.forgetIssuer(issuer)
                logger.notice(
                    "issuer-wide change (signer, policy or a bulk write); its signer is reloaded",
                    metadata: ["issuer": "\(issuer.slug)"])
                continue
            }
            var metadata: Logger.Metadata = ["issuer": "\(issuer.slug)", "serial": "\(serial.hex)"]
            switch (try? responder.store.certificate(issuer: issuer, serial: serial))?.status {
            case .good: metadata["status"] = "good"
            case .revoked(let time, let reason, _):
                metadata["status"] = reason == .certificateHold ? "hold" : "revoked"
                metadata["reason"] = "\(reason.map { "\($0)" } ?? "unspecified")"
                metadata["revocation_time"] = "\(time)"
            case nil: metadata["status"] = "removed"
            }
            logger.notice("certificate status changed", metadata: metadata)
        }
        if count > changes.count {
            logger.notice("more status changes", metadata: ["logged": "\(changes.count)", "total": "\(count)"])
        }
    }
}
