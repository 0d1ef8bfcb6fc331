import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
import RevocationStore
import Testing

@Suite struct StatisticsTests {
    let pki: TestPKI
    let rootID: IssuerID
    let rsaID: IssuerID
    init() throws {
        pki = try TestPKI()
        rootID = IssuerID(certificate: pki.root)
        rsaID = IssuerID(certificate: pki.rsaCA)
    }

    func serial(_ n: Int) -> SerialNumber { SerialNumber(bytes: [UInt8(n >> 8), UInt8(n & 0xFF)]) }

    func response(this: Date, validity: TimeInterval) -> CachedResponse {
        CachedResponse(
            der: [0x30, 0x03, 0x0A, 0x01, 0x00], kind: .good, thisUpdate: this, nextUpdate: this + validity,
            refreshAt: this + validity / 2, etag: 1)
    }

    func revoke(_ issuer: IssuerID, _ n: Int, _ reason: RevocationReason?) throws {
        let status = CertificateRecord.Status.revoked(
            time: Date(timeIntervalSince1970: 1_767_323_045), reason: reason, invalidityDate: nil)
        try pki.store.setStatus(issuer: issuer, serial: serial(n), status)
    }

    @Test func countsSeparateRevokedFromHeld() throws {
        for n in 1...6 { try pki.store.addCertificate(issuer: rootID, serial: serial(n), notAfter: nil) }
        try pki.store.addCertificate(issuer: rsaID, serial: serial(1), notAfter: nil)
        try revoke(rootID, 1, .keyCompromise)
        try revoke(rootID, 2, nil)
        try revoke(rootID, 3, .unspecified)
        try revoke(rootID, 4, .certificateHold)
        try revoke(rootID, 5, .certificateHold)
        try pki.store.setStatus(issuer: rootID, serial: serial(5), .good)  // released from hold

        #expect(try pki.store.certificateCounts(issuer: rootID) == .init(good: 2, revoked: 3, hold: 1))
        #expect(try pki.store.certificateCounts(issuer: rootID).total == 6)
        #expect(try pki.store.certificateCounts(issuer: rsaID) == .init(good: 1))
        let stranger = IssuerID(bytes: [UInt8](repeating: 0xEE, count: IssuerID.byteCount))
        #expect(try pki.store.certificateCounts(issuer: stranger) == .init())
    }

    /// The count from status bytes agrees with decoding every record, page by page, after a bulk import.
    @Test func countsAgreeWithTheDecodedRecords() throws {
        let reasons: [RevocationReason?] = [nil, .keyCompromise, .certificateHold, .superseded, .unspecified]
        let revoked = Date(timeIntervalSince1970: 1_700_000_000)
        let items = (1...2_500).map { n -> (SerialNumber, CertificateRecord) in
            let status: CertificateRecord.Status =
                n % 3 == 0 ? .revoked(time: revoked, reason: reasons[n % 5], invalidityDate: nil) : .good
            return (serial(n), CertificateRecord(status: status, notAfter: Date(timeIntervalSince1970: 1_900_000_000)))
        }
        try pki.store.importRecords(issuer: rootID, items)

        var expected = RevocationStore.CertificateCounts()
        var cursor: [UInt8]? = nil
        repeat {
            let page = try pki.store.certificatesPage(issuer: rootID, after: cursor, limit: 1000)
            for (_, _, record) in page.items {
                switch record.status {
                case .good: expected.good += 1
                case .revoked: if record.isOnHold { expected.hold += 1 } else { expected.revoked += 1 }
                }
            }
            cursor = page.next
        } while cursor != nil
        #expect(expected.total == 2_500)
        #expect(expected.hold == 166, "n ≡ 12 (mod 15): a third revoked, one reason in five a hold")
        #expect(try pki.store.certificateCounts(issuer: rootID) == expected)
    }

