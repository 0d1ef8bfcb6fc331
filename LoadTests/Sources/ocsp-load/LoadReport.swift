/// The result of a run: the table's numbers, the run's configuration, and the percentile
/// distribution the plot is drawn from. Written as `--json`; `--plot-from` reads it back.
struct LoadReport: Codable, Sendable {
    struct Configuration: Codable, Sendable {
        var url: String
        /// `closed` (fixed concurrency) or `open` (fixed arrival rate).
        var mode: String
        var method: RequestMethod
        var postFraction: Double?
        var connections: Int
        var threads: Int
        /// The measured window asked for (`--duration`), or the cap with `--requests-total`.
        var durationSeconds: Double
        var warmupSeconds: Double
        var requestsTotal: Int?
        /// Open loop: requests per second asked for.
        var rate: Double?
        var timeoutSeconds: Double
        var verifySample: Double
        var requestSource: String
        var distinctRequests: Int
        /// `cycle`, `uniform` or `zipf` (with its exponent).
        var order: String?
    }

    /// Latencies in microseconds.
    struct Latency: Codable, Sendable {
        var min: Double
        var mean: Double
        var stddev: Double
        var p50: Double
        var p75: Double
        var p90: Double
        var p99: Double
        var p99_9: Double
        var p99_99: Double
        var max: Double
    }

    /// One step of the percentile distribution: `percentile` % of requests took at most
    /// `microseconds`.
    struct Point: Codable, Sendable {
        var percentile: Double
        var microseconds: Double
    }

    struct Verification: Codable, Sendable {
        var sampled: Int
        var checked: Int
        var passed: Int
        var failed: Int
        /// Sampled but not checked: the checker fell behind.
        var skipped: Int
    }

    var tool = "ocsp-load"
    /// When the run started (ISO 8601, UTC).
    var date: String
    /// A label for the plot legend (`--label`), default the mode and method.
    var label: String
    var configuration: Configuration
    /// Measured responses (any status).
    var requests: Int
    /// Measured responses that were HTTP 200 and a `successful` OCSPResponse.
    var successes: Int
    /// Errors by kind; zero errors means none of these keys.
    var errors: [String: Int]
    var errorCount: Int
    /// The first few error messages.
    var errorMessages: [String]
    /// The measured window's actual length.
    var durationSeconds: Double
    var requestsPerSecond: Double
    var latencyMicroseconds: Latency
    var percentileDistribution: [Point]
    var bytesReceived: Int
    var connects: Int
    var warmupResponses: Int
    /// Open loop: requests due in the window that were never sent (a backlog at the end).
    var unsent: Int
    var verification: Verification
}
