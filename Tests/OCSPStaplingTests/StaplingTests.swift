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

    @Test func staplingErrorsCompareOnTheirCodeAndKeepWhatTheyCarry() {
        let refused = StaplingError(.unreachable, "GET http://ocsp.test/: HTTP 503", httpStatus: 503)
        let silent = StaplingError(.unreachable, "http://ocsp.test/: no answer within 10 seconds")
        #expect(refused == silent && refused.httpStatus == 503 && silent.httpStatus == nil)
        #expect(refused != StaplingError(.rejected, refused.message) && Set([refused, silent]).count == 1)
        #expect("\(refused)" == "GET http://ocsp.test/: HTTP 503")
        let kind =
            switch refused.code {
            case .unreachable: "network"
            default: "other"
            }
        #expect(kind == "network")
        let codes: [StaplingError.Code] = [
            .noResponderURL, .unreachable, .rejected, .storage, .certificate, .serverUpdate,
        ]
        #expect(
            codes.map(\.description) == [
                "noResponderURL", "unreachable", "rejected", "storage", "certificate", "serverUpdate",
            ])
        #expect(Set(codes).count == codes.count)
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

    @Test func certificateFilesAreParsedOnceUntilTheyChange() throws {
        let path = pki.directory + "/chain.pem"
        let first = try leaf([])
        try Data((first.pemEncoded + pki.root.pemEncoded).utf8).write(to: URL(fileURLWithPath: path))
        let files = CertificateFiles()
        let read = try files.chain(at: path)
        #expect(read.count == 2 && read[0] == first)
        #expect(try files.chain(at: path)[0] === read[0], "the same objects: not parsed again")
        #expect(files.isIssued(read[0], by: read[1]) && files.isIssued(read[0], by: read[1]))
        #expect(!files.isIssued(read[1], by: read[0]))

        // A renewed certificate (another file renamed over it) is read anew.
        let renewed = try leaf([])
        try Data((renewed.pemEncoded + pki.root.pemEncoded).utf8).write(to: URL(fileURLWithPath: path + ".new"))
        #expect(rename(path + ".new", path) == 0)
        #expect(try files.chain(at: path)[0] == renewed)
        let target = StapleTarget(certificatePath: path, outputPath: path + ".ocsp")
        #expect(try target.loadCertificates(from: files).leaf == renewed)
    }
}
