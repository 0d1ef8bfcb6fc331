/// Parses the duration arguments (`--duration 5s`, `--warmup 500ms`, `--timeout 2`).
enum DurationArgument {
    /// Nanoseconds in `text`: a decimal number with an optional unit `ns`, `us`, `ms`, `s`
    /// (the default), `m` or `h`; nil when it is not one, or negative.
    static func nanoseconds(_ text: String) -> UInt64? {
        let units: [(String, Double)] = [
            ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
        ]
        let trimmed = text.trimmingWhitespace()
        var number = Substring(trimmed)
        var scale = 1e9
        // Longest suffix first, so "ms" is not read as "m" + "s".
        for (suffix, factor) in units.sorted(by: { $0.0.count > $1.0.count }) where trimmed.hasSuffix(suffix) {
            number = trimmed.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0, value * scale < 1e18 else { return nil }
        return UInt64((value * scale).rounded())
    }
}
