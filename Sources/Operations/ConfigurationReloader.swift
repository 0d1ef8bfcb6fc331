package import CRLService
internal import Foundation
package import LogFormats
package import HTTPServer
package import Logging
package import Responder
internal import ServiceLifecycle
internal import UnixSignals

/// What SIGHUP does: reads the configuration file and the environment again (the flags stay as
/// given), applies what can change without a restart, reports the rest, and reloads the issuers'
/// signer certificates and keys from the store. A configuration that does not check out changes
/// nothing.
package actor ConfigurationReloader {
    private var current: OCSPDConfiguration
    private let flags: [String: String]
    private let file: String?
    private let responder: OCSPResponder
    private let server: HTTPServer
    private let crls: CRLScheduler?
    private let logLevel: SharedLogLevel
    private let logger: Logger

    package init(
        initial: OCSPDConfiguration, flags: [String: String], file: String?, responder: OCSPResponder, server: HTTPServer,
        crls: CRLScheduler?, logLevel: SharedLogLevel, logger: Logger
    ) {
        current = initial
        self.flags = flags
        self.file = file
        self.responder = responder
        self.server = server
        self.crls = crls
        self.logLevel = logLevel
        self.logger = logger
    }

    /// Reloads; returns the keys applied and those that need a restart.
    @discardableResult
    package func reload(environment: [String: String] = ProcessInfo.processInfo.environment) async -> (
        applied: [String], needRestart: [String]
    ) {
        let next: OCSPDConfiguration
        do {
            next = try await OCSPDConfiguration.load(flags: flags, environment: environment, file: file)
        } catch {
            logger.error("reload refused: the configuration does not check out; nothing changed", metadata: ["error": "\(error)"])
            return ([], [])
        }
        for warning in next.warnings { logger.warning("\(warning)") }
        let changed = current.changedKeys(to: next)
        let needRestart = changed.filter { OCSPDConfiguration.settingsByKey[$0]?.reloadable != true }
        let applied = changed.filter { OCSPDConfiguration.settingsByKey[$0]?.reloadable == true }
        // Apply the reloadable part onto what runs; keep the running value of the rest.
        var running = current
        for key in applied {
            guard let setting = OCSPDConfiguration.settingsByKey[key] else { continue }
            try? setting.apply(&running, setting.current(next))
        }
        running.sources = next.sources
        if let validated = try? running.validated() { running = validated }
        logLevel.value = running.logLevel
        server.setRequestLogSampleRate(running.http.requestLogSampleRate)
        crls?.reconfigure(running.crl)
        // Also reloads the signers: a rotated responder certificate and key are used from the next
        // signature on.
        responder.reconfigure(running.responder)
        current = running
        let problems = (try? responder.checkSigners()) ?? []
        for problem in problems { logger.warning("\(problem)") }
        if !needRestart.isEmpty {
            logger.warning(
                "changed keys need a restart; their running values are kept",
                metadata: ["keys": "\(needRestart.joined(separator: ","))"])
        }
        logger.info(
            "reloaded",
            metadata: [
                "signal": "SIGHUP", "applied": "\(applied.joined(separator: ","))",
                "need_restart": "\(needRestart.joined(separator: ","))", "signer_problems": "\(problems.count)",
            ])
        return (applied, needRestart)
    }
}

/// Calls `action` on each SIGHUP, until graceful shutdown.
package struct SignalReloadService: Service {
    private let signals: UnixSignalsSequence
    private let action: @Sendable () async -> Void

    /// Traps SIGHUP now (whose default action ends the process), so a reload asked for before the
    /// service group runs is not fatal but waits for the service.
    package init(_ action: @escaping @Sendable () async -> Void) async {
        signals = await UnixSignalsSequence(trapping: .sighup)
        self.action = action
    }

    package func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() {
            await action()
        }
    }
}

/// Prints the lines scripts wait for once the service group runs, that is once SIGTERM and
/// SIGINT are trapped (before that, they would end the process without draining).
package struct ReadinessAnnouncement: Service {
    private let lines: [String]

    package init(_ lines: [String]) { self.lines = lines }

    package func run() async throws {
        // Unbuffered, so each line arrives at once.
        for line in lines { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        try? await gracefulShutdown()
    }
}
