import ArgumentParser
import CRLService
import CoreMetrics
import Foundation
import HTTPServer
import Logging
import Operations
import Prometheus
import Responder
import RevocationStore

@main
struct OCSPDaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocspd",
        abstract: "OCSP responder (RFC 6960, RFC 5019 profile) over HTTP GET and POST.")

    @Option(help: "The store directory (create it with `ocspctl init`).")
    var store: String

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one).")
    var listen: String = "127.0.0.1:8080"

    @Option(help: "Response validity (nextUpdate - thisUpdate), e.g. 3600, 90m, 12h, 7d; overrides each issuer's.")
    var validity: String?

    @Option(help: "Re-sign cached responses once less than this fraction of their validity remains.")
    var refreshFraction: Double = 0.5

    @Option(help: "Live signatures per second (nonce requests, cache misses) before answering tryLater.")
    var liveSignRate: Double = 2000

    @Option(help: "When the live-signing limit is reached, nonce requests get: try-later, or cached (RFC 5019: the cached response, without the nonce).")
    var nonceOverflow: String = "try-later"

    @Option(help: "Regenerate each issuer's complete CRL this often (issuers with a CA key), e.g. 1h.")
    var crlInterval: String = "1h"

    @Option(help: "CRL validity (nextUpdate - thisUpdate), e.g. 7d.")
    var crlValidity: String = "7d"

    @Option(help: "After status changes, publish a delta CRL once they have settled this long, e.g. 2s.")
    var crlDebounce: String = "2s"

    @Option(help: "Split complete CRLs into this many shards (1: one CRL per issuer, plus deltas).")
    var crlShards: Int = 1

    @Option(help: "Public base URL of this server, for CRL shards' Issuing Distribution Points (default: http://LISTEN/).")
    var publicURL: String?

    @Flag(help: "Do not generate CRLs (still serve the ones ocspctl stores).")
    var noCRL = false

    @Flag(help: "Accept signing-key files that others than their owner may read (refused otherwise).")
    var allowInsecureKeyPermissions = false

    @Option(help: "HTTP worker threads, one per core unless set; each has its own listening socket (SO_REUSEPORT) and epoll loop, and makes the live signatures of its connections.")
    var threads: Int = min(ProcessInfo.processInfo.activeProcessorCount, 64)

    @Option(help: "Each request must arrive whole within this long of the connection opening or the previous answer, e.g. 10s; idle keep-alive connections are closed after as long.")
    var requestTimeout: String = "10s"

    @Option(help: "Connections one client address may hold open (0: no limit; raise it behind a proxy or CDN).")
    var maxConnectionsPerAddress: Int = 256

    @Option(help: "Ready responses each thread keeps for repeated requests (a power of two, about 1.5 KiB each).")
    var frontCacheEntries: Int = 16384

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Log format on standard error: json (one object per line) or text.")
    var logFormat: String = "json"

    @Option(help: "Serve /metrics, /healthz and /readyz on this HOST:PORT instead of the OCSP listener.")
    var metricsListen: String?

    @Flag(help: "Count nothing and serve no /metrics (for measuring what the counters cost).")
    var noMetrics = false

    @Option(help: "Log this share of OCSP requests, one JSON line each (0: none, 0.01: 1 %, 1: all).")
    var requestLogSample: Double = 0

    func validate() throws {
        if let validity, Durations.parse(validity) == nil {
            throw ValidationError("--validity \(validity): expected a duration such as 3600, 90m, 12h or 7d")
        }
        guard refreshFraction > 0, refreshFraction < 1 else { throw ValidationError("--refresh-fraction must be between 0 and 1") }
        guard liveSignRate >= 1 else { throw ValidationError("--live-sign-rate must be at least 1") }
        guard ["try-later", "cached"].contains(nonceOverflow) else {
            throw ValidationError("--nonce-overflow \(nonceOverflow): use try-later or cached")
        }
        for (name, value) in [("--crl-interval", crlInterval), ("--crl-validity", crlValidity), ("--crl-debounce", crlDebounce)]
        where Durations.parse(value) == nil {
            throw ValidationError("\(name) \(value): expected a duration such as 2s, 1h or 7d")
        }
        guard (1...4096).contains(crlShards) else { throw ValidationError("--crl-shards must be 1…4096") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1…256") }
        guard let timeout = Durations.parse(requestTimeout), timeout >= 1, timeout <= 3600 else {
            throw ValidationError("--request-timeout \(requestTimeout): expected a duration from 1s to 1h, e.g. 10s")
        }
        guard maxConnectionsPerAddress >= 0 else {
            throw ValidationError("--max-connections-per-address must be 0 (no limit) or more")
        }
        guard frontCacheEntries > 0, frontCacheEntries & (frontCacheEntries - 1) == 0, frontCacheEntries <= 1 << 24 else {
            throw ValidationError("--front-cache-entries must be a power of two up to 16777216, e.g. 4096 or 16384")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel): use trace, debug, info, notice, warning, error or critical")
        }
        guard (0...1).contains(requestLogSample) else {
            throw ValidationError("--request-log-sample \(requestLogSample): use a share from 0 (none) to 1 (every request), e.g. 0.01")
        }
        guard ["json", "text"].contains(logFormat) else {
            throw ValidationError("--log-format \(logFormat): use json or text")
        }
        if let metricsListen {
            do { _ = try HTTPServer.Configuration(listen: metricsListen) } catch {
                throw ValidationError("--metrics-listen \(metricsListen): expected HOST:PORT, e.g. 127.0.0.1:9090")
            }
            guard !noMetrics else { throw ValidationError("--metrics-listen and --no-metrics exclude each other") }
        }
    }

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

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        let output = JSONLogHandler.Output()
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label, output: output) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ocspd")
        // Counters the libraries keep through swift-metrics land in the registry /metrics renders.
        let registry = PrometheusCollectorRegistry()
        if !noMetrics { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }

        // Block the stop and reload signals before libmicrohttpd starts its threads, so they
        // inherit the mask and only sigwait() below sees them.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let revocationStore = try RevocationStore.open(at: store)
        var configuration = OCSPResponder.Configuration()
        configuration.validityOverride = validity.flatMap(Durations.parse)
        configuration.refreshFraction = refreshFraction
        configuration.liveSigningRate = liveSignRate
        configuration.nonceOverflowServesCached = nonceOverflow == "cached"
        configuration.keyFilePermissions = allowInsecureKeyPermissions ? .any : .ownerOnly
        let responder = OCSPResponder(store: revocationStore, configuration: configuration)
        // Refuse to start with an expired signer or a key file others may read; warn about the rest.
        let problems = try responder.checkSigners()
        for problem in problems where problem.severity == .warning { logger.warning("\(problem)") }
        if let fatal = problems.first(where: { $0.severity == .fatal }) { throw StartupError(description: "\(fatal)") }
        var crlConfiguration = CRLScheduler.Configuration()
        crlConfiguration.interval = Durations.parse(crlInterval)!
        crlConfiguration.debounce = Durations.parse(crlDebounce)!
        crlConfiguration.policy.validity = Durations.parse(crlValidity)!
        crlConfiguration.policy.shards = crlShards
        crlConfiguration.keyFilePermissions = configuration.keyFilePermissions
        crlConfiguration.policy.baseURL = publicURL ?? "http://\(listen)/"

        // Bind first: if the port is taken, exit before any background thread starts (one still
        // signing while the process exits would race OpenSSL's and Swift's exit-time cleanup).
        var http = try HTTPServer.Configuration(listen: listen)
        http.threads = threads
        http.frontCacheEntries = frontCacheEntries
        http.requestTimeout = Int(Durations.parse(requestTimeout)!.rounded(.up))
        http.connectionsPerAddress = maxConnectionsPerAddress
        http.metrics = !noMetrics
        http.requestLogSampleRate = requestLogSample
        http.servesOperations = metricsListen == nil
        Self.raiseDescriptorLimit(needed: http.connectionLimit + 256, logger: logger)
        let operations = noMetrics ? nil : ResponderOperations(responder: responder, registry: registry)
        let server = HTTPServer(configuration: http, responder: responder, logger: logger, operations: operations)
        let port = try server.start()
        operations?.attach(server)
        var metricsServer: HTTPServer? = nil
        var metricsLine: String? = nil
        if let metricsListen, let operations {
            var configuration = try HTTPServer.Configuration(listen: metricsListen)
            configuration.servesOCSP = false
            configuration.metrics = false
            configuration.connectionLimit = 64
            let listener = HTTPServer(configuration: configuration, responder: responder, logger: logger, operations: operations)
            let metricsPort = try listener.start()
            metricsServer = listener
            let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            metricsLine = "ocspd metrics on http://\(host):\(metricsPort)/metrics\n"
        }
        let refresher = Refresher(responder: responder, logger: logger)
        refresher.start()
        let crls = noCRL ? nil : CRLScheduler(store: revocationStore, configuration: crlConfiguration, logger: logger)
        crls?.start()
        let host = http.host.contains(":") ? "[\(http.host)]" : http.host
        // The readiness line scripts wait for; written unbuffered so it arrives at once.
        FileHandle.standardOutput.write(Data("ocspd listening on http://\(host):\(port)/\n".utf8))
        if let metricsLine { FileHandle.standardOutput.write(Data(metricsLine.utf8)) }
        logger.info("started", metadata: ["store": "\(store)", "threads": "\(threads)"])

        var received: Int32 = 0
        while true {
            sigwait(&signals, &received)
            guard received == SIGHUP else { break }
            // Reload what lives in the store: issuers' signer certificates and keys (a rotated
            // responder certificate is used from the next signature on).
            responder.reloadSigners()
            let problems = (try? responder.checkSigners()) ?? []
            for problem in problems { logger.warning("\(problem)") }
            logger.info("reloaded", metadata: ["signal": "SIGHUP", "signer_problems": "\(problems.count)"])
        }
        logger.info("stopping", metadata: ["signal": "\(received)"])
        metricsServer?.stop()
        server.stop()
        let served = server.statistics
        logger.info(
            "stopped",
            metadata: [
                "store_answers": "\(served.storeAnswers)", "full_path_answers": "\(served.fullPathAnswers)",
                "front_cache_hits": "\(served.frontCacheHits)", "front_cache_inserts": "\(served.frontCacheInserts)",
                "front_cache_not_admitted": "\(served.frontCacheNotAdmitted)",
                "front_cache_invalidated": "\(served.frontCacheInvalidated)",
            ])
        refresher.stop()
        crls?.stop()
    }
}

/// A reason not to start, printed as one `Error: …` line.
struct StartupError: Error, CustomStringConvertible {
    let description: String
}
