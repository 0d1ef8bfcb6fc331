import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import OCSPTestSupport
import RevocationStore
import Testing

@Suite struct RevocationStoreTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    @Test(arguments: HashAlgorithm.allCases)
    func certIDsOfEveryHashFindTheirIssuer(algorithm: HashAlgorithm) throws {
        let serial = SerialNumber(bytes: [0x42])
        try pki.store.addCertificate(issuer: IssuerID(certificate: pki.root), serial: serial, notAfter: nil)
        let certID = try CertID(issuer: pki.root, serialNumber: serial, hashAlgorithm: algorithm)
        guard case .known(let issuer, let record) = try pki.store.lookup(certID) else {
            Issue.record("issuer not found for \(algorithm)")
            return
        }
        #expect(issuer == IssuerID(certificate: pki.root))
        #expect(record?.status == .good)

        let absent = try CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [0x43]), hashAlgorithm: algorithm)
        guard case .known(_, nil) = try pki.store.lookup(absent) else {
            Issue.record("an absent serial must be known-issuer, no record")
            return
        }
    }

    @Test func unknownIssuerIsReported() throws {
        let stranger = try TestPKI.ca("Stranger", key: PrivateKey.generateEC())
        let certID = try CertID(issuer: stranger, serialNumber: SerialNumber(bytes: [1]))
        guard case .unknownIssuer = try pki.store.lookup(certID) else {
            Issue.record("expected unknownIssuer")
            return
        }
        #expect(throws: StoreError(.unknownIssuer, "")) { try pki.store.issuer(certificate: stranger) }
        #expect(throws: StoreError(.unknownIssuer, "")) {
            try pki.store.setStatus(issuer: IssuerID(certificate: stranger), serial: SerialNumber(bytes: [1]), .good)
        }
    }

    @Test func revocationPersistsAcrossReopen() throws {
        let id = IssuerID(certificate: pki.rsaCA)
        let serial = try SerialNumber(hex: "00C0FFEE")
        let time = Date(timeIntervalSince1970: 1_767_323_045)
        let invalidity = Date(timeIntervalSince1970: 1_767_000_000)
        let notAfter = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try pki.store.addCertificate(issuer: id, serial: serial, notAfter: notAfter))
        #expect(try !pki.store.addCertificate(issuer: id, serial: serial, notAfter: nil))
        let previous = try pki.store.setStatus(
            issuer: id, serial: serial, .revoked(time: time, reason: .keyCompromise, invalidityDate: invalidity))
        #expect(previous?.status == .good)

        let reopened = try RevocationStore.open(at: pki.directory + "/store")
        let record = try #require(try reopened.certificate(issuer: id, serial: serial))
        #expect(record.status == .revoked(time: time, reason: .keyCompromise, invalidityDate: invalidity))
        #expect(record.notAfter == notAfter)
        #expect(record.certStatus == .revoked(time: time, reason: .keyCompromise))
    }

    @Test func unspecifiedReasonIsAnsweredWithoutAReason() throws {
        let record = CertificateRecord(status: .revoked(time: Date(timeIntervalSince1970: 5), reason: .unspecified, invalidityDate: nil), notAfter: nil)
        #expect(record.certStatus == .revoked(time: Date(timeIntervalSince1970: 5), reason: nil))
    }

    @Test func issuersRoundTripAndRefuseDuplicates() throws {
        let all = try pki.store.allIssuers()
        #expect(all.count == 2)
        let root = try pki.store.issuer(certificate: pki.root)
        #expect(try root.responderCertificate() == pki.responder)
        #expect(root.responseValidity == 3600)
        #expect(throws: StoreError(.issuerExists, "")) { try pki.store.addIssuer(root) }
        try pki.store.addIssuer(root, replace: true)
        #expect(try pki.store.allIssuers().count == 2)
    }

    @Test func findsTheIssuerOfALeaf() throws {
        let leaf = try pki.leaf("x", issuer: pki.rsaCA, key: pki.rsaKey)
        let (record, certificate) = try #require(try pki.store.findIssuer(of: leaf))
        #expect(certificate == pki.rsaCA)
        #expect(record.id == IssuerID(certificate: pki.rsaCA))
    }

    @Test func missingAndExistingStoresAreClearErrors() throws {
        #expect(throws: StoreError(.noStore, "")) { try RevocationStore.open(at: pki.directory + "/nothing") }
        #expect(throws: StoreError(.storeExists, "")) { try RevocationStore.create(at: pki.directory + "/store") }
    }

    @Test func iteratesCertificatesOfOneIssuer() throws {
        let id = IssuerID(certificate: pki.root)
        for byte in [UInt8(3), 1, 2] {
            try pki.store.addCertificate(issuer: id, serial: SerialNumber(bytes: [byte]), notAfter: nil)
        }
        try pki.store.addCertificate(issuer: IssuerID(certificate: pki.rsaCA), serial: SerialNumber(bytes: [9]), notAfter: nil)
        var seen: [String] = []
        try pki.store.forEachCertificate(issuer: id) { serial, _ in seen.append(serial.hex) }
        #expect(seen == ["01", "02", "03"])
    }
}
