import ArgumentParser
import CRLService
import Replication
import CoreMetrics
import Foundation
import HTTPServer
import LogFormats
import Logging
import OCSPCore
import Operations
import Prometheus
import Responder
import Settings
import RevocationStore
import ServiceLifecycle

@main
struct OCSPDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocspd",
        abstract: "OCSP responder (RFC 6960, RFC 5019 profile) over HTTP GET and POST.",
        discussion: """
            Every option is also a key of the YAML configuration file (--config, or OCSPD_CONFIG) and an \
            environment variable (OCSPD_ and the key in capitals, dots and dashes as underscores: \
            crl.interval is --crl-interval and OCSPD_CRL_INTERVAL). Flags beat the environment, which \
            beats the file. Config/ocspd.yaml documents every key. SIGHUP reloads the file and the \
            environment (what can change without a restart) and the issuers' signers; SIGTERM drains.

            SETTINGS (each also a key of the file and an environment variable):
            \(OCSPDConfiguration.schema.optionsHelp)
            """)

    @Option(help: "A YAML configuration file (see Config/ocspd.yaml).")
    var config: String?

    @Flag(help: "Print the effective configuration, with where each value came from, and exit.")
    var checkConfig = false

    /// Every other option is a configuration key (``OCSPDConfiguration/settings``, listed by
    /// `--help`): `--crl-interval 1h`, `--crl-interval=1h`, or a switch such as `--no-crl`.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var settingArguments: [String] = []

    func run() async throws {
        let flags = try OCSPDConfiguration.schema.flagValues(settingArguments)
        let environment = ProcessInfo.processInfo.environment
        let configuration = try await OCSPDConfiguration.load(flags: flags, environment: environment, file: config)
        if checkConfig {
            print(configuration.summary)
            return
        }

        let level = SharedLogLevel(configuration.logLevel)
        let output = JSONLogHandler.Output()
        let json = configuration.logFormat == .json
        LoggingSystem.bootstrap { label in
            LevelFollowingLogHandler(
                json ? JSONLogHandler(label: label, output: output) : StreamLogHandler.standardError(label: label), level: level)
        }
        let logger = Logger(label: "ocspd")
        for warning in configuration.warnings { logger.warning("\(warning)") }
        // Counters the libraries keep through swift-metrics land in the registry /metrics renders.
        let registry = PrometheusCollectorRegistry()
        if configuration.metricsEnabled { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }

        // Token keys: the module for URIs that name none, the limits, and a log line when a token
        // is lost or slow, and when it signs again.
        if let module = configuration.pkcs11Module { PKCS11Token.defaultModulePath = module }
        PKCS11Token.configure(configuration.pkcs11)
        PKCS11Token.onChange { module, problem in
            if let problem {
                logger.error("PKCS#11 token cannot sign; cached responses are still served, the rest get tryLater", metadata: ["module": "\(module)", "problem": "\(problem)"])
            } else {
                logger.notice("PKCS#11 token signs again", metadata: ["module": "\(module)"])
            }
        }

        // ocspd's own audit records (CRL number reservations) name it, and the user it runs as.
        let actor = AuditActor(name: "ocspd (\(AuditActor.currentUser.name))")
        if configuration.follow != nil, !FileManager.default.fileExists(atPath: configuration.store + "/data.mdb") {
            // A new follower: an empty store, which the follower fills with the whole log.
            _ = try RevocationStore.create(at: configuration.store, actor: actor)
            logger.notice("created an empty store to follow into", metadata: ["store": "\(configuration.store)"])
        }
        let revocationStore = try RevocationStore.open(at: configuration.store, actor: actor)
        let responder = OCSPResponder(store: revocationStore, configuration: configuration.responder)
        // Refuse to start with an expired signer or a key file others may read; warn about the rest.
        let problems = try responder.checkSigners()
        for problem in problems where problem.severity == .warning { logger.warning("\(problem)") }
        if let fatal = problems.first(where: { $0.severity == .fatal }) { throw StartupError(description: "\(fatal)") }

        // Bind first: if the port is taken, exit before any background thread starts.
        let http = configuration.http
        Self.raiseDescriptorLimit(needed: http.connectionLimit + 256, logger: logger)
        let operations = configuration.metricsEnabled ? ResponderOperations(responder: responder, registry: registry) : nil
        let server = HTTPServer(configuration: http, responder: responder, logger: logger, operations: operations)
        let port = try server.start()
        operations?.attach(server)
        var metricsServer: HTTPServer? = nil
        var metricsLine: String? = nil
        if let metricsListen = configuration.metricsListen, let operations {
            var listener = try HTTPServer.Configuration(listen: metricsListen)
            listener.servesOCSP = false
            listener.metrics = false
            listener.connectionLimit = 64
            listener.threads = 1
            listener.shutdownTimeout = 1
            let metrics = HTTPServer(configuration: listener, responder: responder, logger: logger, operations: operations)
            let metricsPort = try metrics.start()
            metricsServer = metrics
            metricsLine = "ocspd metrics on http://\(Self.hostForURL(listener.host)):\(metricsPort)/metrics"
        }
        let purge = PurgeHook(configuration: configuration.purge, store: revocationStore, logger: logger)
        let follower = configuration.follow.map { follow in
            Follower(store: revocationStore, configuration: follow, logger: logger) { changed in
                // Sign first (the cache refetches at once after a purge), at most a thousand:
                // after a long catch-up the rest are signed on request and by the refresher.
                responder.resign(changed, limit: 1000)
                await purge.purge(changed)
            }
        }
        if let follower { operations?.attach(follower: follower) }
        let crls =
            configuration.crlEnabled
            ? CRLScheduler(store: revocationStore, configuration: configuration.crl, logger: logger) : nil

        let reloader = ConfigurationReloader(
            initial: configuration, flags: flags, file: config, responder: responder, server: server, crls: crls,
            logLevel: level, logger: logger)
        // The readiness line scripts wait for, then the metrics address.
        let announcement = ReadinessAnnouncement(
            ["ocspd listening on http://\(Self.hostForURL(http.host)):\(port)/"] + (metricsLine.map { [$0] } ?? []))
        var services: [any Service] = [announcement, RefreshService(responder: responder, logger: logger)]
        if let crls { services.append(crls) }
        if let follower { services.append(follower) }
        if let metricsServer { services.append(metricsServer) }
        services.append(await SignalReloadService { await reloader.reload() })
        // Last: graceful shutdown goes in reverse order, so the OCSP listener drains first.
        services.append(server)
        var group = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = .seconds(configuration.shutdownTimeout + 5)

        logger.info("started", metadata: configuration.metadata)
        if let notice = configuration.crlURLNotice { logger.notice("\(notice)") }

        try await ServiceGroup(configuration: group).run()
        let served = server.statistics
        logger.info(
            "stopped",
            metadata: [
                "store_answers": "\(served.storeAnswers)", "full_path_answers": "\(served.fullPathAnswers)",
                "front_cache_hits": "\(served.frontCacheHits)", "front_cache_inserts": "\(served.frontCacheInserts)",
                "front_cache_not_admitted": "\(served.frontCacheNotAdmitted)",
                "front_cache_invalidated": "\(served.frontCacheInvalidated)",
            ])
    }

    static func hostForURL(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    /// Raises the soft limit on open files to the hard limit: each connection is a descriptor,
    /// and the usual soft limit (1024) is far below the connection cap. Warns if even the hard
    /// limit is below `needed` (set LimitNOFILE in the systemd unit).
    static func raiseDescriptorLimit(needed: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        if limit.rlim_cur < rlim_t(needed) {
            logger.warning(
                "open-file limit below the connection cap; raise it (systemd: LimitNOFILE=65536)",
                metadata: ["limit": "\(limit.rlim_cur)", "needed": "\(needed)"])
        }
    }
}

/// A reason not to start, printed as one `Error: …` line.
struct StartupError: Error, CustomStringConvertible {
    let description: String
}