    @Test func responseStatisticsSpanTheCachedResponsesOfOneIssuer() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let times: [(offset: TimeInterval, validity: TimeInterval)] = [
            (-7200, 3600), (-600, 3600), (-60, 60), (0, 86400),
        ]
        for (n, time) in times.enumerated() {
            try pki.store.addCertificate(issuer: rootID, serial: serial(n), notAfter: nil)
            let key = ResponseKey(issuer: rootID, algorithm: n == 3 ? .sha256 : .sha1, serial: serial(n))
            let stored = try pki.store.storeResponse(
                response(this: now + time.offset, validity: time.validity), for: key,
                ifRecordIs: try pki.store.certificate(issuer: rootID, serial: serial(n)))
            #expect(stored)
        }
        let statistics = try pki.store.responseStatistics(issuer: rootID, now: now)
        #expect(statistics.count == 4)
        #expect(statistics.oldestThisUpdate == now - 7200)
        #expect(statistics.newestThisUpdate == now)
        #expect(statistics.earliestNextUpdate == now - 3600)
        #expect(statistics.latestNextUpdate == now + 86400)
        // nextUpdate at or before now: the first (now - 3600) and the third (exactly now).
        #expect(statistics.expired == 2)

        let none = try pki.store.responseStatistics(issuer: rsaID, now: now)
        #expect(none == RevocationStore.ResponseStatistics())
        #expect(none.oldestThisUpdate == nil && none.latestNextUpdate == nil)
    }

    @Test func crlStatisticsReportReservedAndStoredNumbers() throws {
        #expect(try pki.store.crlStatistics(issuer: rootID) == RevocationStore.CRLStatistics())
        #expect(try pki.store.reserveCRLNumbers(issuer: rootID, count: 5) == 1)
        let this = Date(timeIntervalSince1970: 1_800_000_000)
        func crl(_ number: UInt64) -> StoredCRL {
            StoredCRL(der: [0x30, 0x00], number: number, thisUpdate: this, nextUpdate: this + 86400, etag: number)
        }
        try pki.store.storeCRLs(
            issuer: rootID, [(.full, crl(3)), (.delta, crl(4)), (.shard(0), crl(1)), (.shard(1), crl(2))])

        let statistics = try pki.store.crlStatistics(issuer: rootID)
        #expect(statistics.lastReservedNumber == 5)
        #expect(statistics.full?.number == 3)
        #expect(statistics.full?.thisUpdate == this)
        #expect(statistics.full?.nextUpdate == this + 86400)
        #expect(statistics.delta?.number == 4)
        #expect(statistics.shards == 2)
        #expect(statistics.latestShardNumber == 2)
        #expect(try pki.store.crlStatistics(issuer: rsaID) == RevocationStore.CRLStatistics(), "the root's CRLs only")
    }

    @Test func storeStatisticsAddUp() throws {
        let now = Date()
        for n in 1...3 { try pki.store.addCertificate(issuer: rootID, serial: serial(n), notAfter: nil) }
        for n in 1...2 { try pki.store.addCertificate(issuer: rsaID, serial: serial(n), notAfter: nil) }
        try revoke(rsaID, 2, .certificateHold)
        let key = ResponseKey(issuer: rsaID, algorithm: .sha1, serial: serial(1))
        try pki.store.storeResponse(
            response(this: now, validity: 3600), for: key,
            ifRecordIs: try pki.store.certificate(issuer: rsaID, serial: serial(1)))

        let statistics = try pki.store.statistics(now: now)
        let ids = [rootID, rsaID].sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        #expect(statistics.issuers.map(\.issuer.id) == ids)
        #expect(statistics.certificates == 5)
        #expect(statistics.issuers.map(\.certificates.total).reduce(0, +) == statistics.certificates)
        #expect(statistics.responses == 1)
        #expect(statistics.issuers.map(\.responses.count).reduce(0, +) == statistics.responses)
        let rsa = try #require(statistics.issuers.first { $0.issuer.id == rsaID })
        #expect(rsa.certificates == .init(good: 1, hold: 1))
        #expect(rsa.issuer.subject == pki.rsaCA.subject)
        #expect(rsa.responses.expired == 0)
        #expect(statistics.fileBytes > 0 && statistics.usedBytes > 0 && statistics.usedBytes <= statistics.fileBytes)
        #expect(statistics.mapSize == RevocationStore.defaultMapSize)
        #expect(statistics.snapshot == pki.store.changeCounter)

        // Every write appends one audit entry or more: the sequence moves.
        let before = try #require(statistics.lastAuditSequence)
        try pki.store.addCertificate(issuer: rootID, serial: serial(9), notAfter: nil)
        #expect(try #require(try pki.store.statistics().lastAuditSequence) > before)
    }
}
