import ArgumentParser
import Foundation
import LogFormats
import Logging
import Listening
import OCSPCore
import OCSPStapling
import Settings
import StaplerDaemon

@main
struct OCSPStaplerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocsp-stapler",
        abstract: "Keep TLS servers' OCSP staples fresh and verified (nginx ssl_stapling_file, HAProxy .ocsp and runtime API).",
        usage: """
            ocsp-stapler --cert site.pem [--issuer ca.pem] --out site.ocsp [--url URL] [--once]
            ocsp-stapler --watch /etc/haproxy/certs [--haproxy-socket /run/haproxy/admin.sock]
            ocsp-stapler --config /etc/ocsp-stapler/stapler.yaml
            """,
        discussion: """
            A good answer is written atomically; a revoked one too (it is the truth), logged at \
            error level. An unknown answer, an unreachable responder or an answer that does not \
            verify writes nothing: a staple already in place stays while it is valid, and one that \
            is no longer valid is removed. Without --once it runs as a daemon: every staple is \
            fetched at start, then at half its validity (with jitter, never later than \
            nextUpdate - margin), failures retried with exponential backoff; SIGHUP refreshes every \
            staple at once (after a revocation, say); SIGTERM or SIGINT stops it.

            Exit status (--once): 0 good staples written; 1 nothing fetched (the responder was \
            unreachable or its answer did not verify; a still-valid staple was kept); 2 usage; \
            3 revoked (the staple written says so); 4 unknown (nothing written); 5 a certificate \
            is must-staple (TLS Feature status_request) and holds no valid staple: handshakes with \
            clients that enforce it fail. With several certificates, the most severe: 5, 3, 4, 1, 0.

            SETTINGS (each also a key of the file, nested at the dots, and an OCSP_STAPLER_ \
            environment variable; flags beat the environment, which beats the file):
            \(StaplerConfiguration.schema.optionsHelp)
            """)

    enum ExitStatus: Int32 {
        case good = 0, failed = 1, usage = 2, revoked = 3, unknown = 4, mustStapleWithoutStaple = 5

        /// Most severe first.
        static let severity: [ExitStatus] = [.mustStapleWithoutStaple, .revoked, .unknown, .failed, .good]

        init(_ report: StaplingService.Report) {
            if report.mustStaple, !report.outcome.fileIsValid {
                self = .mustStapleWithoutStaple
                return
            }
            switch report.outcome.status {
            case .good: self = .good
            case .revoked: self = .revoked
            case .unknown: self = .unknown
            case .failed: self = .failed
            }
        }
    }

    @Option(help: "A certificate (PEM); its issuer may follow it in the same file (a chain).")
    var cert: String?

    @Option(help: "The issuing CA certificate (default: the second certificate in --cert, else <cert>.issuer).")
    var issuer: String?

    @Option(help: "Where --cert's staple goes (DER: nginx ssl_stapling_file, HAProxy <cert>.ocsp).")
    var out: String?

    @Option(help: "A directory whose *.pem certificates each get <file>.ocsp beside them (repeatable).")
    var watch: [String] = []

    @Option(help: "A YAML configuration (see Config/stapling/stapler.yaml, or OCSP_STAPLER_CONFIG); the setting flags override its global keys.")
    var config: String?

    @Flag(help: "Fetch, verify and write once, then exit with a status that says what happened.")
    var once = false

    @Flag(help: "Print the effective configuration, with where each value came from, and exit.")
    var checkConfig = false

    /// Every other option is a configuration key (``StaplerConfiguration/schema``, listed by
    /// `--help`): `--timeout 5s`, `--timeout=5s`.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var settingArguments: [String] = []

    /// The configuration: flags over `OCSP_STAPLER_…` variables over the file over the defaults,
    /// and the certificates and directories named by flags.
    func settings() throws -> SettingsSchema<StaplerConfiguration>.Loaded {
        var loaded: SettingsSchema<StaplerConfiguration>.Loaded
        do {
            let flags = try StaplerConfiguration.schema.flagValues(settingArguments)
            let environment = ProcessInfo.processInfo.environment
            let path = config ?? environment["OCSP_STAPLER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
            loaded = try StaplerConfiguration.load(flags: flags, environment: environment, file: try path.map(SettingsFile.read))
        } catch {
            throw ValidationError("\(error)")
        }
        if let cert {
            guard let out else { throw ValidationError("--cert needs --out, the file its staple goes to") }
            loaded.value.targets.append(
                StapleTarget(
                    certificatePath: cert, issuerPath: issuer, outputPath: out, responderURL: loaded.value.responderURL,
                    haproxySocket: loaded.value.haproxySocket))
        } else if out != nil || issuer != nil {
            throw ValidationError("--out and --issuer go with --cert")
        }
        for directory in watch {
            loaded.value.directories.append(
                WatchedDirectory(path: directory, responderURL: loaded.value.responderURL, haproxySocket: loaded.value.haproxySocket))
        }
        guard checkConfig || !loaded.value.targets.isEmpty || !loaded.value.directories.isEmpty else {
            throw ValidationError("nothing to staple: give --cert and --out, --watch DIR, or --config FILE")
        }
        return loaded
    }

    func run() async throws {
        let loaded = try settings()
        if checkConfig {
            print(StaplerConfiguration.schema.summary(loaded))
            for target in loaded.value.targets { print("# certificate \(target.name): \(target.certificatePath) -> \(target.outputPath)") }
            for directory in loaded.value.directories { print("# watch \(directory.path)") }
            return
        }
        let settings = loaded.value
        // Named certificates must be readable at start: a typo is a usage error, not a daemon
        // that logs failures forever. (Watched directories are read as they change.)
        for target in settings.targets {
            do {
                _ = try target.loadCertificates()
            } catch {
                throw ValidationError("\(error)")
            }
        }
        var metricsAddress: (host: String, port: UInt16)?
        if let listen = settings.metricsListen {
            guard !once else { throw ValidationError("--metrics-listen is for the daemon, not --once") }
            guard let address = MetricsListener.address(listen) else {
                throw ValidationError("--metrics-listen takes host:port, e.g. 127.0.0.1:9406")
            }
            metricsAddress = address
        }

        let output = JSONLogHandler.Output()
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                settings.logFormat == "json"
                ? JSONLogHandler(label: label, output: output) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ocsp-stapler")
        let options = StaplingService.Options(
            fetcher: StapleFetcher.Options(timeout: settings.timeout, method: settings.method), policy: settings.policy,
            concurrency: settings.concurrency, rescanInterval: settings.rescanInterval)

        if once {
            let service = StaplingService(options: options, logger: logger)
            var targets = settings.targets
            for directory in settings.directories {
                do {
                    targets += try directory.targets(from: service.files)
                } catch {
                    throw ValidationError("\(error)")
                }
            }
            let reports = await service.refreshAll(targets)
            let statuses = reports.map(ExitStatus.init)
            let counts = Dictionary(grouping: reports, by: { $0.outcome.status.rawValue }).mapValues(\.count)
            logger.info(
                "refreshed \(reports.count) certificate(s)",
                metadata: counts.reduce(into: [:]) { $0[$1.key] = "\($1.value)" })
            // A one-shot run from a timer reloads the server itself, once, if a staple changed.
            if let command = settings.reloadCommand, reports.contains(where: { $0.outcome.changed }) {
                await ReloadHook(command: command, timeout: settings.reloadTimeout, logger: logger).run()
            }
            let status = ExitStatus.severity.first(where: statuses.contains) ?? .good
            if status != .good { throw ExitCode(status.rawValue) }
            return
        }
        do {
            try await StaplingDaemon.run(settings: settings, options: options, metricsAddress: metricsAddress, logger: logger)
        } catch let failure as StaplingDaemon.ListenFailure {
            throw ValidationError(failure.description)
        }
    }

    /// ArgumentParser's validation failures exit 2 here, as the documentation says.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "Error: failed"
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Foundation.exit(code == .validationFailure ? ExitStatus.usage.rawValue : ExitStatus.failed.rawValue)
        }
        Foundation.exit(0)
    }
}
