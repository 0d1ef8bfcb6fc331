internal import Foundation

/// The value readers every setting uses, so a duration, a size, a number or a switch is read
/// (and refused) the same way in every configuration.
package enum SettingValue {
    /// Seconds within `range`, in the one grammar (``DurationText``).
    package static func seconds(_ key: String, _ value: String, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        guard let seconds = DurationText.seconds(value), range.contains(seconds) else {
            throw ConfigurationError(
                key: key, value: value,
                expected: "a duration from \(DurationText.format(seconds: range.lowerBound)) to \(DurationText.format(seconds: range.upperBound)), such as \(DurationText.examples)")
        }
        return seconds
    }

    /// A `Duration` within `range` (in seconds), in the one grammar.
    package static func duration(_ key: String, _ value: String, in range: ClosedRange<Double>) throws(ConfigurationError) -> Duration {
        let milliseconds = (try seconds(key, value, in: range) * 1000).rounded()
        return .milliseconds(Int64(milliseconds))
    }

    /// A whole number within `range`.
    package static func integer(_ key: String, _ value: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let number = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
            throw ConfigurationError(key: key, value: value, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// A number within `range`.
    package static func number(_ key: String, _ value: String, in range: ClosedRange<Double>, example: String) throws(ConfigurationError) -> Double {
        guard let number = Double(value.trimmingCharacters(in: .whitespaces)), number.isFinite, range.contains(number) else {
            throw ConfigurationError(key: key, value: value, expected: "a number from \(range.lowerBound) to \(range.upperBound), e.g. \(example)")
        }
        return number
    }

    /// Bytes within `range`, in the one size grammar (``SizeText``).
    package static func size(_ key: String, _ value: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let bytes = SizeText.parse(value), range.contains(bytes) else {
            throw ConfigurationError(
                key: key, value: value, expected: "a size of at least \(range.lowerBound) bytes, such as \(SizeText.examples)")
        }
        return bytes
    }

    /// true or false (also yes/no, on/off, 1/0).
    package static func boolean(_ key: String, _ value: String) throws(ConfigurationError) -> Bool {
        switch value.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigurationError(key: key, value: value, expected: "true or false")
        }
    }

    /// One of `choices`.
    package static func choice(_ key: String, _ value: String, of choices: [String]) throws(ConfigurationError) -> String {
        guard choices.contains(value) else {
            throw ConfigurationError(key: key, value: value, expected: "one of \(choices.joined(separator: ", "))")
        }
        return value
    }

    /// A value that is not empty.
    package static func text(_ key: String, _ value: String, expected: String) throws(ConfigurationError) -> String {
        guard !value.isEmpty else { throw ConfigurationError(key: key, value: value, expected: expected) }
        return value
    }
}
