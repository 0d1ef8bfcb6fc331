/// Parses operator-friendly durations: `3600`, `3600s`, `90m`, `12h`, `7d`.
public enum Durations {
    /// Seconds, or nil when `text` is not a positive duration (or zero, when `allowingZero`).
    public static func parse(_ text: String, allowingZero: Bool = false) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var digits = Substring(text)
        var scale = 1.0
        if let last = digits.last, let unit = units[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard let value = Double(digits), value > 0 || (allowingZero && value == 0), value.isFinite else { return nil }
        return value * scale
    }
}
