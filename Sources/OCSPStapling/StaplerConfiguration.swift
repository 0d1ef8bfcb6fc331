internal import Foundation
internal import Yams

/// The `ocsp-stapler` configuration file (YAML; see `Config/stapling/stapler.yaml`).
///
/// Every key is optional except that some certificate or directory must be named. Unknown keys
/// are errors, not ignored: a misspelt `haproxy_socket` must not silently leave HAProxy without
/// staples. Durations are seconds, or a number with `ms`, `s`, `m` or `h`.
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

    public static func load(path: String) throws -> StaplerConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(description: "\(path): cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    public static func parse(_ text: String, source: String = "configuration") throws -> StaplerConfiguration {
        let document: Any?
        do {
            document = try loadYAML(text)
        } catch {
            throw Problem(description: "\(source): not valid YAML: \(error.firstLine)")
        }
        var configuration = StaplerConfiguration()
        let root = try Node(document ?? [String: Any](), path: source).mapping(
            allowed: [
                "responder_url", "haproxy_socket", "timeout", "http_method", "concurrency", "refresh", "rescan_interval", "reload",
                "metrics_listen", "log_format", "log_level", "certificates", "watch",
            ])
        configuration.responderURL = try root["responder_url"]?.string()
        configuration.haproxySocket = try root["haproxy_socket"]?.string()
        if let value = try root["timeout"]?.duration() { configuration.timeout = value }
        if let value = try root["http_method"]?.string(oneOf: OCSPRequestMethod.allCases.map(\.rawValue)) {
            configuration.method = OCSPRequestMethod(rawValue: value) ?? .auto
        }
        if let value = try root["concurrency"]?.integer(atLeast: 1) { configuration.concurrency = value }
        if let value = try root["rescan_interval"]?.duration() { configuration.rescanInterval = value }
        if let value = try root["metrics_listen"]?.string() { configuration.metricsListen = value }
        if let value = try root["log_format"]?.string(oneOf: ["text", "json"]) { configuration.logFormat = value }
        if let value = try root["log_level"]?.string(oneOf: ["trace", "debug", "info", "notice", "warning", "error", "critical"]) {
            configuration.logLevel = value
        }
        if let refresh = try root["refresh"]?.mapping(allowed: ["fraction", "jitter", "margin", "retry_min", "retry_max"]) {
            if let value = try refresh["fraction"]?.number() { configuration.policy.refreshFraction = value }
            if let value = try refresh["jitter"]?.number() { configuration.policy.jitterFraction = value }
            if let value = try refresh["margin"]?.duration() { configuration.policy.margin = value }
            if let value = try refresh["retry_min"]?.duration() { configuration.policy.retryMinimum = value }
            if let value = try refresh["retry_max"]?.duration() { configuration.policy.retryMaximum = value }
            if let problem = configuration.policy.problems.first { throw Problem(description: "\(source): refresh: \(problem)") }
        }
        if let reload = try root["reload"]?.mapping(allowed: ["command", "min_interval", "timeout"]) {
            configuration.reloadCommand = try reload["command"]?.string()
            if let value = try reload["min_interval"]?.duration() { configuration.reloadMinimumInterval = value }
            if let value = try reload["timeout"]?.duration() { configuration.reloadTimeout = value }
        }
        for entry in try root["certificates"]?.sequence() ?? [] {
            let fields = try entry.mapping(allowed: ["name", "cert", "issuer", "out", "url", "haproxy_socket", "envoy_sds"])
            guard let cert = try fields["cert"]?.string(), let out = try fields["out"]?.string() else {
                throw Problem(description: "\(entry.path): a certificate needs `cert` and `out`")
            }
            configuration.targets.append(
                StapleTarget(
                    name: try fields["name"]?.string(), certificatePath: cert, issuerPath: try fields["issuer"]?.string(),
                    outputPath: out, responderURL: try fields["url"]?.string() ?? configuration.responderURL,
                    haproxySocket: try fields["haproxy_socket"]?.string() ?? configuration.haproxySocket,
                    outputs: try fields["envoy_sds"].map { [try envoySDSFile($0, certificate: cert)] } ?? []))
        }
        for entry in try root["watch"]?.sequence() ?? [] {
            let fields = try entry.mapping(allowed: ["dir", "url", "haproxy_socket"])
            guard let directory = try fields["dir"]?.string() else {
                throw Problem(description: "\(entry.path): a watched directory needs `dir`")
            }
            configuration.directories.append(
                WatchedDirectory(
                    path: directory, responderURL: try fields["url"]?.string() ?? configuration.responderURL,
                    haproxySocket: try fields["haproxy_socket"]?.string() ?? configuration.haproxySocket))
        }
        let names = configuration.targets.map(\.name)
        if let duplicate = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw Problem(description: "\(source): certificates: the name \(duplicate) is used twice; give each a `name`")
        }
        return configuration
    }

    /// One value of the YAML document, with the path that names it in errors.
    private struct Node {
        let value: Any
        let path: String

        init(_ value: Any, path: String) {
            self.value = value
            self.path = path
        }

        func mapping(allowed: Set<String>) throws -> [String: Node] {
            guard let dictionary = value as? [String: Any] else { throw Problem(description: "\(path): expected a mapping") }
            if let unknown = dictionary.keys.sorted().first(where: { !allowed.contains($0) }) {
                throw Problem(description: "\(path): unknown key `\(unknown)` (known: \(allowed.sorted().joined(separator: ", ")))")
            }
            return dictionary.reduce(into: [:]) { $0[$1.key] = Node($1.value, path: "\(path): \($1.key)") }
        }

        func sequence() throws -> [Node] {
            guard let array = value as? [Any] else { throw Problem(description: "\(path): expected a list") }
            return array.enumerated().map { Node($1, path: "\(path)[\($0)]") }
        }

        func string() throws -> String {
            switch value {
            case let string as String where !string.isEmpty: return string
            case let number as Int: return "\(number)"
            default: throw Problem(description: "\(path): expected a non-empty string")
            }
        }

        func string(oneOf choices: [String]) throws -> String {
            let text = try string()
            guard choices.contains(text) else {
                throw Problem(description: "\(path): `\(text)` is not one of \(choices.joined(separator: ", "))")
            }
            return text
        }

        func number() throws -> Double {
            switch value {
            case let number as Int: return Double(number)
            case let number as Double: return number
            default: throw Problem(description: "\(path): expected a number")
            }
        }

        func integer(atLeast minimum: Int) throws -> Int {
            guard let number = value as? Int, number >= minimum else {
                throw Problem(description: "\(path): expected a whole number of at least \(minimum)")
            }
            return number
        }

        func duration() throws -> Duration {
            let text: String
            switch value {
            case let number as Int: text = "\(number)"
            case let number as Double: text = "\(number)"
            case let string as String: text = string
            default: text = ""
            }
            guard let duration = Duration(configurationText: text) else {
                throw Problem(description: "\(path): expected a duration (seconds, or e.g. 250ms, 5s, 10m, 1h)")
            }
            return duration
        }
    }
}

