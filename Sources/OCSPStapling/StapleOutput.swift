public import OCSPCore

/// Somewhere a target's staple goes besides its staple file: a TLS server's memory (HAProxy's
/// runtime API, ``HAProxyRuntime``), a document a server watches (Envoy's SDS file,
/// ``EnvoySDSFile``), a command told that a staple changed (``ReloadHook``). The staple file
/// itself (``StapleFile``) is one too, and the first: it is also the stapler's record of the
/// staple in place, which ``Stapler`` keeps under its policy.
///
/// ``StaplingService`` delivers to a target's outputs after each refresh, as ``trigger`` says,
/// counts deliveries and failures per ``name`` (for metrics), logs them, and retries an output
/// that failed on the failure schedule. A new kind of output is one type conforming to this
/// protocol, and one configuration key (``StaplerConfiguration``) that adds it to a target.
public protocol StapleOutput: Sendable, Hashable {
    /// What logs and metrics call this kind of output: `haproxy` makes the log key
    /// `haproxy_updated` and the counters `ocsp_stapler_haproxy_updates_total` and
    /// `ocsp_stapler_haproxy_update_failures_total`.
    var name: String { get }
    /// Who is given the staple, for messages: `HAProxy` ("HAProxy was not given the staple").
    var recipient: String { get }
    /// How, for the metrics' help: `over its runtime API` ("Staples handed to HAProxy over its
    /// runtime API").
    var channel: String { get }
    /// When the output is given the staple.
    var trigger: StapleOutputTrigger { get }

    /// Hands the output the staple the target holds now (verified, valid).
    /// - Throws: when the output could not take it (``StaplingError`` with code
    ///   ``StaplingError/Code/serverUpdate`` or ``StaplingError/Code/storage``, say); the service
    ///   logs it and delivers again after the next refresh.
    func deliver(_ staple: DeliveredStaple, for target: StapleTarget) async throws

    /// Tells the output that the target holds no valid staple (none yet, or the last one expired
    /// and was removed). By default nothing is done: HAProxy, say, has nothing to take back.
    func withdraw(for target: StapleTarget) async throws

    /// The service is stopping: drop anything pending (a reload not run yet). By default nothing.
    func stop() async
}

extension StapleOutput {
    public func withdraw(for target: StapleTarget) async throws {}
    public func stop() async {}
}

/// When a ``StapleOutput`` is given the staple.
public enum StapleOutputTrigger: Sendable, Hashable {
    /// Whenever the staple in place changed (a new one written, or an expired one removed), and
    /// only then; in the daemon only (``StaplingService/run(targets:watching:)``). The output
    /// reports its own runs and failures: a reload command, whose runs are coalesced.
    case onChange
    /// Whenever the staple changed, and also until the output took the staple in place at least
    /// once: at start (a server restarted meanwhile has no staple in memory), and after a failed
    /// delivery or a failed refresh. Deliveries and failures are counted and logged per target.
    case untilDelivered
}

/// What a ``StapleOutput`` is handed: the staple the target's file holds, verified.
public struct DeliveredStaple: Sendable {
    /// The DER `OCSPResponse`, as the responder sent it.
    public let der: [UInt8]
    /// What it was verified to say, and its window.
    public let verified: OCSPResponseVerifier.Verified

    public init(der: [UInt8], verified: OCSPResponseVerifier.Verified) {
        self.der = der
        self.verified = verified
    }
}
