internal import Foundation
internal import Settings
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
    /// `revocation_checking:`. Unknown keys are errors. Durations and sizes take the grammar of
    /// every configuration here (`500ms`, `5s`, `10m`, `1h`, `7d`; `512k`, `64M`).
    /// - Throws: ``Problem``, one line naming the key, the value and what is accepted.
    public static func parse(_ text: String, source: String = "policy") throws -> RevocationPolicy {
        do {
            return try schema.load(defaults: RevocationPolicy(), file: SettingsFile(path: source, text: text)).value
        } catch {
            throw Problem(description: "\(error)")
        }
    }

    /// The effective policy in a file, a `key: value  # source` line each (what `ocspctl check
    /// --policy FILE --check-config` prints).
    /// - Throws: ``Problem``, as ``load(path:)``.
    package static func summary(path: String) throws -> String {
        do {
            return schema.summary(try schema.load(defaults: RevocationPolicy(), file: try SettingsFile.read(path: path)))
        } catch {
            throw Problem(description: "\(error)")
        }
    }

    /// Every key of a policy, declared once.
    static let schema = SettingsSchema<RevocationPolicy>(
        settings: [
            .choice("method", "the first source asked: ocsp_stapling, ocsp or crl", at: \.method),
            .choice("fallback", "when the first method gives no answer: ocsp or none", at: \.fallback),
            .boolean("must_staple", "a must-staple certificate without a valid staple is rejected", at: \.mustStaple),
            .boolean("crl_fallback", "ask the CRL when OCSP gave no answer", at: \.crlFallback),
            .boolean("soft_fail", "accept when no source answered (true) or reject", at: \.softFail),
            .duration("cache_ttl", "how long a verified answer is kept, at most", at: \.cacheTTL, in: 0...(366 * 86400)),
            .duration("timeout", "the whole budget of one check", at: \.timeout, in: 0.001...3600),
            .duration(
                "source_timeout", "what one fetch may take at most (default: its share of what is left)", at: \.sourceTimeout,
                in: 0.001...3600),
            .duration(
                "connect_timeout", "how long a connection may take (default: the fetch's own limit)", at: \.connectTimeout,
                in: 0.001...3600),
            .choice("http_method", "how OCSP requests travel: auto, get or post", at: \.httpMethod),
            Setting(key: "crl_max_size", help: "a larger CRL is refused unread",
                apply: { policy, value throws(ConfigurationError) in
                    policy.maximumCRLBytes = try SettingValue.size("crl_max_size", value, in: 1024...Int.max)
                }, current: { "\($0.maximumCRLBytes)" }),
            .text("ocsp_url", "where to ask instead of the certificate's AIA OCSP URL", at: \.ocspURL, expected: "an http:// URL"),
            .duration("failure_cache_ttl", "how long a failure (no source answered) is remembered", at: \.failureCacheTTL, in: 0...86400),
            .integer("cache_entries", "how many certificates the cache holds at most", at: \.cacheEntries, in: 1...100_000_000),
            Setting(key: "filter", help: "revocation filters (.mlbf) asked first: a path or URL, or a list of them",
                apply: { policy, value throws(ConfigurationError) in
                    policy.filters = [try SettingValue.text("filter", value, expected: filterExpected)]
                },
                applyList: { policy, values throws(ConfigurationError) in
                    guard !values.isEmpty, !values.contains(where: \.isEmpty) else {
                        throw ConfigurationError(key: "filter", value: values.joined(separator: ", "), expected: filterExpected)
                    }
                    policy.filters = values
                }, current: { $0.filters.joined(separator: ", ") }),
        ], wrapperKey: "revocation_checking")

    private static let filterExpected = "a path or URL of a .mlbf file, or a list of them"

    /// Reads a policy file (see ``parse(_:source:)``).
    public static func load(path: String) throws -> RevocationPolicy {
        let file: SettingsFile
        do {
            file = try SettingsFile.read(path: path)
        } catch {
            throw Problem(description: "\(error)")
        }
        return try parse(file.text, source: path)
    }
}