extension StaplerConfiguration {
    /// A certificate's `envoy_sds` key: `{path, private_key, certificate_chain, secret_name}`; the
    /// chain is the certificate's `cert` unless given, and the secret has no `name` unless given.
    private static func envoySDSFile(_ node: Node, certificate: String) throws -> EnvoySDSFile {
        let fields = try node.mapping(allowed: ["path", "secret_name", "certificate_chain", "private_key"])
        guard let path = try fields["path"]?.string(), let key = try fields["private_key"]?.string() else {
            throw Problem(description: "\(node.path): needs `path` (the SDS file) and `private_key`")
        }
        return EnvoySDSFile(
            path: path, secretName: try fields["secret_name"]?.string(),
            certificateChain: try fields["certificate_chain"]?.string() ?? certificate, privateKey: key)
    }
}

extension Duration {
    /// Parses a duration as configuration files write it: `5`, `5s`, `250ms`, `10m`, `1h` (a
    /// bare number is seconds); nil for anything else, or a negative one.
    public init?(configurationText text: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = text.trimmingCharacters(in: .whitespaces)
        var scale = 1.0
        for (suffix, factor) in units where number.hasSuffix(suffix) {
            number.removeLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        self = .milliseconds(Int64((value * scale * 1000).rounded()))
    }
}

/// Why a text is not YAML: the first line of Yams' message, for a one-line error.
package struct YAMLFailure: Error {
    package let firstLine: String
}

/// Parses YAML (JSON included: it is YAML) into dictionaries, arrays and scalars.
package func loadYAML(_ text: String) throws(YAMLFailure) -> Any? {
    do {
        return try Yams.load(yaml: text)
    } catch {
        throw YAMLFailure(firstLine: "\(error)".split(separator: "\n").first.map(String.init) ?? "not YAML")
    }
}
