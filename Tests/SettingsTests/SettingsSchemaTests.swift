import OCSPStapling
import Settings
import Testing

/// The reader every configuration shares: flags over the environment over the file, unknown keys,
/// lists, sections, and the one-line errors.
@Suite struct SettingsSchemaTests {
    struct Example: Sendable {
        var interval = 60.0
        var name = ""
        var items: [String] = []
        var enabled = true
        var entries: [String] = []
    }

    static let schema = SettingsSchema<Example>(
        settings: [
            Setting(key: "crl.interval", help: "how often", reloadable: true,
                apply: { value, text throws(ConfigurationError) in value.interval = try SettingValue.seconds("crl.interval", text, in: 1...86400) },
                current: { DurationText.format(seconds: $0.interval) }),
            Setting(key: "log_name", help: "a name", flag: "name",
                apply: { value, text throws(ConfigurationError) in value.name = text }, current: { $0.name }),
            Setting(key: "items", help: "one or a list",
                apply: { value, text throws(ConfigurationError) in value.items = [text] },
                applyList: { value, list throws(ConfigurationError) in value.items = list },
                current: { $0.items.joined(separator: ",") }),
            Setting(key: "crl.enabled", help: "on or off", switches: ["no-crl": "false"],
                apply: { value, text throws(ConfigurationError) in value.enabled = try SettingValue.boolean("crl.enabled", text) },
                current: { "\($0.enabled)" }),
        ],
        sections: [
            SettingsSection(key: "things", entryKeys: ["a", "b"]) { value, entry throws(ConfigurationError) in
                value.entries.append(try entry.required("a", expected: "a value") + (entry["b"] ?? ""))
            }
        ],
        environmentPrefix: "example")

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() throws {
        let file = SettingsFile(path: "e.yaml", text: "crl:\n  interval: 3h\n  enabled: true\nlog_name: file\nitems: [a, b]\n")
        let loaded = try Self.schema.load(
            defaults: Example(), flags: ["log_name": "flag"], environment: ["EXAMPLE_CRL_INTERVAL": "2h", "EXAMPLE_LOG_NAME": "env"],
            file: file)
        #expect(loaded.value.interval == 7200 && loaded.value.name == "flag" && loaded.value.items == ["a", "b"])
        #expect(loaded.sources["crl.interval"] == "environment EXAMPLE_CRL_INTERVAL")
        #expect(loaded.sources["log_name"] == "flag --name")
        #expect(loaded.sources["items"] == "file e.yaml")
        let summary = Self.schema.summary(loaded)
        #expect(summary.contains("crl.interval: 2h  # environment EXAMPLE_CRL_INTERVAL"))
        #expect(summary.contains("items: a,b  # file e.yaml"))
    }

    @Test func flagsComeInEveryForm() throws {
        let flags = try Self.schema.flagValues(["--crl-interval", "1h", "--name=x", "--no-crl", "--items", "one"])
        #expect(flags == ["crl.interval": "1h", "log_name": "x", "crl.enabled": "false", "items": "one"])
        #expect(try Self.schema.flagValues(["--name=", "--crl-interval", "1h"]) == ["log_name": "", "crl.interval": "1h"])
        #expect(throws: ConfigurationFileError.self) { try Self.schema.flagValues(["--crl-intervall", "1h"]) }
        #expect(throws: ConfigurationFileError.self) { try Self.schema.flagValues(["--crl-interval"]) }
        #expect(Self.schema.optionsHelp.contains("  --crl-interval <value>: how often [crl.interval, EXAMPLE_CRL_INTERVAL, reloadable]\n"))
        #expect(Self.schema.optionsHelp.contains("  --crl-enabled <value> (or --no-crl): on or off [crl.enabled, EXAMPLE_CRL_ENABLED]"))
    }

    @Test func sectionsAreListsOfMappings() throws {
        let file = SettingsFile(path: "e.yaml", text: "things:\n  - {a: x, b: y}\n  - a: z\n")
        #expect(try Self.schema.load(defaults: Example(), file: file).value.entries == ["xy", "z"])
        func problem(_ text: String) -> String {
            do {
                _ = try Self.schema.load(defaults: Example(), file: SettingsFile(path: "e.yaml", text: text))
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(problem("things:\n  - b: y\n") == #"configuration key things[0].a (from file e.yaml): "" is not valid; expected a value"#)
        #expect(problem("things:\n  - c: y\n").hasPrefix("unknown configuration key things[0].c in e.yaml; known keys of an entry: a, b"))
        #expect(problem("things: 3\n") == "configuration key things in e.yaml: expected a list of mappings")
        #expect(problem("crl:\n  intervall: 1h\n").hasPrefix("unknown configuration key crl.intervall in e.yaml; known keys: crl.interval"))
        #expect(problem("log_name: [a, b]\n") == "configuration key log_name in e.yaml: expected one value, not a list")
        #expect(problem("[1, 2]\n") == "the configuration file e.yaml must be a mapping of keys to values")
        #expect(problem("crl: {interval: 2 hours}\n").hasPrefix(#"configuration key crl.interval (from file e.yaml): "2 hours" is not valid"#))
    }

    @Test func anUnknownVariableUnderThePrefixIsAWarning() throws {
        let loaded = try Self.schema.load(defaults: Example(), environment: ["EXAMPLE_INTERVAL": "1h", "EXAMPLE_CONFIG": "x"], file: nil)
        #expect(loaded.warnings == ["environment variable EXAMPLE_INTERVAL is not a configuration key; ignored (see --help)"])
        #expect(loaded.value.interval == 60)
    }

    /// The stapler reads its global keys from `OCSP_STAPLER_…` variables and flags too.
    @Test func theStaplerReadsTheEnvironmentAndFlags() throws {
        let flags = try StaplerConfiguration.schema.flagValues(["--retry-min", "2s", "--url", "http://r.test/"])
        let loaded = try StaplerConfiguration.load(
            flags: flags, environment: ["OCSP_STAPLER_TIMEOUT": "750ms"],
            file: SettingsFile(path: "s.yaml", text: "certificates:\n  - {cert: /a.pem, out: /a.ocsp, url: http://own.test/}\n"))
        #expect(loaded.value.timeout == .milliseconds(750) && loaded.value.policy.retryMinimum == .seconds(2))
        #expect(loaded.value.targets.map(\.responderURL) == ["http://r.test/"], "a --url applies to every certificate")
    }
}
