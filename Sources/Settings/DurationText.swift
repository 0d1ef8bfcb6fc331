internal import Foundation

/// The one duration grammar of every configuration (ocspd, the stapler, the checker's policy)
/// and every duration argument (ocspctl, ocsp-load).
///
/// A decimal number, then optionally one unit: `ms`, `s`, `m`, `h` or `d`. A bare number is
/// seconds. `500ms`, `1.5s`, `90`, `10m`, `12h` and `7d` are durations; `-1s`, `1w`, `5 s`,
/// `1e3`, `inf` and `0x10` are not.
package enum DurationText {
    /// The units, longest first so `ms` is not read as `m`.
    static let units: [(suffix: String, milliseconds: Double)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// What an error says is accepted.
    package static let examples = "500ms, 90s, 10m, 12h or 7d (a bare number is seconds)"

    /// The duration `text` names, or nil when it names none (a negative one included).
    package static func parse(_ text: String) -> Duration? {
        guard let milliseconds = milliseconds(text) else { return nil }
        return .nanoseconds(Int64((milliseconds * 1_000_000).rounded()))
    }

    /// The duration `text` names in seconds, or nil.
    package static func seconds(_ text: String) -> Double? {
        milliseconds(text).map { $0 / 1000 }
    }

    private static func milliseconds(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var number = Substring(trimmed)
        var scale = 1000.0
        for unit in units.sorted(by: { $0.suffix.count > $1.suffix.count }) where trimmed.hasSuffix(unit.suffix) {
            number = trimmed.dropLast(unit.suffix.count)
            scale = unit.milliseconds
            break
        }
        guard isDecimal(number), let value = Double(number), value.isFinite else { return nil }
        let milliseconds = value * scale
        // Past about 292 years a Duration's nanoseconds overflow Int64.
        guard milliseconds < 9e15 else { return nil }
        return milliseconds
    }

    /// Digits with at most one decimal point and at least one digit: no sign, exponent or hex.
    private static func isDecimal(_ text: Substring) -> Bool {
        var digits = 0
        var points = 0
        for character in text.utf8 {
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
            case UInt8(ascii: "."): points += 1
            default: return false
            }
        }
        return digits > 0 && points <= 1
    }

    /// The shortest exact spelling in the grammar: `3600` s → `1h`, `0.25` s → `250ms`, `90` s →
    /// `90s`.
    package static func format(seconds: Double) -> String {
        let milliseconds = (seconds * 1000).rounded()
        guard milliseconds == seconds * 1000, milliseconds.magnitude < 9e15 else { return "\(seconds)s" }
        let whole = Int64(milliseconds)
        guard whole != 0 else { return "0s" }
        for unit in units.reversed() where whole % Int64(unit.milliseconds) == 0 {
            return "\(whole / Int64(unit.milliseconds))\(unit.suffix)"
        }
        return "\(whole)ms"
    }

    /// ``format(seconds:)`` of a `Duration`.
    package static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return format(seconds: Double(seconds) + Double(attoseconds) / 1e18)
    }
}
