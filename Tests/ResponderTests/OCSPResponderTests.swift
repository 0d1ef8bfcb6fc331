import Foundation
import OCSPCore
import OCSPValues
import OCSPTestSupport
import Responder
import RevocationStore
import Testing

@Suite struct OCSPResponderTests {
    let pki: TestPKI
    let responder: OCSPResponder
    init() throws {
        pki = try TestPKI()
        responder = OCSPResponder(store: pki.store)
    }

    func ask(_ issuer: Certificate, _ serials: [SerialNumber], hash: HashAlgorithm = .sha1, nonce: Bool = false)
        throws -> (request: [UInt8], result: OCSPResponder.Result, response: OCSPResponse)
    {
        let ids = try serials.map { try CertID(issuer: issuer, serialNumber: $0, hashAlgorithm: hash) }
        let request = try OCSPRequestBuilder.build(ids, nonce: nonce)
        let result = responder.respond(to: request)
        return (request, result, try OCSPResponse(derEncoded: result.body))
    }

    @Test(arguments: [HashAlgorithm.sha1, .sha256])
    func answersGoodRevokedAndUnknown(hash: HashAlgorithm) throws {
        let id = IssuerID(certificate: pki.root)
        let good = SerialNumber(bytes: [1])
        let revoked = SerialNumber(bytes: [2])
        let time = Date(timeIntervalSince1970: 1_767_323_045)
        try pki.store.addCertificate(issuer: id, serial: good, notAfter: nil)
        try pki.store.setStatus(issuer: id, serial: revoked, .revoked(time: time, reason: .superseded, invalidityDate: nil))

        let (_, result, response) = try ask(pki.root, [good, revoked, SerialNumber(bytes: [3])], hash: hash)
        #expect(result.status == .successful)
        try response.verify(issuer: pki.root)
        #expect(response.responses.map(\.status) == [.good, .revoked(time: time, reason: .superseded), .unknown])
        #expect(response.responses.allSatisfy { $0.certID.hashAlgorithm == hash })
        let single = response.responses[0]
        #expect(single.nextUpdate.map { $0.timeIntervalSince(single.thisUpdate) } == 3600)
    }

    @Test func rsaIssuerSignsItsOwnResponses() throws {
        let serial = SerialNumber(bytes: [7])
        try pki.store.addCertificate(issuer: IssuerID(certificate: pki.rsaCA), serial: serial, notAfter: nil)
        let (_, _, response) = try ask(pki.rsaCA, [serial])
        try response.verify(issuer: pki.rsaCA)
        // The CA's certificate travels with its responses: OCSP_basic_verify (nginx, curl) looks
        // for the signer only there and in the chain it is given (issue 32).
        #expect(response.certificates.map(\.derEncoded) == [pki.rsaCA.derEncoded])
        #expect(response.responses.first?.status == .good)
        #expect(response.responses.first.flatMap { $0.nextUpdate?.timeIntervalSince($0.thisUpdate) } == 7200)
    }

    @Test func anIssuerMayOmitTheSignerCertificate() throws {
        var record = try pki.store.issuer(certificate: pki.rsaCA)
        #expect(!record.omitsSignerCertificate)
        record.omitsSignerCertificate = true
        try pki.store.addIssuer(record, replace: true)
        #expect(try pki.store.issuer(certificate: pki.rsaCA).omitsSignerCertificate, "kept in the store")
        let serial = SerialNumber(bytes: [8])
        try pki.store.addCertificate(issuer: IssuerID(certificate: pki.rsaCA), serial: serial, notAfter: nil)
        let (_, _, response) = try ask(pki.rsaCA, [serial])
        try response.verify(issuer: pki.rsaCA)
        #expect(response.certificates.isEmpty)
        // A delegated responder's too.
        var delegated = try pki.store.issuer(certificate: pki.root)
        delegated.omitsSignerCertificate = true
        let signer = try OCSPResponder.makeSigner(delegated)
        #expect(!signer.includesCertificate)
        #expect(try OCSPResponder.makeSigner(pki.store.issuer(certificate: pki.root)).includesCertificate)
    }

    @Test func revocationIsVisibleToTheNextRequest() throws {
        let id = IssuerID(certificate: pki.root)
        let serial = SerialNumber(bytes: [9])
        try pki.store.addCertificate(issuer: id, serial: serial, notAfter: nil)
        #expect(try ask(pki.root, [serial]).response.responses.first?.status == .good)
        try pki.store.setStatus(issuer: id, serial: serial, .revoked(time: Date(timeIntervalSince1970: 100), reason: nil, invalidityDate: nil))
        #expect(try ask(pki.root, [serial]).response.responses.first?.status == .revoked(time: Date(timeIntervalSince1970: 100), reason: nil))
    }

    @Test func nonceIsEchoed() throws {
        let (request, result, response) = try ask(pki.root, [SerialNumber(bytes: [1])], nonce: true)
        #expect(result.hasNonce)
        #expect(response.echoesNonce(of: request))
    }

