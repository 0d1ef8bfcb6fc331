internal import Foundation
public import OCSPStapling

/// How a relying party checks a peer certificate's revocation status: the keys the mTLS
/// deployments write under `revocation_checking:`.
///
/// ```yaml
/// revocation_checking:
///   method: ocsp_stapling  # Server pre-fetches OCSP response
///   fallback: ocsp         # Direct OCSP if stapling unavailable
///   must_staple: true      # Require OCSP stapling extension
///   crl_fallback: false    # CRLs too large for real-time
///   soft_fail: false       # Hard-fail if OCSP unreachable (security > availability)
///   cache_ttl: 3600        # Cache OCSP responses for 1 hour
///   timeout: 5s            # OCSP responder timeout
///   filter: /etc/ca/ca.mlbf  # revocation filters (CRLite), asked first, offline (ours)
/// ```
public struct RevocationPolicy: Sendable, Hashable {
    /// The first source asked.
    public enum Method: String, Sendable, Hashable, CaseIterable {
        /// The staple the peer sent, when there is one (then the fallbacks).
        case ocspStapling = "ocsp_stapling"
        /// OCSP to the responder directly (a staple, if given, does not decide; must-staple still
        /// requires it to verify).
        case ocsp
        /// The CRL only.
        case crl
    }

    /// What to do when the first method gives no answer.
    public enum Fallback: String, Sendable, Hashable, CaseIterable {
        case ocsp
        case none
    }

    public var method: Method = .ocspStapling
    public var fallback: Fallback = .ocsp
    /// A certificate carrying the TLS Feature status_request without a valid staple is rejected,
    /// whatever the fallbacks.
    public var mustStaple = false
    /// Ask the CRL from the certificate's CRL Distribution Point when OCSP gave no answer.
    public var crlFallback = false
    /// When no source answered: accept (true, with a warning logged and counted) or reject.
    public var softFail = false
    /// How long a verified good or unknown answer from the network is kept, at most (never past its
    /// nextUpdate); a revoked one is kept until its nextUpdate.
    public var cacheTTL: Duration = .seconds(3600)
    /// The whole budget of one check, across every source.
    public var timeout: Duration = .seconds(5)
    /// What one fetch (an OCSP request, a CRL, a delta) may take at most (`source_timeout`); by
    /// default its share of what is left: OCSP half of it when the CRL follows, the CRL the rest.
    public var sourceTimeout: Duration?
    /// How long a connection may take (`connect_timeout`); by default the fetch's own limit. A
    /// refused connection fails at once either way.
    public var connectTimeout: Duration?
    /// How OCSP requests travel (`http_method`: auto, get or post).
    public var httpMethod: OCSPRequestMethod = .auto
    /// A CRL (or delta) larger than this is refused unread (`crl_max_size`: bytes, or with
    /// k, M or G).
    public var maximumCRLBytes = 64 * 1024 * 1024
    /// Where to ask instead of the certificate's AIA OCSP URL (an extension of ours: `ocsp_url`).
    public var ocspURL: String?
    /// How long a failure (no source answered) is remembered, so an outage does not become a
    /// request storm (`failure_cache_ttl`).
    public var failureCacheTTL: Duration = .seconds(5)
    /// How many certificates the cache holds at most (`cache_entries`).
    public var cacheEntries = 10_000
    /// Revocation filters asked first, offline (`filter:`, one or a list): each a path or an
    /// http(s) URL of a `.mlbf` whose signed metadata is next to it (`.mlbf.meta`). A filter
    /// signed by the issuer's key decides revoked or good; a certificate it does not cover (issued
    /// after it, or a stale filter) goes on to the staple, OCSP and the CRL.
    public var filters: [String] = []

    public init() {}

