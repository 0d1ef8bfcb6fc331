import ArgumentParser
import Foundation
import LogFormats
import Logging
import Listening
import OCSPCore
import OCSPStapling
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

    @Option(help: "A YAML configuration (see Config/stapling/stapler.yaml); these flags override its global keys.")
    var config: String?

    @Option(help: "The OCSP responder URL for every certificate, those of --config included (default: each one's AIA URL).")
    var url: String?

    @Option(help: "Seconds a fetch may take.")
    var timeout: Int?

    @Option(help: "auto (GET when short, POST after a GET is refused), get or post.")
    var httpMethod: String?

    @Option(help: "HAProxy's stats socket (level admin): new staples are handed over with `set ssl ocsp-response`.")
    var haproxySocket: String?

    @Option(help: "A command run (by /bin/sh) after a staple changed, e.g. 'nginx -s reload' (with --once: once, if any changed).")
    var reloadCommand: String?

    @Option(help: "Seconds between two runs of the reload command at least (changes meanwhile make one run).")
    var reloadInterval: Double?

    @Option(help: "host:port for GET /metrics (Prometheus) and /healthz.")
    var metricsListen: String?

    @Option(help: "Log lines as text or json.")
    var logFormat: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(help: "How many fetches may run at once.")
    var concurrency: Int?

    @Option(help: "Seconds before the first retry of a failed fetch (doubling up to --retry-max).")
    var retryMin: Double?

    @Option(help: "Seconds at most between retries.")
    var retryMax: Double?

    @Option(help: "Seconds before nextUpdate by which a staple is refreshed at the latest (a quarter of the validity if shorter).")
    var refreshMargin: Double?

    @Option(help: "Seconds between two scans of the watched directories.")
    var rescanInterval: Double?

    @Flag(help: "Fetch, verify and write once, then exit with a status that says what happened.")
    var once = false

    /// The configuration file's settings with the flags applied over them.
    func settings() throws -> StaplerConfiguration {
        var settings = StaplerConfiguration()
        if let config {
            do {
                settings = try StaplerConfiguration.load(path: config)
            } catch let problem as StaplerConfiguration.Problem {
                throw ValidationError(problem.description)
            }
        }
        if let url {
            settings.responderURL = url
            for index in settings.targets.indices { settings.targets[index].responderURL = url }
            for index in settings.directories.indices { settings.directories[index].responderURL = url }
        }
        if let haproxySocket { settings.haproxySocket = haproxySocket }
        if let cert {
            guard let out else { throw ValidationError("--cert needs --out, the file its staple goes to") }
            settings.targets.append(
                StapleTarget(
                    certificatePath: cert, issuerPath: issuer, outputPath: out, responderURL: settings.responderURL,
                    haproxySocket: settings.haproxySocket))
        } else if out != nil || issuer != nil {
            throw ValidationError("--out and --issuer go with --cert")
        }
        for directory in watch {
            settings.directories.append(
                WatchedDirectory(path: directory, responderURL: settings.responderURL, haproxySocket: settings.haproxySocket))
        }
        guard !settings.targets.isEmpty || !settings.directories.isEmpty else {
            throw ValidationError("nothing to staple: give --cert and --out, --watch DIR, or --config FILE")
        }
        if let timeout {
            guard timeout > 0 else { throw ValidationError("--timeout must be at least 1 second") }
            settings.timeout = .seconds(timeout)
        }
        if let httpMethod {
            guard let method = OCSPRequestMethod(rawValue: httpMethod) else {
                throw ValidationError("--http-method is auto, get or post")
            }
            settings.method = method
        }
        if let concurrency {
            guard concurrency > 0 else { throw ValidationError("--concurrency must be at least 1") }
            settings.concurrency = concurrency
        }
        func seconds(_ value: Double?, _ flag: String, minimum: Double = 0) throws -> Duration? {
            guard let value else { return nil }
            guard value.isFinite, value >= minimum else { throw ValidationError("--\(flag) must be at least \(minimum)") }
            return .milliseconds(Int64(value * 1000))
        }
        if let value = try seconds(retryMin, "retry-min", minimum: 0.1) { settings.policy.retryMinimum = value }
        if let value = try seconds(retryMax, "retry-max", minimum: 0.1) { settings.policy.retryMaximum = value }
        if let value = try seconds(refreshMargin, "refresh-margin") { settings.policy.margin = value }
        if let value = try seconds(rescanInterval, "rescan-interval", minimum: 0.1) { settings.rescanInterval = value }
        if let value = try seconds(reloadInterval, "reload-interval") { settings.reloadMinimumInterval = value }
        if let problem = settings.policy.problems.first { throw ValidationError(problem) }
        if let reloadCommand { settings.reloadCommand = reloadCommand }
        if let metricsListen { settings.metricsListen = metricsListen }
        if let logFormat {
            guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
            settings.logFormat = logFormat
        }
        if let logLevel {
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError("--log-level is one of trace, debug, info, notice, warning, error, critical")
            }
            settings.logLevel = logLevel
        }
        return settings
    }

    func run() async throws {
        let settings = try settings()
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
