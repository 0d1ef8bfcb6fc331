/// The common kinds of setting, each one line in a key list: the key, what it does, where its
/// value goes and what it accepts.
extension Setting {
    /// A duration within `range` (seconds), in the one grammar.
    package static func duration(
        _ key: String, _ help: String, at path: any WritableKeyPath<Root, Duration> & Sendable, in range: ClosedRange<Double>,
        reloadable: Bool = false, flag: String? = nil
    ) -> Setting {
        Setting(
            key: key, help: help, reloadable: reloadable, flag: flag,
            apply: { root, value throws(ConfigurationError) in root[keyPath: path] = try SettingValue.duration(key, value, in: range) },
            current: { DurationText.format($0[keyPath: path]) })
    }

    /// A duration within `range` (seconds), or none by default.
    package static func duration(
        _ key: String, _ help: String, at path: any WritableKeyPath<Root, Duration?> & Sendable, in range: ClosedRange<Double>,
        reloadable: Bool = false, flag: String? = nil
    ) -> Setting {
        Setting(
            key: key, help: help, reloadable: reloadable, flag: flag,
            apply: { root, value throws(ConfigurationError) in root[keyPath: path] = try SettingValue.duration(key, value, in: range) },
            current: { $0[keyPath: path].map(DurationText.format) ?? "" })
    }

    /// true or false.
    package static func boolean(
        _ key: String, _ help: String, at path: any WritableKeyPath<Root, Bool> & Sendable, reloadable: Bool = false
    ) -> Setting {
        Setting(
            key: key, help: help, reloadable: reloadable,
            apply: { root, value throws(ConfigurationError) in root[keyPath: path] = try SettingValue.boolean(key, value) },
            current: { "\($0[keyPath: path])" })
    }

    /// One of an enumeration's raw values.
    package static func choice<Value: RawRepresentable & CaseIterable & Sendable>(
        _ key: String, _ help: String, at path: any WritableKeyPath<Root, Value> & Sendable, reloadable: Bool = false
    ) -> Setting where Value.RawValue == String {
        Setting(
            key: key, help: help, reloadable: reloadable,
            apply: { root, value throws(ConfigurationError) in
                let choices = Value.allCases.map(\.rawValue)
                root[keyPath: path] = Value(rawValue: try SettingValue.choice(key, value, of: choices))!
            },
            current: { $0[keyPath: path].rawValue })
    }

    /// One of `choices`, kept as text.
    package static func choice(
        _ key: String, _ help: String, at path: any WritableKeyPath<Root, String> & Sendable, of choices: [String],
        reloadable: Bool = false
    ) -> Setting {
        Setting(
            key: key, help: help, reloadable: reloadable,
            apply: { root, value throws(ConfigurationError) in root[keyPath: path] = try SettingValue.choice(key, value, of: choices) },
            current: { $0[keyPath: path] })
    }

    /// A whole number within `range`.
    package static func integer(
        _ key: String, _ help: String, at path: any WritableKeyPath<Root, Int> & Sendable, in range: ClosedRange<Int>,
        reloadable: Bool = false
    ) -> Setting {
        Setting(
            key: key, help: help, reloadable: reloadable,
            apply: { root, value throws(ConfigurationError) in root[keyPath: path] = try SettingValue.integer(key, value, in: range) },
            current: { "\($0[keyPath: path])" })
    }

    /// A number within `range`.
    package static func number(
        _ key: String, _ help: String, at path: any WritableKeyPath<Root, Double> & Sendable, in range: ClosedRange<Double>,
        example: String, reloadable: Bool = false
    ) -> Setting {
        Setting(
            key: key, help: help, reloadable: reloadable,
            apply: { root, value throws(ConfigurationError) in
                root[keyPath: path] = try SettingValue.number(key, value, in: range, example: example)
            },
            current: { "\($0[keyPath: path])" })
    }

    /// A text that is not empty, or none by default.
    package static func text(
        _ key: String, _ help: String, at path: any WritableKeyPath<Root, String?> & Sendable, expected: String,
        reloadable: Bool = false, flag: String? = nil
    ) -> Setting {
        Setting(
            key: key, help: help, reloadable: reloadable, flag: flag,
            apply: { root, value throws(ConfigurationError) in root[keyPath: path] = try SettingValue.text(key, value, expected: expected) },
            current: { $0[keyPath: path] ?? "" })
    }
}
