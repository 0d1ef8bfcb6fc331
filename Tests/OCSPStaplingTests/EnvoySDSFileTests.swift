import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
@testable import OCSPStapling
import Testing
import Yams

/// The Envoy SDS output: the document Envoy's file-based SDS reads, with Envoy's field names
/// (api/envoy/extensions/transport_sockets/tls/v3/{secret,common}.proto, config/core/v3/base.proto),
/// written by rename. (Envoy is not packaged for Debian, so no Envoy reads it here.)
@Suite struct EnvoySDSFileTests {
    let pki: TestPKI
    let staple: DeliveredStaple
    let target: StapleTarget

    init() throws {
        pki = try TestPKI()
        let leaf = try pki.leaf("site.test", issuer: pki.root, key: pki.rootKey)
        let der = try pki.rootSignedResponse(for: leaf)
        let certID = try CertID(issuer: pki.root, serialNumber: leaf.serialNumber, hashAlgorithm: .sha1)
        staple = DeliveredStaple(der: der, verified: try OCSPResponseVerifier().verify(der, for: certID, issuer: pki.root))
        target = StapleTarget(certificatePath: pki.directory + "/site.pem", outputPath: pki.directory + "/site.ocsp")
    }

    func decoded(_ path: String) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func inode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int)
    }

    @Test func theDocumentIsASecretWithTheStapleInlineInEnvoysFieldNames() async throws {
        let path = pki.directory + "/sds.yaml"
        let output = EnvoySDSFile(
            path: path, secretName: "site", certificateChain: "/etc/envoy/site.pem", privateKey: "/etc/envoy/site.key")
        try await output.deliver(staple, for: target)

        let document = try decoded(path)
        #expect(Set(document.keys) == ["resources"])
        let resources = try #require(document["resources"] as? [[String: Any]])
        #expect(resources.count == 1)
        let secret = resources[0]
        #expect(Set(secret.keys) == ["@type", "name", "tls_certificate"])
        #expect(secret["@type"] as? String == "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret")
        #expect(secret["name"] as? String == "site")
        let certificate = try #require(secret["tls_certificate"] as? [String: Any])
        #expect(Set(certificate.keys) == ["certificate_chain", "private_key", "ocsp_staple"])
        #expect(certificate["certificate_chain"] as? [String: String] == ["filename": "/etc/envoy/site.pem"])
        #expect(certificate["private_key"] as? [String: String] == ["filename": "/etc/envoy/site.key"])
        let ocspStaple = try #require(certificate["ocsp_staple"] as? [String: String])
        #expect(Set(ocspStaple.keys) == ["inline_bytes"], "Envoy takes a staple as filename or inline_bytes only")
        #expect(ocspStaple["inline_bytes"].flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } == staple.der)

        // JSON is YAML: a `.yaml` path reads the same.
        let text = String(decoding: try #require(FileManager.default.contents(atPath: path)), as: UTF8.self)
        let yaml = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect((yaml["resources"] as? [[String: Any]])?.first?["name"] as? String == "site")
    }

    @Test func theDocumentIsRenamedIntoPlaceAndRewrittenOnlyWhenItChanges() async throws {
        let path = pki.directory + "/sds.json"
        let output = EnvoySDSFile(path: path, certificateChain: "/c.pem", privateKey: "/k.pem")
        try await output.withdraw(for: target)
        let withoutStaple = try decoded(path)
        let secret = try #require((withoutStaple["resources"] as? [[String: Any]])?.first)
        #expect(secret["name"] == nil, "no secret_name: no name")
        #expect(Set(try #require(secret["tls_certificate"] as? [String: Any]).keys) == ["certificate_chain", "private_key"])

        // A reader that opened the old document keeps reading it whole: the new one is another
        // file (a temporary one beside it, renamed over the path), not the old one rewritten.
        let before = try inode(path)
        let reader = try #require(FileHandle(forReadingAtPath: path))
        defer { try? reader.close() }
        try await output.deliver(staple, for: target)
        let after = try inode(path)
        #expect(after != before, "renamed into place")
        #expect(try JSONSerialization.jsonObject(with: reader.readDataToEndOfFile()) as? [String: Any] != nil)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: pki.directory).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)

        // The same staple again (at start, say): the file is left alone, so Envoy reloads nothing.
        try await output.deliver(staple, for: target)
        #expect(try inode(path) == after)
    }

    @Test func aCertificateTakesAnEnvoySDSKey() throws {
        let configuration = try StaplerConfiguration.parse(
            """
            certificates:
              - cert: /etc/envoy/site.pem
                out: /var/lib/ocsp/site.ocsp
                envoy_sds: {path: /etc/envoy/sds/site.yaml, secret_name: site, private_key: /etc/envoy/site.key}
              - cert: /etc/envoy/api.pem
                out: /var/lib/ocsp/api.ocsp
                haproxy_socket: /run/haproxy.sock
                envoy_sds:
                  path: /etc/envoy/sds/api.json
                  certificate_chain: /etc/envoy/api-chain.pem
                  private_key: /etc/envoy/api.key
            """)
        #expect(
            configuration.targets[0].outputs.map { AnyHashable($0) } == [
                AnyHashable(
                    EnvoySDSFile(
                        path: "/etc/envoy/sds/site.yaml", secretName: "site", certificateChain: "/etc/envoy/site.pem",
                        privateKey: "/etc/envoy/site.key"))
            ])
        #expect(
            configuration.targets[1].outputs.map { AnyHashable($0) } == [
                AnyHashable(HAProxyRuntime(socketPath: "/run/haproxy.sock")),
                AnyHashable(
                    EnvoySDSFile(
                        path: "/etc/envoy/sds/api.json", certificateChain: "/etc/envoy/api-chain.pem",
                        privateKey: "/etc/envoy/api.key")),
            ])
        #expect(configuration.targets[1].haproxySocket == "/run/haproxy.sock")
        for (yaml, said) in [
            ("envoy_sds: {path: /s.yaml}", "configuration key certificates[0].envoy_sds.private_key (from file configuration)"),
            ("envoy_sds: {path: /s.yaml, private_key: /k, secret: x}", "unknown configuration key certificates[0].envoy_sds.secret"),
        ] {
            #expect(throws: StaplerConfiguration.Problem.self) {
                do {
                    _ = try StaplerConfiguration.parse("certificates:\n  - {cert: /a.pem, out: /a.ocsp, \(yaml)}\n")
                } catch {
                    #expect("\(error)".contains(said), "\(error)")
                    throw error
                }
            }
        }
    }
}
