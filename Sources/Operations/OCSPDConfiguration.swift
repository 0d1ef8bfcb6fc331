package import CRLService
package import Foundation
package import HTTPServer
package import Logging
package import OCSPCore
package import Replication
package import Responder
package import Settings

/// Everything `ocspd` is configured with, as one typed value: its parts are what the responder,
/// the HTTP listeners, the refresher and the CRL scheduler take.
///
/// Read from flags, `OCSPD_…` environment variables and a YAML file, in that order of precedence
/// (``load(flags:environment:file:)``), every value checked when it is read.
package struct OCSPDConfiguration: Sendable {
    package enum LogFormat: String, Sendable { case json, text }

    package var store = ""
    package var listen = "127.0.0.1:8080"
    package var responder = OCSPResponder.Configuration()
    package var http = HTTPServer.Configuration()
    package var crlEnabled = true
    package var crl = CRLScheduler.Configuration()
    /// The system of record this ocspd follows (`--follow URL`), and how.
    package var follow: Follower.Configuration?
    package var followMaxLag: TimeInterval = 10
    package var followPollInterval: TimeInterval = 1
    package var followTimeout: TimeInterval = 10
    /// How a follower tells an HTTP cache in front that a certificate changed.
    package var purge = PurgeHook.Configuration()
    /// Whether the CRL scheduler also makes revocation filters, and how.
    package var filterEnabled = false
    package var filter = FilterPolicy()
    package var publicURL: String?
    package var logLevel = Logger.Level.info
    package var logFormat = LogFormat.json
    package var metricsEnabled = true
    package var metricsListen: String?
    /// The PKCS#11 module for key URIs that name none.
    package var pkcs11Module: String?
    /// How signing through a PKCS#11 token is bounded (in-flight, queue, timeout, retry).
    package var pkcs11 = PKCS11Token.Limits()
    /// How long SIGTERM waits for requests in flight before closing what is left.
    package var shutdownTimeout: TimeInterval = 10
    /// Where each value came from (key → "default", "file", "environment" or "flag").
    package var sources: [String: String] = [:]
    /// What was odd but not wrong (an `OCSPD_` variable that is no key), for the log.
    package var warnings: [String] = []

    package init() {
        http.threads = min(ProcessInfo.processInfo.activeProcessorCount, 64)
    }

    /// One configuration key (see ``Settings/Setting``).
    package typealias Setting = Settings.Setting<OCSPDConfiguration>

    /// Every key, in the order `--check-config` prints them.
    package static let settings: [Setting] = [
        Setting(key: "store", help: "the store directory (create it with `ocspctl init`)", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                guard !value.isEmpty else { throw ConfigurationError(key: "store", value: value, expected: "a directory") }
                config.store = value
            }, current: { $0.store }),
        Setting(key: "listen", help: "HOST:PORT to listen on (port 0 picks a free one)", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                guard let parsed = try? HTTPServer.Configuration(listen: value) else {
                    throw ConfigurationError(key: "listen", value: value, expected: "HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
                }
                config.listen = value
                config.http.host = parsed.host
                config.http.port = parsed.port
            }, current: { $0.listen }),
        Setting(key: "threads", help: "HTTP worker threads (default: one per core)", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.http.threads = try SettingValue.integer("threads", value, in: 1...256)
            }, current: { "\($0.http.threads)" }),
        Setting(key: "validity", help: "response validity, overriding each issuer's (e.g. 12h; empty: the issuer's)",
            reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                config.responder.validityOverride = value.isEmpty ? nil : try SettingValue.seconds("validity", value, in: 1...(366 * 86400))
            }, current: { $0.responder.validityOverride.map { DurationText.format(seconds: $0) } ?? "" }),
        Setting(key: "refresh-fraction", help: "re-sign once less than this share of a response's validity remains",
            reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                guard let fraction = Double(value), fraction > 0, fraction < 1 else {
                    throw ConfigurationError(key: "refresh-fraction", value: value, expected: "a number between 0 and 1, e.g. 0.5")
                }
                config.responder.refreshFraction = fraction
            }, current: { "\($0.responder.refreshFraction)" }),
        Setting(key: "live-sign-rate", help: "live signatures a second (nonces, misses) before tryLater", reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                guard let rate = Double(value), rate >= 1 else {
                    throw ConfigurationError(key: "live-sign-rate", value: value, expected: "a number of signatures a second, at least 1")
                }
                config.responder.liveSigningRate = rate
            }, current: { "\(Int($0.responder.liveSigningRate))" }),
        Setting(key: "nonce-overflow", help: "past the live-signing limit, nonce requests get try-later or cached",
            reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                guard ["try-later", "cached"].contains(value) else {
                    throw ConfigurationError(key: "nonce-overflow", value: value, expected: "try-later or cached")
                }
                config.responder.nonceOverflowServesCached = value == "cached"
            }, current: { $0.responder.nonceOverflowServesCached ? "cached" : "try-later" }),
        Setting(key: "allow-insecure-key-permissions", help: "accept key files others than their owner may read",
            reloadable: true, switches: ["allow-insecure-key-permissions": "true"],
            apply: { config, value throws(ConfigurationError) in
                let allow = try SettingValue.boolean("allow-insecure-key-permissions", value)
                config.responder.keyFilePermissions = allow ? .any : .ownerOnly
                config.crl.keyFilePermissions = config.responder.keyFilePermissions
            }, current: { $0.responder.keyFilePermissions == .any ? "true" : "false" }),
        Setting(key: "pkcs11.module", help: "PKCS#11 module for key URIs without module-path= (empty: none)",
            reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                guard value.isEmpty || value.hasPrefix("/") else {
                    throw ConfigurationError(key: "pkcs11.module", value: value, expected: "an absolute path, e.g. /usr/lib/softhsm/libsofthsm2.so")
                }
                config.pkcs11Module = value.isEmpty ? nil : value
            }, current: { $0.pkcs11Module ?? "" }),
        Setting(key: "pkcs11.timeout", help: "a signature waits this long for the token before tryLater (e.g. 2s)",
            reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.pkcs11.timeout = try SettingValue.seconds("pkcs11.timeout", value, in: 0.001...60)
            }, current: { DurationText.format(seconds: $0.pkcs11.timeout) }),
        Setting(key: "pkcs11.concurrency", help: "signatures in the token at once", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.pkcs11.concurrency = try SettingValue.integer("pkcs11.concurrency", value, in: 1...1024)
            }, current: { "\($0.pkcs11.concurrency)" }),
        Setting(key: "pkcs11.queue", help: "signatures waiting for the token; more get tryLater at once", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.pkcs11.queue = try SettingValue.integer("pkcs11.queue", value, in: 0...100_000)
            }, current: { "\($0.pkcs11.queue)" }),
        Setting(key: "pkcs11.retry-interval", help: "how often a lost or slow token is tried again (e.g. 1s)",
            reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.pkcs11.retryInterval = try SettingValue.seconds("pkcs11.retry-interval", value, in: 0.01...3600)
            }, current: { DurationText.format(seconds: $0.pkcs11.retryInterval) }),
        Setting(key: "request-timeout", help: "each request must arrive whole within this long (e.g. 10s)", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.http.requestTimeout = Int(try SettingValue.seconds("request-timeout", value, in: 1...3600).rounded(.up))
            }, current: { DurationText.format(seconds: TimeInterval($0.http.requestTimeout)) }),
        Setting(key: "max-connections-per-address", help: "connections one client address may hold (0: no limit)",
            reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.http.connectionsPerAddress = try SettingValue.integer("max-connections-per-address", value, in: 0...1_000_000)
            }, current: { "\($0.http.connectionsPerAddress)" }),
        Setting(key: "front-cache-entries", help: "ready responses each thread keeps (a power of two)", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                let entries = try SettingValue.integer("front-cache-entries", value, in: 1...(1 << 24))
                guard entries & (entries - 1) == 0 else {
                    throw ConfigurationError(key: "front-cache-entries", value: value, expected: "a power of two up to 16777216, e.g. 16384")
                }
                config.http.frontCacheEntries = entries
            }, current: { "\($0.http.frontCacheEntries)" }),
        Setting(key: "shutdown-timeout", help: "on SIGTERM, how long requests in flight may take (e.g. 10s)", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.shutdownTimeout = try SettingValue.seconds("shutdown-timeout", value, in: 0...600)
            }, current: { DurationText.format(seconds: $0.shutdownTimeout) }),
        Setting(key: "crl.enabled", help: "generate CRLs (stored ones are served either way)", reloadable: false, switches: ["no-crl": "false"],
            apply: { config, value throws(ConfigurationError) in config.crlEnabled = try SettingValue.boolean("crl.enabled", value) },
            current: { "\($0.crlEnabled)" }),
        Setting(key: "crl.interval", help: "regenerate each complete CRL this often (e.g. 1h)", reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                config.crl.interval = try SettingValue.seconds("crl.interval", value, in: 1...(31 * 86400))
            }, current: { DurationText.format(seconds: $0.crl.interval) }),
        Setting(key: "crl.validity", help: "CRL validity, nextUpdate - thisUpdate (e.g. 7d)", reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                config.crl.policy.validity = try SettingValue.seconds("crl.validity", value, in: 60...(366 * 86400))
            }, current: { DurationText.format(seconds: $0.crl.policy.validity) }),
        Setting(key: "crl.debounce", help: "publish a delta CRL once changes have settled this long (e.g. 2s)",
            reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                config.crl.debounce = try SettingValue.seconds("crl.debounce", value, in: 0...3600)
            }, current: { DurationText.format(seconds: $0.crl.debounce) }),
        Setting(key: "crl.shards", help: "split complete CRLs into this many shards", reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                config.crl.policy.shards = try SettingValue.integer("crl.shards", value, in: 1...4096)
            }, current: { "\($0.crl.policy.shards)" }),
        Setting(key: "crl.public-url", help: "public base URL relying parties reach the CRLs at: named in complete CRLs (Freshest CRL) and shards (IDP); none by default",
            reloadable: true, flag: "public-url",
            apply: { config, value throws(ConfigurationError) in
                guard value.isEmpty || value.hasPrefix("http://") || value.hasPrefix("https://") else {
                    throw ConfigurationError(key: "crl.public-url", value: value, expected: "an http:// or https:// URL")
                }
                config.publicURL = value.isEmpty ? nil : value
            }, current: { $0.publicURL ?? "" }),
        Setting(key: "filter.enabled", help: "make revocation filters (CRLite) on the CRL schedule; needs crl.enabled",
            reloadable: true, switches: ["filters": "true"],
            apply: { config, value throws(ConfigurationError) in config.filterEnabled = try SettingValue.boolean("filter.enabled", value) },
            current: { "\($0.filterEnabled)" }),
        Setting(key: "filter.validity", help: "revocation filter validity, nextUpdate - thisUpdate (e.g. 7d)", reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                config.filter.validity = try SettingValue.seconds("filter.validity", value, in: 60...(366 * 86400))
            }, current: { DurationText.format(seconds: $0.filter.validity) }),
        Setting(key: "filter.coverage-margin",
            help: "filters cover certificates whose notBefore is this long before they are made (the CA's backdating; e.g. 1h)",
            reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                config.filter.coverageMargin = try SettingValue.seconds("filter.coverage-margin", value, in: 0...(31 * 86400))
            }, current: { DurationText.format(seconds: $0.filter.coverageMargin) }),
        Setting(key: "follow.database",
            help: "follow this system of record, a libpq connection string (postgres://USER@HOST:PORT/DATABASE; several hosts with target_session_attrs=read-write follow a failover): the store becomes its replica",
            reloadable: false, flag: "follow",
            apply: { config, value throws(ConfigurationError) in
                guard !value.isEmpty else {
                    config.follow = nil
                    return
                }
                do {
                    config.follow = Follower.Configuration(location: try DatabaseLocation(url: value))
                } catch {
                    // (The URL may hold a password: it is not repeated.)
                    throw ConfigurationError(
                        key: "follow.database", value: "(the URL)", expected: "a libpq connection string, postgres://USER@HOST:PORT/DATABASE (\(error))")
                }
            }, current: { $0.follow.map { "\($0.location)" } ?? "" }),
        Setting(key: "follow.max-lag", help: "/readyz fails while a committed change older than this is not applied (e.g. 10s)",
            reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.followMaxLag = try SettingValue.seconds("follow.max-lag", value, in: 0.1...86400)
            }, current: { DurationText.format(seconds: $0.followMaxLag) }),
        Setting(key: "follow.poll-interval", help: "read the system of record this often without a notification (e.g. 1s)",
            reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.followPollInterval = try SettingValue.seconds("follow.poll-interval", value, in: 0.05...3600)
            }, current: { DurationText.format(seconds: $0.followPollInterval) }),
        Setting(key: "follow.timeout",
            help: "a database call that takes longer fails and the follower reconnects; a quiet notification link is probed this often (e.g. 10s)",
            reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                config.followTimeout = try SettingValue.seconds("follow.timeout", value, in: 1...3600)
            }, current: { DurationText.format(seconds: $0.followTimeout) }),
        Setting(key: "follow.purge-url",
            help: "after applying a change, request this URL for each of the certificate's GET paths ({path}) to purge an HTTP cache",
            reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                guard value.isEmpty || ((value.hasPrefix("http://") || value.hasPrefix("https://")) && value.contains("{path}")) else {
                    throw ConfigurationError(key: "follow.purge-url", value: value, expected: "an http(s) URL with {path}, e.g. http://cache:8081{path}")
                }
                config.purge.urlTemplate = value.isEmpty ? nil : value
            }, current: { $0.purge.urlTemplate ?? "" }),
        Setting(key: "follow.purge-method", help: "the HTTP method of purge requests", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                guard !value.isEmpty, value.allSatisfy({ $0.isLetter && $0.isUppercase }) else {
                    throw ConfigurationError(key: "follow.purge-method", value: value, expected: "an HTTP method in capitals, e.g. GET or PURGE")
                }
                config.purge.method = value
            }, current: { $0.purge.method }),
        Setting(key: "follow.purge-command",
            help: "after applying a change, run this shell command per certificate (OCSP_PURGE_PATHS, OCSP_ISSUER, OCSP_SERIAL)",
            reloadable: false,
            apply: { config, value throws(ConfigurationError) in config.purge.command = value.isEmpty ? nil : value },
            current: { $0.purge.command ?? "" }),
        Setting(key: "log.level", help: "trace, debug, info, notice, warning, error or critical", reloadable: true,
            apply: { config, value throws(ConfigurationError) in
                guard let level = Logger.Level(rawValue: value) else {
                    throw ConfigurationError(key: "log.level", value: value, expected: "trace, debug, info, notice, warning, error or critical")
                }
                config.logLevel = level
            }, current: { $0.logLevel.rawValue }),
        Setting(key: "log.format", help: "json (one object a line) or text", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                guard let format = LogFormat(rawValue: value) else {
                    throw ConfigurationError(key: "log.format", value: value, expected: "json or text")
                }
                config.logFormat = format
            }, current: { $0.logFormat.rawValue }),
        Setting(key: "log.request-sample", help: "share of OCSP requests logged, 0 to 1 (e.g. 0.01)", reloadable: true, flag: "request-log-sample",
            apply: { config, value throws(ConfigurationError) in
                guard let share = Double(value), (0...1).contains(share) else {
                    throw ConfigurationError(key: "log.request-sample", value: value, expected: "a share from 0 (none) to 1 (all), e.g. 0.01")
                }
                config.http.requestLogSampleRate = share
            }, current: { "\($0.http.requestLogSampleRate)" }),
        Setting(key: "metrics.enabled", help: "count requests and serve /metrics", reloadable: false, switches: ["no-metrics": "false"],
            apply: { config, value throws(ConfigurationError) in
                config.metricsEnabled = try SettingValue.boolean("metrics.enabled", value)
            }, current: { "\($0.metricsEnabled)" }),
        Setting(key: "metrics.listen", help: "serve /metrics, /healthz, /readyz on this HOST:PORT instead", reloadable: false,
            apply: { config, value throws(ConfigurationError) in
                guard value.isEmpty || (try? HTTPServer.Configuration(listen: value)) != nil else {
                    throw ConfigurationError(key: "metrics.listen", value: value, expected: "HOST:PORT, e.g. 127.0.0.1:9102")
                }
                config.metricsListen = value.isEmpty ? nil : value
            }, current: { $0.metricsListen ?? "" }),
    ]

    /// The keys and how they are read: flags, `OCSPD_…` variables, the YAML file.
    package static let schema = SettingsSchema(settings: settings, environmentPrefix: "ocspd")

    package static var settingsByKey: [String: Setting] { schema.byKey }

    /// Checks what the parts cannot check alone.
    func validated() throws(ConfigurationError) -> Self {
        guard !store.isEmpty else {
            throw ConfigurationError(
                key: "store", value: "", expected: "the store directory: --store DIR, OCSPD_STORE or store: in the file")
        }
        if !metricsEnabled, let metricsListen {
            throw ConfigurationError(
                key: "metrics.listen", value: metricsListen, expected: "nothing when metrics.enabled is false")
        }
        var copy = self
        if var follow {
            follow.maxLag = followMaxLag
            follow.pollInterval = followPollInterval
            follow.timeout = followTimeout
            copy.follow = follow
            if filterEnabled {
                throw ConfigurationError(
                    key: "filter.enabled", value: "true",
                    expected: "false with follow.database (followers do not make CRLs or filters: their numbers would fork)")
            }
            if crlEnabled {
                copy.crlEnabled = false
                copy.warnings.append("followers do not make CRLs (their CRL numbers would fork); crl.enabled is off")
            }
        }
        if filterEnabled && !copy.crlEnabled {
            throw ConfigurationError(
                key: "filter.enabled", value: "true", expected: "false when crl.enabled is false (filters are made on the CRL schedule)")
        }
        copy.crl.filters = filterEnabled ? filter : nil
        // Only a URL someone configured goes into a signed CRL: the listen address is often not
        // what relying parties reach (127.0.0.1, a port behind a proxy).
        copy.crl.policy.baseURL = publicURL
        if copy.crlEnabled, let problem = copy.crl.policy.problem {
            throw ConfigurationError(key: "crl.shards", value: "\(copy.crl.policy.shards)", expected: "1 without crl.public-url (\(problem))")
        }

        copy.http.metrics = metricsEnabled
        copy.http.servesOperations = metricsListen == nil
        copy.http.shutdownTimeout = shutdownTimeout
        return copy
    }

    /// What ocspd says once it has started, when its CRLs will name no URL (no `crl.public-url`).
    package var crlURLNotice: String? {
        crlEnabled && crl.policy.baseURL == nil
            ? "no crl.public-url: complete CRLs name no delta CRL (Freshest CRL); set it to the URL relying parties reach"
            : nil
    }

    /// The effective configuration, a `key: value  # source` line each (no key holds a secret:
    /// signing keys stay in their files, named by the store).
    package var summary: String {
        Self.schema.summary(.init(value: self, sources: sources, warnings: warnings))
    }

    /// The effective configuration as log metadata.
    package var metadata: Logger.Metadata {
        Dictionary(uniqueKeysWithValues: Self.settings.map { ($0.key, Logger.MetadataValue.string($0.current(self))) })
    }

    /// The keys whose values differ between two configurations.
    package func changedKeys(to other: OCSPDConfiguration) -> [String] {
        Self.settings.filter { $0.current(self) != $0.current(other) }.map(\.key)
    }
}