    /// One line saying what is wrong with a policy file.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Reads a policy from YAML or JSON (JSON is YAML): the keys at the top level or under
    /// `revocation_checking:`. Unknown keys are errors.
    public static func parse(_ text: String, source: String = "policy") throws -> RevocationPolicy {
        let document: Any?
        do {
            document = try loadYAML(text)
        } catch {
            throw Problem(description: "\(source): neither YAML nor JSON: \(error.firstLine)")
        }
        guard var fields = document as? [String: Any] else { throw Problem(description: "\(source): expected a mapping") }
        var path = source
        if fields.count == 1, let inner = fields["revocation_checking"] {
            guard let mapping = inner as? [String: Any] else {
                throw Problem(description: "\(source): revocation_checking: expected a mapping")
            }
            fields = mapping
            path += ": revocation_checking"
        }
        let known: Set<String> = [
            "method", "fallback", "must_staple", "crl_fallback", "soft_fail", "cache_ttl", "timeout", "ocsp_url",
            "failure_cache_ttl", "cache_entries", "filter", "source_timeout", "connect_timeout", "http_method", "crl_max_size",
        ]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw Problem(description: "\(path): unknown key `\(unknown)` (known: \(known.sorted().joined(separator: ", ")))")
        }
        func string(_ key: String) throws -> String? {
            guard let value = fields[key] else { return nil }
            guard let string = value as? String, !string.isEmpty else {
                throw Problem(description: "\(path): \(key): expected a string")
            }
            return string
        }
        func flag(_ key: String) throws -> Bool? {
            guard let value = fields[key] else { return nil }
            guard let bool = value as? Bool else { throw Problem(description: "\(path): \(key): expected true or false") }
            return bool
        }
        func duration(_ key: String) throws -> Duration? {
            guard let value = fields[key] else { return nil }
            guard let duration = Duration(configurationText: "\(value)"), !(value is Bool) else {
                throw Problem(description: "\(path): \(key): expected a duration (seconds, or e.g. 500ms, 5s, 10m, 1h)")
            }
            return duration
        }
        var policy = RevocationPolicy()
        if let value = try string("method") {
            guard let method = Method(rawValue: value) else {
                throw Problem(description: "\(path): method: `\(value)` is not one of ocsp_stapling, ocsp, crl")
            }
            policy.method = method
        }
        if let value = try string("fallback") {
            guard let fallback = Fallback(rawValue: value) else {
                throw Problem(description: "\(path): fallback: `\(value)` is not one of ocsp, none")
            }
            policy.fallback = fallback
        }
        if let value = try flag("must_staple") { policy.mustStaple = value }
        if let value = try flag("crl_fallback") { policy.crlFallback = value }
        if let value = try flag("soft_fail") { policy.softFail = value }
        if let value = try duration("cache_ttl") { policy.cacheTTL = value }
        if let value = try duration("timeout") {
            guard value > .zero else { throw Problem(description: "\(path): timeout: must be more than 0") }
            policy.timeout = value
        }
        if let value = try duration("failure_cache_ttl") { policy.failureCacheTTL = value }
        for (key, path) in [("source_timeout", \RevocationPolicy.sourceTimeout), ("connect_timeout", \.connectTimeout)] {
            guard let value = try duration(key) else { continue }
            guard value > .zero else { throw Problem(description: "\(path): \(key): must be more than 0") }
            policy[keyPath: path] = value
        }
        if let value = try string("http_method") {
            guard let method = OCSPRequestMethod(rawValue: value) else {
                throw Problem(description: "\(path): http_method: `\(value)` is not one of auto, get, post")
            }
            policy.httpMethod = method
        }
        if let value = fields["crl_max_size"] {
            guard let bytes = Self.size("\(value)"), !(value is Bool), bytes >= 1024 else {
                throw Problem(description: "\(path): crl_max_size: expected a size of at least 1024 bytes (e.g. 65536, 512k, 64M, 1G)")
            }
            policy.maximumCRLBytes = bytes
        }
        if let value = try string("ocsp_url") { policy.ocspURL = value }
        if let value = fields["filter"] {
            let locations = (value as? String).map { [$0] } ?? (value as? [Any])?.compactMap { $0 as? String }
            guard let locations, !locations.isEmpty, locations.allSatisfy({ !$0.isEmpty }),
                (value as? [Any]).map({ $0.count == locations.count }) ?? true
            else {
                throw Problem(description: "\(path): filter: expected a path or URL of a .mlbf file, or a list of them")
            }
            policy.filters = locations
        }
        if let value = fields["cache_entries"] {
            guard let count = value as? Int, count >= 1 else {
                throw Problem(description: "\(path): cache_entries: expected a whole number of at least 1")
            }
            policy.cacheEntries = count
        }
        return policy
    }

    /// Bytes: a whole number, or one followed by k, M or G (powers of 1024).
    static func size(_ text: String) -> Int? {
        let units: [Character: Int] = ["k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { return nil }
        let (digits, unit) = units[last].map { (String(trimmed.dropLast()), $0) } ?? (trimmed, 1)
        guard let number = Int(digits), number >= 0 else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }

    public static func load(path: String) throws -> RevocationPolicy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(description: "\(path): cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }
}
