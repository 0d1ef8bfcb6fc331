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
            """)

    @Option(help: "A YAML configuration file (see Config/ocspd.yaml).")
    var config: String?

    @Flag(help: "Print the effective configuration, with where each value came from, and exit.")
    var checkConfig = false

    @Option(help: "The store directory (create it with `ocspctl init`).")
    var store: String?

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one; default 127.0.0.1:8080).")
    var listen: String?

    @Option(help: "Response validity (nextUpdate - thisUpdate), e.g. 3600, 90m, 12h, 7d; overrides each issuer's.")
    var validity: String?

    @Option(help: "Re-sign cached responses once less than this fraction of their validity remains (default 0.5).")
    var refreshFraction: String?

    @Option(help: "Live signatures per second (nonce requests, cache misses) before answering tryLater (default 2000).")
    var liveSignRate: String?

    @Option(help: "When the live-signing limit is reached, nonce requests get: try-later (default), or cached (RFC 5019: the cached response, without the nonce).")
    var nonceOverflow: String?

    @Option(help: "Regenerate each issuer's complete CRL this often (issuers with a CA key; default 1h).")
    var crlInterval: String?

    @Option(help: "CRL validity (nextUpdate - thisUpdate; default 7d).")
    var crlValidity: String?

    @Option(help: "After status changes, publish a delta CRL once they have settled this long (default 2s).")
    var crlDebounce: String?

    @Option(help: "Split complete CRLs into this many shards (default 1: one CRL per issuer, plus deltas).")
    var crlShards: String?

    @Option(help: "Public base URL of this server, for CRL shards' Issuing Distribution Points (default: http://LISTEN/).")
    var publicURL: String?

    @Option(help: "The PKCS#11 module for key URIs that name none (module-path=), e.g. /usr/lib/softhsm/libsofthsm2.so.")
    var pkcs11Module: String?

    @Option(help: "A signature waits this long for the PKCS#11 token (a place among --pkcs11-concurrency) before tryLater (default 2s).")
    var pkcs11Timeout: String?

    @Option(help: "Signatures in the PKCS#11 token at once (default 16, libp11's sessions).")
    var pkcs11Concurrency: String?

    @Option(help: "Signatures that may wait for the PKCS#11 token; more get tryLater at once (default 64).")
    var pkcs11Queue: String?

    @Option(help: "How often a lost or slow PKCS#11 token is tried again (default 1s); signatures meanwhile get tryLater at once.")
    var pkcs11RetryInterval: String?

    @Flag(help: "Do not generate CRLs (still serve the ones ocspctl stores).")
    var noCRL = false

    @Option(help: "Follow this system of record, a libpq connection string (postgres://USER@HOST:PORT/DATABASE, or postgres://USER@H1:P1,H2:P2/DATABASE?target_session_attrs=read-write to follow a failover): the store becomes its replica, created if absent; no CRLs are made here.")
    var follow: String?

    @Option(help: "With --follow: /readyz fails while a committed change older than this is not applied (default 10s).")
    var followMaxLag: String?

    @Option(help: "With --follow: read the system of record this often even without a notification (default 1s).")
    var followPollInterval: String?

    @Option(help: "With --follow: a database call that takes longer fails and the follower reconnects; a quiet notification link is probed this often (default 10s).")
    var followTimeout: String?

    @Option(help: "With --follow: after applying a change, purge the certificate's GET answers from an HTTP cache, requesting this URL for each GET path ({path}), e.g. http://cache:8081{path} (Config/nginx/ocsp-cache.conf's refresh listener).")
    var followPurgeURL: String?

    @Option(help: "With --follow: the HTTP method of purge requests (default GET).")
    var followPurgeMethod: String?

    @Option(help: "With --follow: run this shell command once per changed certificate instead, with OCSP_PURGE_PATHS (one a line), OCSP_ISSUER and OCSP_SERIAL set.")
    var followPurgeCommand: String?

    @Flag(help: "Make each issuer's revocation filter (CRLite) on the CRL schedule and after status changes; served at /filter/<issuer>.mlbf (stored ones are served either way).")
    var filters = false

    @Option(help: "Revocation filter validity (nextUpdate - thisUpdate; default 7d).")
    var filterValidity: String?

    @Option(help: "Filters cover certificates whose notBefore is at least this long before they are made: the CA's backdating (default 1h).")
    var filterCoverageMargin: String?

    @Flag(help: "Accept signing-key files that others than their owner may read (refused otherwise).")
    var allowInsecureKeyPermissions = false

    @Option(help: "HTTP worker threads (default: one per core); each has its own listening socket (SO_REUSEPORT) and epoll loop, and makes the live signatures of its connections.")
    var threads: String?

    @Option(help: "Each request must arrive whole within this long of the connection opening or the previous answer (default 10s); idle keep-alive connections are closed after as long.")
    var requestTimeout: String?

    @Option(help: "Connections one client address may hold open (default 256; 0: no limit; raise it behind a proxy or CDN).")
    var maxConnectionsPerAddress: String?

    @Option(help: "Ready responses each thread keeps for repeated requests (a power of two, about 1.5 KiB each; default 16384).")
    var frontCacheEntries: String?

    @Option(help: "On SIGTERM, how long requests in flight may take before their connections close (default 10s).")
    var shutdownTimeout: String?

    @Option(help: "Log level: trace, debug, info (default), notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "Log format on standard error: json (one object per line; default) or text.")
    var logFormat: String?

    @Option(help: "Log this share of OCSP requests, one line each (default 0: none; 0.01: 1 %; 1: all).")
    var requestLogSample: String?

    @Option(help: "Serve /metrics, /healthz and /readyz on this HOST:PORT instead of the OCSP listener.")
    var metricsListen: String?

    @Flag(help: "Count nothing and serve no /metrics (for measuring what the counters cost).")
    var noMetrics = false

    /// The options given, by configuration key.
    var flagValues: [String: String] {
        var values: [String: String] = [:]
        let options: [(String, String?)] = [
            ("store", store), ("listen", listen), ("validity", validity), ("refresh-fraction", refreshFraction),
            ("live-sign-rate", liveSignRate), ("nonce-overflow", nonceOverflow), ("crl.interval", crlInterval),
            ("crl.validity", crlValidity), ("crl.debounce", crlDebounce), ("crl.shards", crlShards),
            ("crl.public-url", publicURL), ("threads", threads), ("request-timeout", requestTimeout),
            ("max-connections-per-address", maxConnectionsPerAddress), ("front-cache-entries", frontCacheEntries),
            ("shutdown-timeout", shutdownTimeout), ("log.level", logLevel), ("log.format", logFormat),
            ("log.request-sample", requestLogSample), ("metrics.listen", metricsListen), ("pkcs11.module", pkcs11Module),
            ("pkcs11.timeout", pkcs11Timeout), ("pkcs11.concurrency", pkcs11Concurrency), ("pkcs11.queue", pkcs11Queue),
            ("pkcs11.retry-interval", pkcs11RetryInterval), ("filter.validity", filterValidity),
            ("filter.coverage-margin", filterCoverageMargin), ("follow.database", follow),
            ("follow.max-lag", followMaxLag), ("follow.poll-interval", followPollInterval),
            ("follow.timeout", followTimeout),            ("follow.purge-url", followPurgeURL), ("follow.purge-method", followPurgeMethod),
            ("follow.purge-command", followPurgeCommand),
        ]
        for case (let key, let value?) in options { values[key] = value }
        if noCRL { values["crl.enabled"] = "false" }
        if filters { values["filter.enabled"] = "true" }
        if noMetrics { values["metrics.enabled"] = "false" }
        if allowInsecureKeyPermissions { values["allow-insecure-key-permissions"] = "true" }
        return values
    }

    func run() async throws {
        let flags = flagValues
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
