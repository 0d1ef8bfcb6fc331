import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
import Responder
import RevocationStore
import Testing

/// ``OCSPResponder/Reader``: simple requests answered from the signature cache, and the change
/// feed an in-process cache follows.
@Suite struct FastPathTests {
    let pki: TestPKI
    let responder: OCSPResponder
    let rootID: IssuerID

    init() throws {
        pki = try TestPKI()
        responder = OCSPResponder(store: pki.store)
        rootID = IssuerID(certificate: pki.root)
    }

    func request(_ serial: UInt8, nonce: Bool = false, issuer: Certificate? = nil) throws -> [UInt8] {
        try OCSPRequestBuilder.build([CertID(issuer: issuer ?? pki.root, serialNumber: SerialNumber(bytes: [serial]))], nonce: nonce)
    }

    func addSigned(_ serial: UInt8) throws {
        try pki.store.addCertificate(
            issuer: rootID, serial: SerialNumber(bytes: [serial]), notAfter: nil, sign: responder.signing(for: rootID).0)
    }

    /// The fast path's answer (DER, ETag, identities), or nil when it sends the request down the full path.
    func fast(_ reader: OCSPResponder.Reader, _ der: [UInt8], now: Date = Date()) throws -> ([UInt8], String, UInt64)? {
        try der.withUnsafeBytes { raw in
            try reader.withCachedAnswer(toRequest: raw, now: Int64(now.timeIntervalSince1970)) { answer in
                (Array(answer.response.der), String(cString: answer.response.etagHeader), answer.certificateIdentity)
            }
        }
    }

    @Test func answersWhatTheFullPathAnswers() throws {
        try addSigned(1)
        let reader = try OCSPResponder.Reader(responder: responder)
        let der = try request(1)
        let (body, etag, _) = try #require(try fast(reader, der))
        let full = responder.respond(to: der)
        #expect(body == full.body)
        #expect(etag == full.etag)
        #expect(responder.signatureCount == 1, "served from the cache, not signed again")
        try OCSPResponse(derEncoded: body).verify(issuer: pki.root)
    }

    @Test func leavesEverythingElseToTheFullPath() throws {
        try addSigned(2)
        try pki.store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [3]), notAfter: nil)  // never signed
        let reader = try OCSPResponder.Reader(responder: responder)
        let stranger = try TestPKI.ca("Stranger", key: PrivateKey.generateEC())
        #expect(try fast(reader, try request(2)) != nil)
        #expect(try fast(reader, try request(2, nonce: true)) == nil, "a nonce needs a live signature")
        #expect(try fast(reader, try request(3)) == nil, "nothing cached yet")
        #expect(try fast(reader, try request(4)) == nil, "not in the store")
        #expect(try fast(reader, try request(2, issuer: stranger)) == nil, "an issuer this responder does not serve")
        #expect(try fast(reader, try request(2), now: Date() + 2 * 3600) == nil, "past its nextUpdate")
        let cached = try #require(
            try pki.store.cachedResponse(ResponseKey(issuer: rootID, algorithm: .sha1, serial: SerialNumber(bytes: [2]))))
        #expect(try fast(reader, try request(2), now: cached.nextUpdate - 3) != nil)
        #expect(try fast(reader, try request(2), now: cached.nextUpdate - 1) == nil, "within its serving margin")
        #expect(try fast(reader, [0x30, 0x00]) == nil)

        // Signed under another validity than this responder now uses: the full path re-signs it.
        var configuration = OCSPResponder.Configuration()
        configuration.validityOverride = 600
        let shorter = try OCSPResponder.Reader(responder: OCSPResponder(store: pki.store, configuration: configuration))
        #expect(try fast(shorter, try request(2)) == nil)
    }

    @Test func theChangeFeedNamesTheRevokedCertificate() throws {
        try addSigned(5)
        try addSigned(6)
        let reader = try OCSPResponder.Reader(responder: responder)
        let identity5 = try #require(try fast(reader, try request(5))).2
        let identity6 = try #require(try fast(reader, try request(6))).2
        #expect(identity5 != identity6)

        var dropped: [UInt64?] = []
        var cleared = false
        try reader.synchronize(drop: { _, certificate in dropped.append(certificate) }, dropAll: { cleared = true })
        #expect(dropped.isEmpty && !cleared, "nothing changed since the reader started")

        try pki.store.setStatus(
            issuer: rootID, serial: SerialNumber(bytes: [5]), .revoked(time: Date(), reason: .keyCompromise, invalidityDate: nil),
            sign: responder.signing(for: rootID).0)
        try reader.synchronize(drop: { _, certificate in dropped.append(certificate) }, dropAll: { cleared = true })
        #expect(dropped == [identity5] && !cleared)
        let (body, _, _) = try #require(try fast(reader, try request(5)))
        #expect(try OCSPResponse(derEncoded: body).responses.first?.status.name == "revoked")
    }
}
