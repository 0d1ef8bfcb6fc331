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
        // The client has the issuer already: a CA-signed response leaves its certificate out.
        #expect(response.certificates.isEmpty)
        #expect(response.responses.first?.status == .good)
        #expect(response.responses.first.flatMap { $0.nextUpdate?.timeIntervalSince($0.thisUpdate) } == 7200)
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

    @Test func missingSigningKeyIsAnInternalError() throws {
        try FileManager.default.removeItem(atPath: pki.directory + "/rsa.key")
        let request = try OCSPRequestBuilder.build([CertID(issuer: pki.rsaCA, serialNumber: SerialNumber(bytes: [1]))])
        let result = responder.respond(to: request)
        #expect(result.status == .internalError)
        #expect(result.failure?.contains("rsa.key") == true)
    }
}