    @Test func unknownIssuerAndMixedIssuersAreUnauthorized() throws {
        let stranger = try TestPKI.ca("Stranger", key: PrivateKey.generateEC())
        #expect(try ask(stranger, [SerialNumber(bytes: [1])]).result.status == .unauthorized)
        let mixed = try OCSPRequestBuilder.build([
            CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [1])),
            CertID(issuer: pki.rsaCA, serialNumber: SerialNumber(bytes: [1])),
        ])
        #expect(responder.respond(to: mixed).status == .unauthorized)
    }

    @Test func garbageIsMalformed() throws {
        for bytes in [[], [0x30], Array(repeating: UInt8(0x41), count: 300)] {
            let result = responder.respond(to: bytes)
            #expect(result.status == .malformedRequest)
            #expect(try OCSPResponse(derEncoded: result.body).status == .malformedRequest)
        }
    }

    @Test func validityOverrideWins() throws {
        let overriding = OCSPResponder(store: pki.store, validityOverride: 120)
        let request = try OCSPRequestBuilder.build([CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [1]))])
        let result = overriding.respond(to: request)
        #expect(result.nextUpdate.map { $0.timeIntervalSince(result.thisUpdate!) } == 120)
    }

    @Test func missingSigningKeyIsTryLater() throws {
        try FileManager.default.removeItem(atPath: pki.directory + "/rsa.key")
        let request = try OCSPRequestBuilder.build([CertID(issuer: pki.rsaCA, serialNumber: SerialNumber(bytes: [1]))])
        let result = responder.respond(to: request)
        #expect(result.status == .tryLater && result.failureKind == .signing)
        #expect(result.failure?.contains("rsa.key") == true)
        #expect(!result.isCacheable)
        #expect(responder.failureCounts.signing == 1)
    }

    /// RFC 6960 §4.2.2.2: a response must not outlive its signer. The test responder's
    /// certificate ends a day after it was issued; a week's validity is cut there, and once it has
    /// expired nothing is signed (tryLater) and ocspd would refuse to start.
    @Test func responsesEndWhenTheirSignerDoes() throws {
        var configuration = OCSPResponder.Configuration()
        configuration.validityOverride = 7 * 86400
        let weekly = OCSPResponder(store: pki.store, configuration: configuration)
        let request = try OCSPRequestBuilder.build([CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [3]))])
        let responderExpiry = try #require(pki.responder.notAfter)
        let result = weekly.respond(to: request)
        #expect(result.status == .successful)
        #expect(result.nextUpdate == responderExpiry)
        let parsed = try OCSPResponse(derEncoded: result.body)
        #expect(parsed.responses.first?.nextUpdate == responderExpiry)

        let later = weekly.respond(to: request, now: responderExpiry + 1)
        #expect(later.status == .tryLater && later.failureKind == .signing)
        #expect(later.failure?.contains("expired") == true)
        #expect(try weekly.checkSigners(now: responderExpiry + 1).contains { $0.severity == .fatal })
        #expect(try weekly.checkSigners(now: responderExpiry - 86400).contains { $0.severity == .warning })
        #expect(try weekly.checkSigners(now: responderExpiry - 60 * 86400).isEmpty)
    }

    /// A cached response past its nextUpdate is never served: re-signed, or tryLater when that
    /// cannot be done.
    @Test func anExpiredResponseIsNeverServed() throws {
        let id = IssuerID(certificate: pki.rsaCA)
        let serial = SerialNumber(bytes: [4])
        let signedAt = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        try pki.store.addCertificate(
            issuer: id, serial: serial, notAfter: nil, sign: { key, record in try self.responder.sign(key, record: record, now: signedAt) })
        let request = try OCSPRequestBuilder.build([CertID(issuer: pki.rsaCA, serialNumber: serial)])
        let expired = signedAt + 7200 + 5  // the RSA CA's validity is 7200 s
        let resigned = responder.respond(to: request, now: expired)
        #expect(resigned.status == .successful && resigned.thisUpdate == expired)

        try FileManager.default.removeItem(atPath: pki.directory + "/rsa.key")
        let unsignable = OCSPResponder(store: pki.store).respond(to: request, now: expired + 7200 + 5)
        #expect(unsignable.status == .tryLater && unsignable.failureKind == .signing)
    }

    @Test func keyFilesOthersMayReadAreRefused() throws {
        let path = pki.directory + "/rsa.key"
        chmod(path, 0o644)
        #expect(throws: OCSPError(.insecureKeyFile, "")) { try PrivateKey.load(path: path) }
        _ = try PrivateKey.load(path: path, permissions: .any)
        let request = try OCSPRequestBuilder.build([CertID(issuer: pki.rsaCA, serialNumber: SerialNumber(bytes: [1]))])
        let result = responder.respond(to: request)
        #expect(result.status == .tryLater && result.failure?.contains("chmod 600") == true)
        #expect(try responder.checkSigners().contains { $0.severity == .fatal && $0.message.contains("chmod 600") })
        var configuration = OCSPResponder.Configuration()
        configuration.keyFilePermissions = .any
        #expect(OCSPResponder(store: pki.store, configuration: configuration).respond(to: request).status == .successful)
    }
}
