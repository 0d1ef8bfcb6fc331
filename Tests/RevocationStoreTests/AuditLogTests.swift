import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
@testable import RevocationStore
import Testing

@Suite struct AuditLogTests {
    let pki: TestPKI
    let rootID: IssuerID
    init() throws {
        pki = try TestPKI()
        rootID = IssuerID(certificate: pki.root)
    }

    func records(_ store: RevocationStore) throws -> [AuditRecord] {
        try store.auditEntries(after: 0, limit: .max).map { try AuditRecord(encoded: $0.encoded) }
    }

    @Test func everyChangeAppendsOneChainedRecordInItsTransaction() throws {
        let store = pki.store
        let start = try store.auditHead().sequence
        let serial = SerialNumber(bytes: [7])
        try store.addCertificate(issuer: rootID, serial: serial, notAfter: nil)
        try store.setStatus(issuer: rootID, serial: serial, .revoked(time: Date(), reason: .certificateHold, invalidityDate: nil))
        try store.setStatus(issuer: rootID, serial: serial, .good)
        _ = try store.reserveCRLNumbers(issuer: rootID, count: 2)
        let all = try records(store)
        #expect(all.map(\.sequence) == Array(1...UInt64(all.count)), "dense from 1")
        #expect(all.first?.previous == AuditRecord.genesis)
        for (previous, record) in zip(all, all.dropFirst()) {
            #expect(record.previous == AuditRecord.hash(previous.encoded), "record \(record.sequence) is chained")
        }
        let added = all.dropFirst(Int(start))
        #expect(added.map(\.action) == [.certAdd, .certHold, .certUnhold, .crlNumber])
        #expect(added.map { $0.after?.status } == ["good", "hold", "good", nil])
        #expect(added.last?.detail == ["number": "2", "count": "2"])
        #expect(added.allSatisfy { $0.actor == store.actor.name && $0.host == store.actor.host })
        #expect(try store.verifyAudit().firstBad == nil)
        #expect(try store.auditHead() == AuditHead(sequence: UInt64(all.count), hash: AuditRecord.hash(all.last!.encoded)))
    }

    @Test func theEncodingRoundTripsAndEscapes() throws {
        var record = AuditRecord(
            time: Date(timeIntervalSince1970: 1_767_323_045), actor: "o\"pera\\tor\n", host: "h\u{1}", action: .certRevoke,
            issuer: rootID.description, serial: "0A", forced: true,
            before: AuditRecord.State(CertificateRecord(status: .good, notAfter: Date(timeIntervalSince1970: 1_800_000_000))),
            after: AuditRecord.State(
                CertificateRecord(
                    status: .revoked(
                        time: Date(timeIntervalSince1970: 1_767_323_045), reason: .keyCompromise,
                        invalidityDate: Date(timeIntervalSince1970: 1_767_000_000)), notAfter: nil)),
            issuerRecord: [1, 2, 3], detail: ["subject": "CN=Ü"])
        record.sequence = 42
        let decoded = try AuditRecord(encoded: record.encoded)
        #expect(decoded == record)
        let json = try JSONSerialization.jsonObject(with: Data(record.encoded)) as? [String: Any]
        #expect(json?["time"] as? String == "2026-01-02T03:04:05Z")
        #expect(json?["actor"] as? String == "o\"pera\\tor\n")
        #expect(String(decoding: record.encoded, as: UTF8.self).hasPrefix("{\"v\":1,\"seq\":42,"))
    }

