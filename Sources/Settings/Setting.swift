/// One configuration key, declared once: its name in the file (dotted: a nested YAML key), its
/// flag and its environment variable follow from it (`crl.interval`: `--crl-interval`,
/// `OCSPD_CRL_INTERVAL`), and so does its line in `--help` and `--check-config`.
package struct Setting<Root>: Sendable {
    package let key: String
    package let help: String
    /// Whether a reload applies a new value (otherwise it needs a restart).
    package let reloadable: Bool
    /// The flag, when it is not the key with dashes for dots.
    package let flagName: String?
    /// Flags that take no value and stand for one (`--no-crl` for `crl.enabled: false`).
    package let switches: [String: String]
    package let apply: @Sendable (inout Root, String) throws(ConfigurationError) -> Void
    /// For a key that takes a list in the file (`filter: [a.mlbf, b.mlbf]`); nil: one value only.
    package let applyList: (@Sendable (inout Root, [String]) throws(ConfigurationError) -> Void)?
    package let current: @Sendable (Root) -> String

    package init(
        key: String, help: String, reloadable: Bool = false, flag: String? = nil, switches: [String: String] = [:],
        apply: @escaping @Sendable (inout Root, String) throws(ConfigurationError) -> Void,
        applyList: (@Sendable (inout Root, [String]) throws(ConfigurationError) -> Void)? = nil,
        current: @escaping @Sendable (Root) -> String
    ) {
        self.key = key
        self.help = help
        self.reloadable = reloadable
        self.flagName = flag
        self.switches = switches
        self.apply = apply
        self.applyList = applyList
        self.current = current
    }

    /// `--crl-interval` for `crl.interval`, `--log-level` for `log_level`.
    package var flag: String {
        "--" + (flagName ?? String(key.map { $0 == "." || $0 == "_" ? "-" : $0 }))
    }

    /// `OCSPD_CRL_INTERVAL` for `crl.interval` under the prefix `OCSPD`.
    package func environmentVariable(prefix: String) -> String {
        prefix + "_" + String(key.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
    }
}

/// A list of mappings in the file, one entry a thing (`certificates:`, a list of `{cert, out}`).
/// Entries come from the file only; each entry's keys are declared once, with the section.
package struct SettingsSection<Root>: Sendable {
    package let key: String
    package let entryKeys: [String]
    package let apply: @Sendable (inout Root, SettingsEntry) throws(ConfigurationError) -> Void

    package init(
        key: String, entryKeys: [String],
        apply: @escaping @Sendable (inout Root, SettingsEntry) throws(ConfigurationError) -> Void
    ) {
        self.key = key
        self.entryKeys = entryKeys
        self.apply = apply
    }
}

/// One entry of a ``SettingsSection``: its values by key, and its name in errors
/// (`certificates[2]`).
package struct SettingsEntry: Sendable {
    package let name: String
    package let values: [String: String]
    package let source: String

    package init(name: String, values: [String: String], source: String) {
        self.name = name
        self.values = values
        self.source = source
    }

    package subscript(key: String) -> String? { values[key] }

    /// The value of `key`, or the one-line error saying the entry needs it.
    package func required(_ key: String, expected: String) throws(ConfigurationError) -> String {
        guard let value = values[key], !value.isEmpty else {
            throw ConfigurationError(key: "\(name).\(key)", value: "", expected: expected, source: source)
        }
        return value
    }
}
