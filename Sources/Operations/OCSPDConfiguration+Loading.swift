internal import Configuration
internal import Foundation
internal import Yams

extension OCSPDConfiguration {
    /// Reads the configuration: each key from the flags given, else its `OCSPD_…` environment
    /// variable, else the YAML file, else its default (swift-configuration's provider hierarchy),
    /// and checks every value.
    /// - Parameters:
    ///   - flags: the values given on the command line, by key (`crl.interval`).
    ///   - environment: the process environment; `OCSPD_CONFIG` names the file when `file` is nil.
    ///   - file: a YAML file whose keys nest at the dots (`crl: {interval: 1h}`).
    /// - Throws: ``ConfigurationError`` naming the key, or ``ConfigurationFileError`` for a file that
    ///   cannot be read or holds a key ocspd does not know.
    package static func load(flags: [String: String], environment: [String: String], file: String? = nil) async throws
        -> OCSPDConfiguration
    {
        for (key, _) in flags where settingsByKey[key] == nil {
            throw ConfigurationFileError("unknown configuration key \(key) given as a flag")
        }
        // An OCSPD_ variable ocspd does not read is most likely misspelt, but the environment is
        // shared with other tools (a test harness's OCSPD_BIN): a warning, not a refusal.
        let variables = Dictionary(uniqueKeysWithValues: settings.map { ($0.environmentVariable, $0.key) })
        var warnings: [String] = []
        for name in environment.keys.sorted() where name.hasPrefix("OCSPD_") && name != "OCSPD_CONFIG" {
            if variables[name] == nil {
                warnings.append("environment variable \(name) is not a configuration key; ignored (see ocspd --help)")
            }
        }
        let path = file ?? environment["OCSPD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "flags",
                values: Dictionary(uniqueKeysWithValues: flags.map { (AbsoluteConfigKey(stringLiteral: $0.key), ConfigValue(.string($0.value), isSecret: false)) })),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "ocspd"),
        ]
        var fileKeys: Set<String> = []
        if let path {
            fileKeys = try keys(ofYAMLFile: path)
            do {
                providers.append(
                    try await FileProvider<YAMLSnapshot>(
                        config: ConfigReader(
                            provider: InMemoryProvider(values: ["filePath": ConfigValue(.string(path), isSecret: false)]))))
            } catch {
                throw ConfigurationFileError("cannot read the configuration file \(path): \(error)")
            }
        }
        let reader = ConfigReader(providers: providers)
        var configuration = OCSPDConfiguration()
        for setting in settings {
            let source: String
            if flags[setting.key] != nil {
                source = "flag \(setting.flag)"
            } else if environment[setting.environmentVariable] != nil {
                source = "environment \(setting.environmentVariable)"
            } else if fileKeys.contains(setting.key) {
                source = "file \(path ?? "")"
            } else {
                continue
            }
            guard let value = reader.string(forKey: ConfigKey(setting.key.split(separator: ".").map(String.init))) else {
                continue
            }
            do {
                try setting.apply(&configuration, value)
            } catch {
                var located = error
                located.source = source
                throw located
            }
            configuration.sources[setting.key] = source
        }
        configuration.warnings = warnings
        do {
            return try configuration.validated()
        } catch {
            var located = error
            located.source = configuration.sources[error.key]
            throw located
        }
    }

    /// The dotted keys of a YAML file's leaves; a key ocspd does not know is an error.
    static func keys(ofYAMLFile path: String) throws -> Set<String> {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationFileError("cannot read the configuration file \(path): \(error.localizedDescription)")
        }
        return try keys(ofYAML: text, path: path)
    }

    /// The dotted keys of a YAML document's leaves (`path` names it in errors).
    package static func keys(ofYAML text: String, path: String) throws -> Set<String> {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationFileError("the configuration file \(path) is not YAML: \("\(error)".split(separator: "\n").joined(separator: " "))")
        }
        guard let root else { return [] }
        guard case .mapping(let mapping) = root else {
            throw ConfigurationFileError("the configuration file \(path) must be a mapping of keys to values")
        }
        var found: Set<String> = []
        func walk(_ mapping: Node.Mapping, prefix: String) throws {
            for (keyNode, value) in mapping {
                let key = prefix + (keyNode.string ?? "")
                if case .mapping(let nested) = value, settingsByKey[key] == nil {
                    try walk(nested, prefix: key + ".")
                    continue
                }
                guard settingsByKey[key] != nil else {
                    throw ConfigurationFileError(
                        "unknown configuration key \(key) in \(path); known keys: \(settings.map(\.key).joined(separator: ", "))")
                }
                found.insert(key)
            }
        }
        try walk(mapping, prefix: "")
        return found
    }
}

/// A configuration file that cannot be used, or a key ocspd does not know: one line.
package struct ConfigurationFileError: Error, CustomStringConvertible, Sendable {
    package let description: String
    init(_ description: String) { self.description = description }
}
