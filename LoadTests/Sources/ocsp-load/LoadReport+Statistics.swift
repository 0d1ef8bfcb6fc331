import Foundation
import Histogram

extension LoadReport {
    /// The report of a finished run.
    /// - Parameters:
    ///   - statistics: All workers' counts, merged.
    ///   - window: The measured window's length in nanoseconds.
    init(
        configuration: Configuration, label: String, startedAt: Date, statistics: LoadStatistics,
        verification: ResponseVerifier.Summary, sampled: Int, window: UInt64
    ) {
        self.configuration = configuration
        self.label = label
        let formatter = ISO8601DateFormatter()
        date = formatter.string(from: startedAt)
        requests = statistics.completed
        successes = statistics.successes
        errors = statistics.errors.merging(verification.failures, uniquingKeysWith: +)
        errorCount = errors.values.reduce(0, +)
        errorMessages = Array((statistics.errorSamples + verification.messages).prefix(LoadStatistics.maximumSamples))
        durationSeconds = Double(window) / 1e9
        requestsPerSecond = window > 0 ? Double(statistics.completed) / durationSeconds : 0
        let histogram = statistics.histogram
        let empty = histogram.totalCount == 0
        func micros(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1000 }
        func at(_ percentile: Double) -> Double { empty ? 0 : micros(histogram.valueAtPercentile(percentile)) }
        latencyMicroseconds = Latency(
            min: empty ? 0 : micros(histogram.min), mean: empty ? 0 : histogram.mean / 1000,
            stddev: empty ? 0 : histogram.stdDeviation / 1000, p50: at(50), p75: at(75), p90: at(90), p99: at(99),
            p99_9: at(99.9), p99_99: at(99.99), max: empty ? 0 : micros(histogram.max))
        percentileDistribution =
            empty
            ? []
            : histogram.percentiles(ticksPerHalfDistance: 5).map {
                Point(percentile: $0.percentileLevelIteratedTo, microseconds: micros($0.value))
            }
        bytesReceived = statistics.bytesReceived
        connects = statistics.connects
        warmupResponses = statistics.warmupResponses
        unsent = statistics.unsent
        self.verification = Verification(
            sampled: sampled, checked: verification.checked, passed: verification.passed,
            failed: verification.checked - verification.passed, skipped: verification.skipped)
    }
}
