/// A configuration value that cannot be used: one line naming the key, the value and what is
/// accepted (and where the value came from, when known). Every configuration (ocspd's, the
/// stapler's, the checker's policy) fails with this one shape.
package struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    package var key: String
    package var value: String
    package var expected: String
    package var source: String?

    package init(key: String, value: String, expected: String, source: String? = nil) {
        self.key = key
        self.value = value
        self.expected = expected
        self.source = source
    }

    package var description: String {
        let from = source.map { " (from \($0))" } ?? ""
        return "configuration key \(key)\(from): \"\(value)\" is not valid; expected \(expected)"
    }
}

/// A configuration file that cannot be used (unreadable, not YAML, not a mapping) or a key no
/// setting declares: one line.
package struct ConfigurationFileError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
