internal import Settings

/// Parses the duration arguments (`--duration 5s`, `--warmup 500ms`, `--timeout 2`) in the one
/// grammar of every configuration (``Settings/DurationText``).
enum DurationArgument {
    /// Nanoseconds in `text`, or nil when it is no duration.
    static func nanoseconds(_ text: String) -> UInt64? {
        guard let duration = DurationText.parse(text) else { return nil }
        let (seconds, attoseconds) = duration.components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
