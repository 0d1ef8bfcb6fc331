import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
@testable import OCSPStapling
import Testing

@Suite struct StaplingTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    func leaf(_ extensions: [(String, String)]) throws -> Certificate {
        try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("CN", "site.test")], validity: 86400,
                extensions: [("basicConstraints", "critical,CA:FALSE")] + extensions),
            subjectKey: try PrivateKey.generateEC(), issuer: pki.root, issuerKey: pki.rootKey)
    }

    @Test func theResponderURLComesFromTheAIAUnlessConfigured() throws {
        let withAIA = try leaf([("authorityInfoAccess", "OCSP;URI:http://ocsp.example.test/a,OCSP;URI:http://b.test/")])
        #expect(withAIA.ocspURLs == ["http://ocsp.example.test/a", "http://b.test/"])
        #expect(try StapleFetcher().responderURL(for: withAIA) == "http://ocsp.example.test/a")
        let configured = StapleFetcher(options: .init(responderURL: "http://override.test/"))
        #expect(try configured.responderURL(for: withAIA) == "http://override.test/")
        let without = try leaf([])
        #expect(throws: StaplingError(.noResponderURL, "")) { try StapleFetcher().responderURL(for: without) }
    }

    @Test func mustStapleIsTheTLSFeatureStatusRequest() throws {
        #expect(try leaf([("tlsfeature", "status_request")]).isMustStaple)
        #expect(try !leaf([]).isMustStaple)
        #expect(try !leaf([("tlsfeature", "status_request_v2")]).isMustStaple)
    }

    @Test func getPathsAreBase64WithTheURLSpecialsEncoded() {
        // base64 of fb ff bf 00 is "+/+/AA==": every special character, then padding
        #expect(OCSPRequestBuilder.getPath([0xFB, 0xFF, 0xBF, 0x00]) == "%2B%2F%2B%2FAA%3D%3D")
        let path = OCSPRequestBuilder.getPath((0..<200).map { UInt8($0) })
        #expect(!path.contains { "+/=".contains($0) })
    }

    @Test func aStapleFileIsReplacedWholeAndRemoved() throws {
        let path = pki.directory + "/site.ocsp"
        let file = StapleFile(path: path)
        #expect(file.read() == nil)
        try file.write([1, 2, 3])
        try file.write([4, 5])
        #expect(file.read() == [4, 5])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: pki.directory).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "no temporary file is left beside it")
        try file.remove()
        try file.remove()  // already gone: not an error
        #expect(file.read() == nil)
    }
}
