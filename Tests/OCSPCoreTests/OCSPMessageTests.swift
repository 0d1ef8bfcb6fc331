import Foundation
import OCSPCore
import OCSPValues
import OCSPTestSupport
import Testing

@Suite struct OCSPMessageTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    @Test(arguments: HashAlgorithm.allCases)
    func requestRoundTripsCertIDs(algorithm: HashAlgorithm) throws {
        let leaf = try pki.leaf("a", issuer: pki.root, key: pki.rootKey)
        let certID = try CertID(issuer: pki.root, serialNumber: leaf.serialNumber, hashAlgorithm: algorithm)
        let request = try OCSPRequest(derEncoded: OCSPRequestBuilder.build([certID], nonce: true))
        #expect(request.certIDs == [certID])
        #expect(request.hasNonce)
        let hashes = try pki.root.issuerHashes(algorithm)
        #expect(certID.issuerNameHash == hashes.nameHash && certID.issuerKeyHash == hashes.keyHash)
    }

    @Test func malformedRequestsAreRejected() throws {
        let good = try OCSPRequestBuilder.build([CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [5]))])
        for bad in [[], Array(good.dropLast()), good + [0], [0x30, 0x03, 0x02, 0x01, 0x01], Array(repeating: 0xFF, count: 64)] {
            #expect(throws: OCSPError(.malformedRequest, "")) { try OCSPRequest(derEncoded: bad) }
        }
    }

    @Test func signedResponseVerifiesAndCarriesStatuses() throws {
        let ids = try (1...3).map { try CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [UInt8($0)])) }
        let requestDER = try OCSPRequestBuilder.build(ids, nonce: true)
        let request = try OCSPRequest(derEncoded: requestDER)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let revokedAt = Date(timeIntervalSince1970: 1_700_000_000)
        let statuses: [CertStatus] = [.good, .revoked(time: revokedAt, reason: .keyCompromise), .unknown]
        let signer = try OCSPResponseSigner(certificate: pki.responder, key: pki.responderKey)
        let der = try signer.sign(
            zip(ids, statuses).map { SingleResponse(certID: $0, status: $1, thisUpdate: now, nextUpdate: now + 60) },
            nonceFrom: request)

        let response = try OCSPResponse(derEncoded: der)
        #expect(response.status == .successful)
        try response.verify(issuer: pki.root)
        #expect(response.echoesNonce(of: requestDER))
        #expect(response.responses.map(\.status) == statuses)
        #expect(response.responses.map(\.certID) == ids)
        #expect(response.responses.allSatisfy { $0.thisUpdate == now && $0.nextUpdate == now + 60 })
        #expect(response.certificates == [pki.responder])
        // A response signed for the root does not verify as the RSA CA's.
        #expect(throws: OCSPError(.signFailed, "")) { try response.verify(issuer: pki.rsaCA) }
    }

    @Test func signerRefusesAForeignKey() {
        #expect(throws: OCSPError(.keyMismatch, "")) {
            try OCSPResponseSigner(certificate: pki.root, key: pki.rsaKey)
        }
    }

    @Test func errorResponsesAreUnsigned() throws {
        for status in [OCSPResponseStatus.malformedRequest, .internalError, .tryLater, .unauthorized] {
            let response = try OCSPResponse(derEncoded: status.unsignedResponse)
            #expect(response.status == status)
            #expect(response.responses.isEmpty)
        }
    }

    @Test func reasonNamesAreRFC5280s() {
        #expect(RevocationReason(name: "keyCompromise") == .keyCompromise)
        #expect(RevocationReason(name: "KEYCOMPROMISE") == .keyCompromise)
        #expect(RevocationReason(name: "aACompromise")?.rawValue == 10)
        #expect(RevocationReason(name: "bogus") == nil)
        #expect(!RevocationReason.operatorNames.contains("removeFromCRL"))
    }
}
