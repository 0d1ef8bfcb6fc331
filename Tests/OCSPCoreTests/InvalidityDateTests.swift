import Foundation
import OCSPCore
import OCSPValues
import OCSPTestSupport
import Testing

/// A revoked SingleResponse with an invalidity date carries it as the non-critical invalidityDate
/// singleExtension (RFC 5280 §5.3.2, RFC 6960 §4.4.5), on every signing path: a template (reused
/// with other dates), the full build (several CertIDs), with and without a nonce. Read back
/// through OpenSSL (``OCSPResponse`` decodes it with OCSP_SINGLERESP_get1_ext_d2i).
@Suite struct InvalidityDateTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    static let invalidityDateOID = "2.5.29.24"
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let revokedAt = Date(timeIntervalSince1970: 1_767_323_045)

    func certID(_ serial: UInt8, _ algorithm: HashAlgorithm = .sha1) throws -> CertID {
        try CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [serial, 0x11]), hashAlgorithm: algorithm)
    }

    func expectInvalidityDate(_ single: OCSPResponse.Single, _ date: Date?) {
        #expect(single.invalidityDate == date)
        if date == nil {
            #expect(single.extensions.isEmpty)
        } else {
            #expect(single.extensions == [OCSPResponse.Extension(oid: Self.invalidityDateOID, isCritical: false)])
        }
    }

    @Test func templatePathCarriesEachResponsesOwnDate() throws {
        let signer = try OCSPResponseSigner(certificate: pki.responder, key: pki.responderKey)
        // The same template shape is reused with new dates; shapes without a date come in between.
        for i in 0..<8 {
            let id = try certID(UInt8(i + 1), HashAlgorithm.allCases[i % HashAlgorithm.allCases.count])
            let invalidity: Date? = i % 3 == 2 ? nil : Date(timeIntervalSince1970: 1_767_000_000 + Double(i) * 3_601)
            let status = CertStatus.revoked(time: revokedAt + Double(i), reason: .keyCompromise)
            let requestDER = try OCSPRequestBuilder.build([id], nonce: i % 2 == 1)
            let request = try OCSPRequest(derEncoded: requestDER)
            let der = try signer.sign(
                [
                    SingleResponse(
                        certID: id, status: status, thisUpdate: now, nextUpdate: now + 60, invalidityDate: invalidity)
                ],
                nonceFrom: request)
            let response = try OCSPResponse(derEncoded: der)
            try response.verify(issuer: pki.root)
            #expect(response.echoesNonce(of: requestDER) == (i % 2 == 1))
            let single = try #require(response.responses.first)
            #expect(single.certID == id)
            #expect(single.status == status)
            expectInvalidityDate(single, invalidity)
        }
    }

    @Test func fullPathCarriesItPerSingleResponse() throws {
        let signer = try OCSPResponseSigner(certificate: pki.rsaCA, key: pki.rsaKey, includesCertificate: false)
        let ids = try (1...4).map { try CertID(issuer: pki.rsaCA, serialNumber: SerialNumber(bytes: [UInt8($0)])) }
        let requestDER = try OCSPRequestBuilder.build(ids, nonce: true)
        let request = try OCSPRequest(derEncoded: requestDER)
        let invalidity = Date(timeIntervalSince1970: 1_767_000_000)
        let singles = [
            SingleResponse(
                certID: ids[0], status: .revoked(time: revokedAt, reason: .keyCompromise), thisUpdate: now,
                nextUpdate: now + 60, invalidityDate: invalidity),
            SingleResponse(
                certID: ids[1], status: .revoked(time: revokedAt, reason: nil), thisUpdate: now, nextUpdate: now + 60),
            // Only a revoked status carries it.
            SingleResponse(
                certID: ids[2], status: .good, thisUpdate: now, nextUpdate: now + 60, invalidityDate: invalidity),
            SingleResponse(
                certID: ids[3], status: .revoked(time: revokedAt, reason: .cACompromise), thisUpdate: now,
                nextUpdate: nil, invalidityDate: invalidity - 86_400),
        ]
        let response = try OCSPResponse(derEncoded: signer.sign(singles, nonceFrom: request))
        try response.verify(issuer: pki.rsaCA)
        #expect(response.echoesNonce(of: requestDER))
        #expect(response.responses.map(\.certID) == ids)
        #expect(response.responses.map(\.status) == singles.map(\.status))
        for (single, expected) in zip(response.responses, [invalidity, nil, nil, invalidity - 86_400]) {
            expectInvalidityDate(single, expected)
        }
    }

    @Test func dateIsKeptToTheSecond() throws {
        let signer = try OCSPResponseSigner(certificate: pki.responder, key: pki.responderKey)
        let id = try certID(0x42)
        let der = try signer.sign([
            SingleResponse(
                certID: id, status: .revoked(time: revokedAt, reason: .keyCompromise), thisUpdate: now,
                nextUpdate: now + 60, invalidityDate: Date(timeIntervalSince1970: 1_767_323_045.75))
        ])
        let single = try #require(try OCSPResponse(derEncoded: der).responses.first)
        // GeneralizedTime without fractional seconds (RFC 5280 §4.1.2.5.2).
        expectInvalidityDate(single, Date(timeIntervalSince1970: 1_767_323_045))
    }
}
