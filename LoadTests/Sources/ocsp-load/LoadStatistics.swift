import Histogram

/// What one worker (event loop) counted; merged over workers at the end. Only its own event loop
/// touches a worker's copy, so counting takes no lock.
struct LoadStatistics: Sendable {
    /// Latency of measured responses, nanoseconds (from the intended send time in open loop).
    var histogram: Histogram<UInt64>
    /// Measured responses, whatever their status.
    var completed = 0
    /// Measured responses that were HTTP 200 with a `successful` OCSP response.
    var successes = 0
    /// Responses to warm-up requests (not timed).
    var warmupResponses = 0
    /// Errors by kind (`connect-refused`, `connect`, `timeout`, `closed`, `reset`, `io`, `http-503`,
    /// `ocsp-tryLater`, `verify-status`, …).
    var errors: [String: Int] = [:]
    /// The first few error messages, for the report.
    var errorSamples: [String] = []
    /// Response bytes read (heads and bodies).
    var bytesReceived = 0
    /// TCP connections established.
    var connects = 0
    /// Open loop: sends that were due before the end but never went out (the connection was still
    /// waiting for earlier answers): the backlog a stalled server leaves.
    var unsent = 0
    /// The monotonic time of the last measured response.
    var lastCompletion: UInt64 = 0

    static let maximumSamples = 10

    init() {
        // 1 ns … 10 s at 3 significant digits, growing if a latency goes past that.
        histogram = Histogram(
            lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000_000,
            numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
    }

    /// Counts an error of `kind`, keeping its message while there are few.
    mutating func error(_ kind: String, _ message: @autoclosure () -> String) {
        errors[kind, default: 0] += 1
        guard errorSamples.count < Self.maximumSamples else { return }
        let text = "\(kind): \(message())"
        if !errorSamples.contains(text) { errorSamples.append(text) }
    }

    var errorCount: Int { errors.values.reduce(0, +) }

    /// Adds `other`'s counts to these.
    mutating func merge(_ other: LoadStatistics) {
        histogram.add(other.histogram)
        completed += other.completed
        successes += other.successes
        warmupResponses += other.warmupResponses
        errors.merge(other.errors, uniquingKeysWith: +)
        for sample in other.errorSamples
        where errorSamples.count < Self.maximumSamples && !errorSamples.contains(sample) {
            errorSamples.append(sample)
        }
        bytesReceived += other.bytesReceived
        connects += other.connects
        unsent += other.unsent
        lastCompletion = max(lastCompletion, other.lastCompletion)
    }
}
