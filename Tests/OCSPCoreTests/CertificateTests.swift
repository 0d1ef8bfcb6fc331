import Foundation
import OCSPCore
import OCSPValues
import OCSPTestSupport
import Testing

@Suite struct CertificateTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    @Test func derAndPEMRoundTrip() throws {
        let der = pki.root.derEncoded
        #expect(try Certificate(derEncoded: der).derEncoded == der)
        #expect(try Certificate(pemOrDER: Array(pki.root.pemEncoded.utf8)).derEncoded == der)
        #expect(try Certificate(pemOrDER: der) == pki.root)
        #expect(pki.root.fingerprint.count == 32)
    }

    @Test func rejectsGarbage() {
        #expect(throws: OCSPError(.invalidCertificate, "")) { try Certificate(pemOrDER: Array("hello".utf8)) }
        #expect(throws: OCSPError(.invalidCertificate, "")) { try Certificate(derEncoded: []) }
    }

    @Test func namesAndFlags() throws {
        #expect(pki.root.subject == "CN=Test EC Root")
        #expect(pki.responder.issuer == "CN=Test EC Root")
        #expect(pki.root.isCA)
        #expect(!pki.responder.isCA)
        #expect(pki.responder.hasOCSPSigningUsage)
        #expect(!pki.root.hasOCSPSigningUsage)
        let notAfter = try #require(pki.root.notAfter)
        #expect(abs(notAfter.timeIntervalSinceNow - 86400) < 120)
    }

    @Test func issuanceChecksTheSignature() throws {
        #expect(pki.responder.isIssued(by: pki.root))
        #expect(!pki.responder.isIssued(by: pki.rsaCA))
        // Same subject name, different key: names match, signature does not.
        let impostor = try TestPKI.ca("Test EC Root", key: PrivateKey.generateEC())
        #expect(!pki.responder.isIssued(by: impostor))
    }

    @Test func keysMatchTheirCertificates() throws {
        #expect(pki.root.matches(pki.rootKey))
        #expect(!pki.root.matches(pki.responderKey))
        #expect(pki.rsaKey.algorithm == .rsa)
        #expect(pki.rootKey.algorithm == .ecP256)
        let reloaded = try PrivateKey(pemEncoded: pki.rsaKey.pemEncoded)
        #expect(pki.rsaCA.matches(reloaded))
        #expect(throws: OCSPError(.invalidKey, "")) { try PrivateKey(pemEncoded: Array("nope".utf8)) }
    }

    @Test func loadingMissingFilesSaysWhich() {
        do {
            _ = try Certificate.load(path: "/nonexistent/ca.pem")
            Issue.record("expected an error")
        } catch let error as OCSPError {
            #expect(error.code == .io)
            #expect(error.message.contains("/nonexistent/ca.pem"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
