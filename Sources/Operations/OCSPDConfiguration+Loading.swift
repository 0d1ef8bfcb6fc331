internal import Settings

extension OCSPDConfiguration {
    /// Reads the configuration: each key from the flags given, else its `OCSPD_…` environment
    /// variable, else the YAML file, else its default (``Settings/SettingsSchema``), and checks
    /// every value.
    /// - Parameters:
    ///   - flags: the values given on the command line, by key (`crl.interval`).
    ///   - environment: the process environment; `OCSPD_CONFIG` names the file when `file` is nil.
    ///   - file: a YAML file whose keys nest at the dots (`crl: {interval: 1h}`).
    /// - Throws: ``Settings/ConfigurationError`` naming the key, or
    ///   ``Settings/ConfigurationFileError`` for a file that cannot be read or holds a key ocspd
    ///   does not know.
    package static func load(flags: [String: String], environment: [String: String], file: String? = nil) async throws
        -> OCSPDConfiguration
    {
        let path = file ?? environment["OCSPD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let loaded = try schema.load(
            defaults: OCSPDConfiguration(), flags: flags, environment: environment, file: try path.map(SettingsFile.read))
        var configuration = loaded.value
        configuration.sources = loaded.sources
        configuration.warnings = loaded.warnings
        do {
            return try configuration.validated()
        } catch {
            var located = error
            located.source = configuration.sources[error.key]
            throw located
        }
    }
}
