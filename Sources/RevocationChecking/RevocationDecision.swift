public import Foundation
public import OCSPValues

/// What a check decided, why, and the path it took.
public struct RevocationDecision: Sendable {
    public enum Verdict: String, Sendable {
        case accept, reject
    }

    /// Where the deciding answer came from.
    public enum Source: String, Sendable {
        case staple, ocsp, crl, cache, filter
        /// No source answered: the failure mode (soft or hard fail) decided.
        case failureMode = "failure_mode"
        /// The policy decided before asking anything (must-staple without a valid staple).
        case policy
    }

    /// One source tried: what it said, or why it said nothing, and how long it took.
    public struct Attempt: Sendable {
        public let source: Source
        /// The URL asked, for OCSP and CRLs.
        public let url: String?
        /// `good`, `revoked` or `unknown`; nil when it gave no answer.
        public let status: String?
        /// Why it gave no answer (or why its answer was not used).
        public let error: String?
        public let duration: Duration
    }

    public let verdict: Verdict
    /// The certificate's status as decided: good, revoked or unknown; nil when nothing answered.
    public let status: CertStatus?
    public let source: Source
    /// One line for a log: why the verdict.
    public let reason: String
    public let attempts: [Attempt]
    /// Whether the deciding answer came from the cache (then ``source`` is ``Source/cache``).
    public var fromCache: Bool { source == .cache }
    /// The nextUpdate of the deciding answer, when there was one.
    public let nextUpdate: Date?
}
