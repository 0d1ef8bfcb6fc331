import Foundation

extension LoadReport {
    /// The human summary printed after a run.
    var table: String {
        let c = configuration
        var lines: [String] = []
        let mode =
            c.rate.map { "open loop at \(format($0, 0)) req/s" } ?? "closed loop"
        let method =
            c.method == .mix ? "mix (\(format((c.postFraction ?? 0) * 100, 0))% POST)" : c.method.rawValue.uppercased()
        lines.append("ocsp-load  \(c.url)  \(mode), \(c.connections) connections on \(c.threads) thread(s), \(method)")
        lines.append("  requests from \(c.requestSource)")
        let warm =
            c.warmupSeconds > 0 ? " after \(format(c.warmupSeconds, 1)) s warm-up (\(warmupResponses) responses)" : ""
        lines.append("")
        lines.append("  requests     \(requests) in \(format(durationSeconds, 2)) s\(warm)")
        lines.append("  throughput   \(format(requestsPerSecond, 1)) req/s")
        if errorCount == 0 {
            lines.append("  errors       0")
        } else {
            let kinds = errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append("  errors       \(errorCount): \(kinds)")
        }
        if unsent > 0 { lines.append("  unsent       \(unsent) (open loop: due before the end, never sent)") }
        let v = verification
        lines.append(
            "  verified     \(v.checked) sampled responses checked, \(v.passed) correct"
                + (v.skipped > 0 ? ", \(v.skipped) skipped (checker behind)" : ""))
        lines.append("")
        let l = latencyMicroseconds
        let columns: [(String, Double)] = [
            ("min", l.min), ("p50", l.p50), ("p90", l.p90), ("p99", l.p99), ("p99.9", l.p99_9), ("max", l.max),
            ("mean", l.mean),
        ]
        let unitIsMilliseconds = l.max >= 10_000
        let unit = unitIsMilliseconds ? "ms" : "µs"
        let header = columns.map { pad($0.0, 9) }.joined()
        let values = columns.map { pad(format(unitIsMilliseconds ? $0.1 / 1000 : $0.1, unitIsMilliseconds ? 3 : 1), 9) }
            .joined()
        lines.append("  latency (\(unit))" + (c.rate != nil ? ", from the intended send time" : ""))
        lines.append("    " + header)
        lines.append("    " + values)
        if !errorMessages.isEmpty {
            lines.append("")
            lines.append("  first errors:")
            for message in errorMessages { lines.append("    " + message) }
        }
        return lines.joined(separator: "\n")
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : String(repeating: " ", count: width - text.count) + text
    }
}
