import Foundation
import HTTPServer
import LogFormats
import Logging
import OCSPTestSupport
@testable import Operations
import Prometheus
import Responder
import Settings
import RevocationStore
import Testing

@Suite struct ResponderOperationsTests {
    let pki: TestPKI
    let responder: OCSPResponder
    let operations: ResponderOperations

    init() throws {
        pki = try TestPKI()
        responder = OCSPResponder(store: pki.store)
        var configuration = ResponderOperations.Configuration()
        configuration.cacheSeconds = 0
        operations = ResponderOperations(responder: responder, registry: PrometheusCollectorRegistry(), configuration: configuration)
    }

    func readiness() throws -> (Bool, [String: Any]) {
        let (ready, body) = operations.readiness()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        return (ready, object)
    }

    @Test func readyWhenEverySignerCanSign() throws {
        let (ready, body) = try readiness()
        #expect(ready)
        #expect(body["ready"] as? Bool == true)
    }

    @Test func notReadyWhileAKeyIsUnreadableAndReadyAgainAfterAReload() throws {
        #expect(try readiness().0)  // loads every signer
        try FileManager.default.moveItem(atPath: pki.directory + "/responder.key", toPath: pki.directory + "/away.key")
        // Loaded keys stay loaded: still ready until the signers are reloaded (SIGHUP).
        #expect(try readiness().0)
        responder.reloadSigners()
        let (ready, body) = try readiness()
        #expect(!ready)
        let reasons = try #require(body["reasons"] as? [String])
        #expect(reasons.count == 1 && reasons[0].contains("cannot sign") && reasons[0].contains("signing key"))
        try FileManager.default.moveItem(atPath: pki.directory + "/away.key", toPath: pki.directory + "/responder.key")
        responder.reloadSigners()
        #expect(try readiness().0)
    }

    @Test func exposesEveryRequestCounterAndTheStoreGauges() throws {
        _ = try responder.presign()
        let text = String(decoding: operations.metricsExposition(), as: UTF8.self)
        for label in OCSPStatusLabel.allCases {
            for hit in ["true", "false"] {
                #expect(text.contains("mtls_ocsp_requests_total{status=\"\(label.name)\",cache_hit=\"\(hit)\"} 0"))
            }
        }
        #expect(text.contains("ocsp_store_readable 1"))
        #expect(text.contains("ocsp_refresh_backlog 0"))
        #expect(text.contains("ocsp_request_duration_seconds_bucket{le=\"+Inf\"} 0"))
        #expect(text.contains("ocsp_ready 1"))
        let issuers = try pki.store.allIssuers().map(\.id.slug)
        for slug in issuers { #expect(text.contains("ocsp_signer_ready{issuer=\"\(slug)\"} 1")) }
    }

    @Test func histogramsAreCumulative() {
        var buffer: [UInt8] = []
        ResponderOperations.emitHistogram(
            into: &buffer, name: "h", help: "a histogram", bounds: [1, 2], counts: [3, 0, 4], sum: 12.5)
        #expect(
            String(decoding: buffer, as: UTF8.self)
                == """
                # HELP h a histogram
                # TYPE h histogram
                h_bucket{le="1.0"} 3
                h_bucket{le="2.0"} 3
                h_bucket{le="+Inf"} 7
                h_sum 12.5
                h_count 7

                """)
    }
}

@Suite struct JSONLogHandlerTests {
    @Test func writesOneParsableObjectPerLineWithMetadata() throws {
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)
        defer { close(pipe[0]) }
        var handler = JSONLogHandler(label: "test", output: JSONLogHandler.Output(descriptor: pipe[1]))
        handler.logLevel = .debug
        handler[metadataKey: "component"] = "unit"
        let logger = Logger(label: "test") { _ in handler }
        logger.info(
            "a \"quoted\"\nline\u{1}", metadata: ["ocsp_status": "good", "nested": ["a": ["1", "2"]], "latency_us": "12"])
        logger.trace("below the level")
        close(pipe[1])
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(pipe[0], &chunk, chunk.count)
            if count <= 0 { break }
            bytes += chunk[..<count]
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "a \"quoted\"\nline\u{1}")
        #expect(object["level"] as? String == "info")
        #expect(object["label"] as? String == "test")
        #expect(object["ocsp_status"] as? String == "good")
        #expect(object["component"] as? String == "unit")
        #expect((object["nested"] as? [String: Any])?["a"] as? [String] == ["1", "2"])
        let timestamp = try #require(object["timestamp"] as? String)
        #expect(timestamp.hasSuffix("Z") && timestamp.count == 24)
    }
}

