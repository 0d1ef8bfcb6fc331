internal import Fetching
package import Foundation
package import Logging
package import OCSPCore
package import OCSPValues
package import RevocationStore

/// Tells an HTTP cache in front of the followers (nginx `proxy_cache`, a CDN) to forget or
/// refresh a certificate's GET answers once a follower has applied its change: each GET path a client may
/// have used, for a request with a SHA-1 or a SHA-256 CertID and no nonce (what OpenSSL, and so
/// nginx's stapling and most clients, send), in standard base64 and in the URL-safe alphabet
/// without padding. Percent-encoded forms are the same key when the cache keys on the decoded
/// path (nginx `$uri`, as `Config/nginx/ocsp-cache.conf` does).
///
/// Either an HTTP request to ``Configuration/urlTemplate`` for each path (`{path}`: the path with
/// its leading `/`; `Config/nginx/ocsp-cache.conf` answers a GET there by fetching the new answer
/// and replacing the cached one; a CDN's purge API may want another method), or ``Configuration/command`` run once per certificate by `/bin/sh -c` with
/// the paths in `OCSP_PURGE_PATHS` (one a line) and `OCSP_ISSUER`, `OCSP_SERIAL` (hex).
package final class PurgeHook: Sendable {
    package struct Configuration: Sendable, Equatable {
        /// e.g. `http://127.0.0.1:8081{path}`.
        package var urlTemplate: String?
        package var method = "GET"
        package var command: String?
        /// Each request or command is given this long.
        package var timeout: TimeInterval = 5
        /// More certificates than this in one catch-up are not purged (the cache's lifetime bounds them).
        package var limit = 10_000

        package init() {}
        package var isEnabled: Bool { urlTemplate != nil || command != nil }
    }

    private let configuration: Configuration
    private let store: RevocationStore
    private let logger: Logger

    package init(configuration: Configuration, store: RevocationStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
    }

    /// The GET paths a certificate's answers may be cached under.
    package static func paths(issuer: Certificate, serial: SerialNumber) throws -> [String] {
        var out: [String] = []
        for algorithm in [HashAlgorithm.sha1, .sha256] {
            let request = try OCSPRequestBuilder.build([try CertID(issuer: issuer, serialNumber: serial, hashAlgorithm: algorithm)])
            let standard = Data(request).base64EncodedString()
            var urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            while urlSafe.hasSuffix("=") { urlSafe.removeLast() }
            out += ["/" + standard, "/" + urlSafe]
        }
        return out
    }

    /// Purges the answers of the certificates (issuer, serial); failures are logged, not thrown
    /// (the cache's lifetime still bounds what it serves).
    package func purge(_ certificates: [(IssuerID, SerialNumber)]) async {
        guard configuration.isEnabled, !certificates.isEmpty else { return }
        guard certificates.count <= configuration.limit else {
            logger.warning(
                "too many changed certificates to purge from the HTTP cache; it serves them until their cached answers expire",
                metadata: ["changed": "\(certificates.count)", "limit": "\(configuration.limit)"])
            return
        }
        var issuers: [IssuerID: Certificate] = [:]
        var failures = 0
        var lastError = ""
        for (issuerID, serial) in certificates {
            do {
                if issuers[issuerID] == nil {
                    guard let record = try store.issuer(id: issuerID) else { continue }
                    issuers[issuerID] = try Certificate(derEncoded: record.certificateDER)
                }
                let paths = try Self.paths(issuer: issuers[issuerID]!, serial: serial)
                if let template = configuration.urlTemplate {
                    for path in paths { try await request(template.replacingOccurrences(of: "{path}", with: path)) }
                }
                if let command = configuration.command {
                    try await run(command, paths: paths, issuer: issuerID, serial: serial)
                }
            } catch {
                failures += 1
                lastError = "\(error)"
            }
        }
        if failures > 0 {
            logger.error(
                "HTTP cache purge failed; the cache serves those answers until they expire",
                metadata: ["failed": "\(failures)", "of": "\(certificates.count)", "error": "\(lastError)"])
        }
    }

    private func request(_ url: String) async throws {
        let request = FetchRequest(
            url: url, method: .init(rawValue: configuration.method), timeout: .milliseconds(Int64(configuration.timeout * 1000)),
            maximumBytes: 1 << 20, maximumRedirects: 0)
        let response = try await CurlFetcher.shared.fetch(request)
        // 404: nothing was cached under that path (ngx_cache_purge), which is what a purge wants.
        guard (200..<300).contains(response.status) || response.status == 404 else {
            throw PurgeError(description: "\(url) answered HTTP \(response.status)")
        }
    }

    private func run(_ command: String, paths: [String], issuer: IssuerID, serial: SerialNumber) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["OCSP_PURGE_PATHS"] = paths.joined(separator: "\n")
        environment["OCSP_ISSUER"] = issuer.description
        environment["OCSP_SERIAL"] = serial.hex
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(configuration.timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                throw PurgeError(description: "the purge command ran longer than \(configuration.timeout) s")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        guard process.terminationStatus == 0 else {
            throw PurgeError(description: "the purge command exited with \(process.terminationStatus)")
        }
    }
}

struct PurgeError: Error, CustomStringConvertible {
    let description: String
}
