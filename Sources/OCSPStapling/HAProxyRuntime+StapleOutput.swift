/// HAProxy's runtime API as an output: each new staple, and the staple in place at start or after
/// a failure (HAProxy may have restarted, and holds only what its `.ocsp` files held then).
extension HAProxyRuntime: StapleOutput {
    public var name: String { "haproxy" }
    public var recipient: String { "HAProxy" }
    public var channel: String { "over its runtime API" }
    public var trigger: StapleOutputTrigger { .untilDelivered }

    /// Sends `set ssl ocsp-response` (``setOCSPResponse(_:)``).
    public func deliver(_ staple: DeliveredStaple, for target: StapleTarget) async throws {
        try setOCSPResponse(staple.der)
    }
}
