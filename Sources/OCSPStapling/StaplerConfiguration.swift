package import Settings

/// The `ocsp-stapler` configuration file (YAML; see `Config/stapling/stapler.yaml`).
///
/// Every key is optional except that some certificate or directory must be named. Unknown keys
/// are errors, not ignored: a misspelt `haproxy_socket` must not silently leave HAProxy without
/// staples. Durations take the grammar of every configuration here (`500ms`, `5s`, `10m`, `1h`,
/// `7d`; a bare number is seconds). Every global key is also a flag of `ocsp-stapler`
/// (`refresh.retry_min`: `--refresh-retry-min`) and an `OCSP_STAPLER_…` environment variable.
public struct StaplerConfiguration: Sendable {
    public var targets: [StapleTarget] = []
    public var directories: [WatchedDirectory] = []
    /// The responder for every certificate without its own `url` (default: each one's AIA).
    public var responderURL: String?
    /// The HAProxy stats socket for every certificate without its own.
    public var haproxySocket: String?
    public var timeout: Duration = .seconds(5)
    /// How requests travel (`http_method`: auto, get or post).
    public var method: OCSPRequestMethod = .auto
    public var concurrency = 32
    public var policy = RefreshPolicy()
    public var rescanInterval: Duration = .seconds(30)
    public var reloadCommand: String?
    public var reloadMinimumInterval: Duration = .seconds(30)
    public var reloadTimeout: Duration = .seconds(60)
    /// `host:port` for `/metrics` and `/healthz`; nil: none.
    public var metricsListen: String?
    /// `text` or `json`.
    public var logFormat = "text"
    public var logLevel = "info"

    public init() {}

    /// A configuration error: one line, naming the file and the key.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Reads a configuration file (see ``parse(_:source:)``).
    public static func load(path: String) throws -> StaplerConfiguration {
        do {
            return try load(file: try SettingsFile.read(path: path)).value
        } catch let error as Problem {
            throw error
        } catch {
            throw Problem(description: "\(error)")
        }
    }

    /// Reads a configuration from YAML text (`source` names it in errors).
    /// - Throws: ``Problem``, one line naming the key, the value and what is accepted.
    public static func parse(_ text: String, source: String = "configuration") throws -> StaplerConfiguration {
        try load(file: SettingsFile(path: source, text: text)).value
    }

