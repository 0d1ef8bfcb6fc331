internal import Configuration

/// Every key of one configuration (ocspd's, the stapler's, the checker's policy), declared once,
/// and how they are read: from flags, else the environment, else the YAML file, else the default
/// (swift-configuration's provider hierarchy), every value checked as it is read.
package struct SettingsSchema<Root>: Sendable {
    package let settings: [Setting<Root>]
    package let sections: [SettingsSection<Root>]
    /// `ocspd` reads `OCSPD_…` variables; nil: the environment is not read.
    package let environmentPrefix: String?
    /// A document holding only this key is read from under it (`revocation_checking:`).
    package let wrapperKey: String?
    package let byKey: [String: Setting<Root>]
    let sectionsByKey: [String: SettingsSection<Root>]

    package init(
        settings: [Setting<Root>], sections: [SettingsSection<Root>] = [], environmentPrefix: String? = nil,
        wrapperKey: String? = nil
    ) {
        self.settings = settings
        self.sections = sections
        self.environmentPrefix = environmentPrefix
        self.wrapperKey = wrapperKey
        self.byKey = Dictionary(uniqueKeysWithValues: settings.map { ($0.key, $0) })
        self.sectionsByKey = Dictionary(uniqueKeysWithValues: sections.map { ($0.key, $0) })
    }

    /// The environment variable that names the file (`OCSPD_CONFIG`).
    package var fileVariable: String? { environmentPrefix.map { $0.uppercased() + "_CONFIG" } }

    package func environmentVariable(_ setting: Setting<Root>) -> String? {
        environmentPrefix.map { setting.environmentVariable(prefix: $0.uppercased()) }
    }

    var knownKeys: String { (settings.map(\.key) + sections.map(\.key)).joined(separator: ", ") }

    /// A configuration read, with where each value came from.
    package struct Loaded {
        package var value: Root
        /// Key → "flag --x", "environment X", "file PATH"; absent: the default.
        package var sources: [String: String]
        /// What was odd but not wrong (a variable under the prefix that is no key).
        package var warnings: [String]

        package init(value: Root, sources: [String: String] = [:], warnings: [String] = []) {
            self.value = value
            self.sources = sources
            self.warnings = warnings
        }
    }

    /// Reads the configuration over `defaults`.
    /// - Parameters:
    ///   - flags: the values given on the command line, by key (see ``flagValues(_:)``).
    ///   - environment: the process environment (read only with an ``environmentPrefix``).
    ///   - file: the YAML file, if any.
    /// - Throws: ``ConfigurationError`` naming the key and where its value came from, or
    ///   ``ConfigurationFileError`` for a file that is not YAML or holds a key no setting declares.
    package func load(defaults: Root, flags: [String: String] = [:], environment: [String: String] = [:], file: SettingsFile?)
        throws -> Loaded
    {
        for (key, _) in flags where byKey[key] == nil {
            throw ConfigurationFileError("unknown configuration key \(key) given as a flag")
        }
        var warnings: [String] = []
        var environment = environmentPrefix == nil ? [:] : environment
        if let prefix = environmentPrefix?.uppercased() {
            let variables = Set(settings.compactMap(environmentVariable))
            // A variable under the prefix that is no key is most likely misspelt, but the
            // environment is shared with other tools (a test harness's OCSPD_BIN): a warning.
            for name in environment.keys.sorted() where name.hasPrefix(prefix + "_") && name != fileVariable {
                if !variables.contains(name) {
                    warnings.append("environment variable \(name) is not a configuration key; ignored (see --help)")
                    environment[name] = nil
                }
            }
        }
        let contents = try file?.flattened(for: self) ?? SettingsFile.Flattened()

        var fileValues: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in contents.values {
            switch value {
            case .scalar(let text): fileValues[Self.configKey(key)] = ConfigValue(.string(text), isSecret: false)
            case .list(let items): fileValues[Self.configKey(key)] = ConfigValue(.stringArray(items), isSecret: false)
            }
        }
        for (section, entries) in contents.entries {
            for (index, entry) in entries.enumerated() {
                for (key, text) in entry {
                    fileValues[AbsoluteConfigKey([section, "\(index)", key])] = ConfigValue(.string(text), isSecret: false)
                }
            }
        }
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "flags",
                values: Dictionary(uniqueKeysWithValues: flags.map { (Self.configKey($0.key), ConfigValue(.string($0.value), isSecret: false)) }))
        ]
        if let prefix = environmentPrefix {
            providers.append(EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: ConfigKey([prefix])))
        }
        providers.append(InMemoryProvider(name: file?.path ?? "file", values: fileValues))
        let reader = ConfigReader(providers: providers)

        var loaded = Loaded(value: defaults, warnings: warnings)
        for setting in settings {
            let source: String
            var fileList = false
            if flags[setting.key] != nil {
                source = "flag \(setting.flag)"
            } else if let variable = environmentVariable(setting), environment[variable] != nil {
                source = "environment \(variable)"
            } else if let value = contents.values[setting.key], let file {
                source = "file \(file.path)"
                if case .list = value { fileList = true }
            } else {
                continue
            }
            let key = Self.configKey(setting.key)
            do {
                if fileList, let applyList = setting.applyList {
                    try applyList(&loaded.value, reader.stringArray(forKey: ConfigKey(key.components)) ?? [])
                } else if let text = reader.string(forKey: ConfigKey(key.components)) {
                    try setting.apply(&loaded.value, text)
                } else {
                    continue
                }
            } catch {
                var located = error
                located.source = source
                throw located
            }
            loaded.sources[setting.key] = source
        }
        for section in sections {
            for (index, entry) in (contents.entries[section.key] ?? []).enumerated() {
                var values: [String: String] = [:]
                for key in entry.keys {
                    values[key] = reader.string(forKey: ConfigKey([section.key, "\(index)", key]))
                }
                try section.apply(
                    &loaded.value, SettingsEntry(name: "\(section.key)[\(index)]", values: values, source: "file \(file?.path ?? "")"))
            }
            if contents.entries[section.key] != nil, let file { loaded.sources[section.key] = "file \(file.path)" }
        }
        return loaded
    }

    /// The settings given as flags: `--crl-interval 1h`, `--crl-interval=1h`, and switches
    /// (`--no-crl`), by key.
    /// - Throws: ``ConfigurationFileError`` for a flag no setting declares, or one without its value.
    package func flagValues(_ arguments: [String]) throws(ConfigurationFileError) -> [String: String] {
        var byFlag: [String: Setting<Root>] = [:]
        var switches: [String: (key: String, value: String)] = [:]
        for setting in settings {
            byFlag[setting.flag] = setting
            for (name, value) in setting.switches { switches["--" + name] = (setting.key, value) }
        }
        var values: [String: String] = [:]
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            // `--validity=` gives the empty value ("none"), not the next argument.
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if parts.count == 1, let toggle = switches[argument] {
                values[toggle.key] = toggle.value
                continue
            }
            guard let setting = byFlag[parts[0]] else {
                throw ConfigurationFileError("unknown option \(argument); see --help for the options")
            }
            if parts.count == 2 {
                values[setting.key] = parts[1]
            } else if let value = remaining.popFirst() {
                values[setting.key] = value
            } else {
                throw ConfigurationFileError("the option \(argument) needs a value: \(setting.help)")
            }
        }
        return values
    }

    /// The options, a line each, for `--help`: the flag, what it does, its key and variable, and
    /// whether a reload applies it.
    package var optionsHelp: String {
        settings.map { setting in
            let toggles = setting.switches.keys.sorted().map { " (or --\($0))" }.joined()
            let names = [setting.key] + [environmentVariable(setting), setting.reloadable ? "reloadable" : nil].compactMap { $0 }
            return "  \(setting.flag) <value>\(toggles): \(setting.help) [\(names.joined(separator: ", "))]"
        }.joined(separator: "\n")
    }

    /// The effective configuration, a `key: value  # source` line each.
    package func summary(_ loaded: Loaded) -> String {
        (loaded.warnings.map { "# warning: \($0)" }
            + settings.map { setting in
                let value = setting.current(loaded.value)
                return "\(setting.key): \(value.isEmpty ? "\"\"" : value)  # \(loaded.sources[setting.key] ?? "default")"
            }).joined(separator: "\n")
    }

    static func configKey(_ key: String) -> AbsoluteConfigKey {
        AbsoluteConfigKey(key.split(separator: ".").map(String.init))
    }
}