    @Test func anAlteredRecordIsNamedByTheOneAfterIt() throws {
        let store = pki.store
        for byte in UInt8(1)...5 { try store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [byte]), notAfter: nil) }
        let total = try store.auditHead().sequence
        let original = try records(store)[2]
        var third = original
        third.actor = "mallory"
        let key = withUnsafeBytes(of: UInt64(3).bigEndian) { Array($0) }
        try store.environment.write { txn in try txn.put(store.audit, key, third.encoded) }
        let result = try store.verifyAudit()
        #expect(result.firstBad?.sequence == 4)
        #expect(result.records == 3)
        // Put back, and the last record deleted instead: the head still names it.
        try store.environment.write { txn in
            try txn.put(store.audit, key, original.encoded)
            _ = try txn.delete(store.audit, withUnsafeBytes(of: total.bigEndian) { Array($0) })
        }
        #expect(try store.verifyAudit().firstBad?.sequence == total)
    }

    @Test func replayReproducesEveryStatusAndTheHead() throws {
        let store = pki.store
        let serials = (1...300).map { SerialNumber(bytes: [UInt8($0 >> 8), UInt8($0 & 0xFF)]) }
        try store.addCertificates(issuer: rootID, serials.map { ($0, nil) })
        try store.revoke(issuer: rootID, serials: Array(serials[0..<40]), time: Date(), reason: .keyCompromise)
        try store.setStatus(issuer: rootID, serial: serials[50], .revoked(time: Date(), reason: .certificateHold, invalidityDate: nil))
        try store.setStatus(
            issuer: rootID, serial: serials[0], .revoked(time: Date(), reason: .superseded, invalidityDate: nil), force: true)
        _ = try store.reserveCRLNumbers(issuer: rootID)

        let copy = try RevocationStore.create(at: pki.directory + "/copy")
        let entries = try store.auditEntries(after: 0, limit: .max).map(\.encoded)
        // In two parts: a follower applies what it has not seen yet.
        try copy.apply(Array(entries.prefix(100)))
        let head = try copy.apply(Array(entries.dropFirst(100)))
        #expect(head == (try store.auditHead()))
        for serial in serials {
            #expect(try copy.certificate(issuer: rootID, serial: serial) == (try store.certificate(issuer: rootID, serial: serial)))
        }
        #expect(try copy.reserveCRLNumbers(issuer: rootID) == 2, "the CRL counter was replayed")
        #expect(try copy.issuer(id: rootID)?.subject == (try store.issuer(id: rootID)?.subject))
        // Out of order, or altered: refused, nothing applied.
        #expect(throws: StoreError.self) { try copy.apply([entries[5]]) }
    }

    @Test func revocationIsPermanentUnlessForced() throws {
        let store = pki.store
        let serial = SerialNumber(bytes: [9])
        try store.setStatus(issuer: rootID, serial: serial, .revoked(time: Date(), reason: .keyCompromise, invalidityDate: nil))
        let head = try store.auditHead()
        #expect(throws: StoreError(.refused, "")) {
            try store.setStatus(issuer: rootID, serial: serial, .revoked(time: Date(), reason: .superseded, invalidityDate: nil))
        }
        #expect(throws: StoreError(.refused, "")) { try store.setStatus(issuer: rootID, serial: serial, .good) }
        #expect(throws: StoreError(.refused, "")) {
            try store.setStatus(issuer: rootID, serial: serial, .revoked(time: Date(), reason: .certificateHold, invalidityDate: nil))
        }
        #expect(throws: StoreError(.notFound, "")) { try store.setStatus(issuer: rootID, serial: SerialNumber(bytes: [10]), .good) }
        #expect(try store.auditHead() == head, "a refusal writes nothing")
        try store.setStatus(issuer: rootID, serial: serial, .good, force: true)
        let last = try #require(try records(store).last)
        #expect(last.forced && last.action == .certUnhold && last.before?.reason == "keyCompromise")
    }

    @Test func aReimportWritesNothing() throws {
        let store = pki.store
        let items = (1...20).map { n in
            (SerialNumber(bytes: [UInt8(n)]),
             CertificateRecord(status: n % 4 == 0 ? .revoked(time: Date(timeIntervalSince1970: 1_700_000_000), reason: .keyCompromise, invalidityDate: nil) : .good,
                               notAfter: Date(timeIntervalSince1970: 1_900_000_000)))
        }
        let first = try store.importRecords(issuer: rootID, items)
        #expect(first.added == 20 && first.changed == 0)
        let head = try store.auditHead()
        let counter = store.changeCounter
        let again = try store.importRecords(issuer: rootID, items)
        #expect(again.unchanged == 20 && again.added == 0 && again.changed == 0)
        #expect(try store.auditHead() == head)
        #expect(store.changeCounter == counter, "no write transaction at all")
    }
}