@Suite struct OCSPDConfigurationTests {
    func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "ocspd-config-\(UUID().uuidString).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() async throws {
        let path = try file("store: /s\nthreads: 3\nvalidity: 2h\ncrl:\n  shards: 8\n  interval: 3h\n  public-url: http://crl.test/\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try await OCSPDConfiguration.load(
            flags: ["threads": "5"], environment: ["OCSPD_THREADS": "4", "OCSPD_CRL_INTERVAL": "90m"], file: path)
        #expect(configuration.http.threads == 5)
        #expect(configuration.crl.interval == 5400)
        #expect(configuration.crl.policy.shards == 8)
        #expect(configuration.responder.validityOverride == 7200)
        #expect(configuration.sources["threads"] == "flag --threads")
        #expect(configuration.sources["crl.interval"] == "environment OCSPD_CRL_INTERVAL")
        #expect(configuration.sources["crl.shards"] == "file \(path)")
        #expect(configuration.crl.policy.baseURL == "http://crl.test/")
    }

    @Test func aCRLNamesNoURLNobodyConfigured() async throws {
        let plain = try await OCSPDConfiguration.load(flags: ["store": "/s"], environment: [:])
        #expect(plain.crl.policy.baseURL == nil, "never the listen address")
        #expect(plain.crlURLNotice?.contains("no crl.public-url") == true)
        let published = try await OCSPDConfiguration.load(flags: ["store": "/s", "crl.public-url": "http://crl.test/"], environment: [:])
        #expect(published.crlURLNotice == nil && published.crl.policy.baseURL == "http://crl.test/")
        await #expect(throws: ConfigurationError.self) {
            try await OCSPDConfiguration.load(flags: ["store": "/s", "crl.shards": "4"], environment: [:])
        }
    }

    @Test func aBadValueNamesItsKeyAndWhereItCameFrom() async throws {
        await #expect {
            try await OCSPDConfiguration.load(flags: ["store": "/s"], environment: ["OCSPD_LIVE_SIGN_RATE": "lots"])
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.key == "live-sign-rate" && error?.source == "environment OCSPD_LIVE_SIGN_RATE"
                && "\(error!)".contains("\"lots\"")
        }
    }

    @Test func keysEndUpInEveryPart() async throws {
        let configuration = try await OCSPDConfiguration.load(
            flags: [
                "store": "/s", "listen": "[::1]:0", "live-sign-rate": "10", "nonce-overflow": "cached",
                "request-timeout": "5s", "log.request-sample": "0.5", "metrics.listen": "127.0.0.1:9102",
                "allow-insecure-key-permissions": "true",
            ], environment: [:])
        #expect(configuration.http.host == "::1" && configuration.http.port == 0)
        #expect(configuration.responder.liveSigningRate == 10 && configuration.responder.nonceOverflowServesCached)
        #expect(configuration.http.requestTimeout == 5 && configuration.http.requestLogSampleRate == 0.5)
        #expect(!configuration.http.servesOperations)
        #expect(configuration.responder.keyFilePermissions == .any && configuration.crl.keyFilePermissions == .any)
        let other = try await OCSPDConfiguration.load(flags: ["store": "/s"], environment: [:])
        #expect(Set(configuration.changedKeys(to: other)) == [
            "listen", "live-sign-rate", "nonce-overflow", "request-timeout", "log.request-sample", "metrics.listen",
            "allow-insecure-key-permissions",
        ])
    }
}