    /// Reads the configuration: each global key from the flags, else its `OCSP_STAPLER_…`
    /// variable, else the file, else its default; certificates and watched directories from the
    /// file. A responder URL given as a flag applies to every certificate, the file's included.
    /// - Throws: ``Problem``, one line.
    package static func load(flags: [String: String] = [:], environment: [String: String] = [:], file: SettingsFile?) throws
        -> SettingsSchema<StaplerConfiguration>.Loaded
    {
        do {
            var loaded = try schema.load(defaults: StaplerConfiguration(), flags: flags, environment: environment, file: file)
            if flags["responder_url"] != nil {
                let url = loaded.value.responderURL
                for index in loaded.value.targets.indices { loaded.value.targets[index].responderURL = url }
                for index in loaded.value.directories.indices { loaded.value.directories[index].responderURL = url }
            }
            if let problem = loaded.value.policy.problems.first {
                throw ConfigurationError(key: "refresh", value: "", expected: problem, source: file.map { "file \($0.path)" })
            }
            let names = loaded.value.targets.map(\.name)
            if let duplicate = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
                throw ConfigurationError(
                    key: "certificates", value: duplicate, expected: "a name used once; give each certificate a `name`",
                    source: file.map { "file \($0.path)" })
            }
            return loaded
        } catch {
            throw Problem(description: "\(error)")
        }
    }

    /// Every key, declared once.
    package static let schema = SettingsSchema<StaplerConfiguration>(
        settings: [
            .text(
                "responder_url", "the OCSP responder for every certificate without its own url (default: each one's AIA URL)",
                at: \.responderURL, expected: "an http:// URL", flag: "url"),
            .text(
                "haproxy_socket", "HAProxy's stats socket (level admin): staples are handed over with `set ssl ocsp-response`",
                at: \.haproxySocket, expected: "the socket's path"),
            .duration("timeout", "what a fetch may take", at: \.timeout, in: 0.001...3600),
            .choice("http_method", "auto (GET when short, POST after a GET is refused), get or post", at: \.method),
            .integer("concurrency", "how many fetches may run at once", at: \.concurrency, in: 1...4096),
            .number(
                "refresh.fraction", "refresh once this share of a staple's validity has passed", at: \.policy.refreshFraction,
                in: 0...1, example: "0.5"),
            .number(
                "refresh.jitter", "a random share of the validity taken off each refresh time", at: \.policy.jitterFraction,
                in: 0...1, example: "0.05"),
            .duration(
                "refresh.margin", "a staple is refreshed this long before nextUpdate at the latest (a quarter of the validity if shorter)",
                at: \.policy.margin, in: 0...(31 * 86400), flag: "refresh-margin"),
            .duration(
                "refresh.retry_min", "the first retry of a failed fetch waits this long (doubling up to refresh.retry_max)",
                at: \.policy.retryMinimum, in: 0.1...86400, flag: "retry-min"),
            .duration("refresh.retry_max", "retries wait this long at most", at: \.policy.retryMaximum, in: 0.1...86400, flag: "retry-max"),
            .duration("rescan_interval", "how often the watched directories are scanned", at: \.rescanInterval, in: 0.1...86400),
            .text(
                "reload.command", "a command run (by /bin/sh) after a staple changed, e.g. 'nginx -s reload'", at: \.reloadCommand,
                expected: "a shell command"),
            .duration(
                "reload.min_interval", "two runs of the reload command are this far apart at least (changes meanwhile make one run)",
                at: \.reloadMinimumInterval, in: 0...86400, flag: "reload-interval"),
            .duration("reload.timeout", "the reload command is stopped after this long", at: \.reloadTimeout, in: 0.001...86400),
            .text(
                "metrics_listen", "host:port for GET /metrics (Prometheus) and /healthz", at: \.metricsListen,
                expected: "HOST:PORT, e.g. 127.0.0.1:9103"),
            .choice("log_format", "log lines as text or json", at: \.logFormat, of: ["text", "json"]),
            .choice(
                "log_level", "trace, debug, info, notice, warning, error or critical", at: \.logLevel,
                of: ["trace", "debug", "info", "notice", "warning", "error", "critical"]),
        ],
        sections: [
            SettingsSection(
                key: "certificates",
                entryKeys: ["name", "cert", "issuer", "out", "url", "haproxy_socket"] + EnvoySDSFile.entryKeys.map { "envoy_sds.\($0)" }
            ) { config, entry throws(ConfigurationError) in
                let expected = "a path: a certificate needs `cert` and `out`"
                let certificate = try entry.required("cert", expected: expected)
                config.targets.append(
                    StapleTarget(
                        name: entry["name"], certificatePath: certificate, issuerPath: entry["issuer"],
                        outputPath: try entry.required("out", expected: expected), responderURL: entry["url"] ?? config.responderURL,
                        haproxySocket: entry["haproxy_socket"] ?? config.haproxySocket,
                        outputs: try EnvoySDSFile(entry: entry, certificate: certificate).map { [$0] } ?? []))
            },
            SettingsSection(key: "watch", entryKeys: ["dir", "url", "haproxy_socket"]) { config, entry throws(ConfigurationError) in
                config.directories.append(
                    WatchedDirectory(
                        path: try entry.required("dir", expected: "a directory: a watched directory needs `dir`"),
                        responderURL: entry["url"] ?? config.responderURL, haproxySocket: entry["haproxy_socket"] ?? config.haproxySocket))
            },
        ],
        environmentPrefix: "ocsp_stapler")
}

extension Duration {
    /// Parses a duration in the grammar of every configuration here (`500ms`, `5s`, `10m`, `1h`,
    /// `7d`; a bare number is seconds); nil for anything else, or a negative one.
    public init?(configurationText text: String) {
        guard let duration = DurationText.parse(text) else { return nil }
        self = duration
    }
}

extension EnvoySDSFile {
    /// The keys of a certificate's `envoy_sds:`.
    static let entryKeys = ["path", "private_key", "certificate_chain", "secret_name"]

    /// A certificate's `envoy_sds: {path, private_key, certificate_chain, secret_name}`, or nil
    /// without one; the chain is the certificate's `cert` unless given, and the secret has no
    /// `name` unless given.
    init?(entry: SettingsEntry, certificate: String) throws(ConfigurationError) {
        guard Self.entryKeys.contains(where: { entry["envoy_sds.\($0)"] != nil }) else { return nil }
        let expected = "a path: envoy_sds needs `path` (the SDS file) and `private_key`"
        self.init(
            path: try entry.required("envoy_sds.path", expected: expected), secretName: entry["envoy_sds.secret_name"],
            certificateChain: entry["envoy_sds.certificate_chain"] ?? certificate,
            privateKey: try entry.required("envoy_sds.private_key", expected: expected))
    }
}
