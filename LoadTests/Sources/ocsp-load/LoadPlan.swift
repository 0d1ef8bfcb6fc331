/// Everything the workers share about a run; immutable.
struct LoadPlan: Sendable {
    let target: TargetURL
    let requests: [PreparedRequest]
    let method: RequestMethod
    /// With ``RequestMethod/mix``: the probability of POST.
    let postFraction: Double
    /// Connections over all threads.
    let connections: Int
    let threads: Int
    /// Open loop: arrivals per second over all connections; nil for closed loop.
    let rate: Double?
    /// Requests sent (intended, in open loop) before `measureStart` are warm-up: neither timed nor
    /// counted.
    let measureStart: UInt64
    /// No request is sent (intended) at or after this instant.
    let deadline: UInt64
    /// With `--requests-total`: how many measured requests in all; nil to run until `deadline`.
    let requestsTotal: Int?
    /// A response slower than this is a `timeout` error (the connection is then replaced).
    let timeout: UInt64
    /// The fraction of responses decoded and checked (``ResponseVerifier``).
    let verifySample: Double
    /// How the next request is chosen.
    let picker: RequestPicker
}

extension LoadPlan {
    /// Nanoseconds between one connection's intended sends in open loop, 0 in closed loop.
    var interval: UInt64 {
        guard let rate else { return 0 }
        return UInt64((Double(connections) / rate * 1e9).rounded())
    }
}
