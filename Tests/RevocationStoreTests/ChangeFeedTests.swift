import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
import RevocationStore
import Testing

@Suite struct ChangeFeedTests {
    let pki: TestPKI
    let rootID: IssuerID
    init() throws {
        pki = try TestPKI()
        rootID = IssuerID(certificate: pki.root)
    }

    /// The changes after `position`, as (issuer, serial) values, and whether the feed still held them all.
    func changes(after position: UInt64) throws -> (changes: [(IssuerID, SerialNumber?)], position: UInt64, complete: Bool) {
        let reader = RevocationStore.Reader(store: pki.store)
        return try reader.read { snapshot in
            var seen: [(IssuerID, SerialNumber?)] = []
            let (last, complete) = try snapshot.changes(after: position) { change in
                seen.append((IssuerID(bytes: Array(change.issuer)), change.serial.map { SerialNumber(bytes: $0) }))
            }
            return (seen, last, complete)
        }
    }

    func lastChange() throws -> UInt64 {
        try RevocationStore.Reader(store: pki.store).read { try $0.lastChange() }
    }

    @Test func statusChangesNameTheirCertificate() throws {
        let start = try lastChange()
        try pki.store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [1]), notAfter: nil)
        try pki.store.setStatus(
            issuer: rootID, serial: SerialNumber(bytes: [1]), .revoked(time: Date(), reason: nil, invalidityDate: nil))
        let (seen, position, complete) = try changes(after: start)
        #expect(complete)
        #expect(position == start + 2)
        #expect(seen.map(\.0) == [rootID, rootID])
        #expect(seen.map(\.1) == [SerialNumber(bytes: [1]), SerialNumber(bytes: [1])])
        #expect(try changes(after: position).changes.isEmpty)
    }

    @Test func bulkWritesAndIssuerChangesNameTheWholeIssuer() throws {
        let start = try lastChange()
        try pki.store.importRecords(
            issuer: rootID, (1...3).map { (SerialNumber(bytes: [UInt8($0)]), CertificateRecord(status: .good, notAfter: nil)) })
        try pki.store.addIssuer(try #require(try pki.store.issuer(id: rootID)), replace: true)
        let (seen, _, _) = try changes(after: start)
        #expect(seen.count == 2)
        #expect(seen.allSatisfy { $0.0 == rootID && $0.1 == nil })
    }

    @Test func responseFillsAndRefreshesAreNotChanges() throws {
        let serial = SerialNumber(bytes: [4])
        try pki.store.addCertificate(issuer: rootID, serial: serial, notAfter: nil)
        let start = try lastChange()
        let key = ResponseKey(issuer: rootID, algorithm: .sha1, serial: serial)
        let response = CachedResponse(
            der: [0x30, 0x03, 0x0A, 0x01, 0x00], kind: .good, thisUpdate: Date(), nextUpdate: Date() + 60,
            refreshAt: Date() + 30, etag: 7)
        try pki.store.storeResponse(response, for: key, ifRecordIs: try pki.store.certificate(issuer: rootID, serial: serial))
        try pki.store.storeResponses([(key, response, try pki.store.certificate(issuer: rootID, serial: serial))])
        #expect(try lastChange() == start, "the answer did not change: nothing for caches to drop")
    }

    @Test func aReaderTooFarBehindIsToldSo() throws {
        let store = try RevocationStore.create(at: pki.directory + "/small-feed", changeRetention: 16)
        for record in try pki.store.allIssuers() { try store.addIssuer(record) }
        let reader = RevocationStore.Reader(store: store)
        let start = try reader.read { try $0.lastChange() }
        // More changes than the feed keeps: the oldest are pruned.
        for serial in 1...40 { try store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [UInt8(serial)]), notAfter: nil) }
        try reader.read { snapshot in
            #expect(try snapshot.lastChange() == start + 40)
            let behind = try snapshot.changes(after: start) { _ in }
            #expect(!behind.complete, "the first changes after `start` were pruned")
            #expect(behind.position == start + 40)
            var recent = 0
            let caughtUp = try snapshot.changes(after: start + 30) { _ in recent += 1 }
            #expect(caughtUp.complete && recent == 10)
        }
    }

    @Test func cachedResponsesKeepTheirHTTPValues() throws {
        let this = Date(timeIntervalSince1970: 1_796_000_000)
        let response = CachedResponse(
            der: [0x30, 0x03, 0x0A, 0x01, 0x00], kind: .revoked, thisUpdate: this, nextUpdate: this + 3600,
            refreshAt: this + 1800, etag: 0x0123_4567_89AB_CDEF)
        let serial = SerialNumber(bytes: [0x42])
        try pki.store.addCertificate(issuer: rootID, serial: serial, notAfter: nil)
        try pki.store.storeResponses([
            (ResponseKey(issuer: rootID, algorithm: .sha256, serial: serial), response, try pki.store.certificate(issuer: rootID, serial: serial))
        ])
        #expect(try pki.store.cachedResponse(ResponseKey(issuer: rootID, algorithm: .sha256, serial: serial)) == response)

        let hashes = try pki.root.issuerHashes(.sha256)
        let reader = RevocationStore.Reader(store: pki.store)
        try hashes.nameHash.withUnsafeBytes { name in
            try hashes.keyHash.withUnsafeBytes { key in
                try serial.bytes.withUnsafeBytes { serialBytes in
                    try reader.read { snapshot in
                        let issuer = try #require(
                            try snapshot.issuerID(hashAlgorithm: .sha256, issuerNameHash: name, issuerKeyHash: key))
                        #expect(Array(issuer) == rootID.bytes)
                        let view = try #require(
                            try snapshot.cachedResponse(issuer: issuer, hashAlgorithm: .sha256, serial: serialBytes))
                        #expect(Array(view.der) == response.der)
                        #expect(view.kind == .revoked)
                        #expect(view.nextUpdate == 1_796_003_600)
                        #expect(String(cString: view.etagHeader) == "\"0123456789ABCDEF\"")
                        #expect(String(cString: view.lastModified) == Self.foundationHTTPDate(this))
                        #expect(String(cString: view.expires) == Self.foundationHTTPDate(this + 3600))
                        // Another hash algorithm's response was never signed; SHA-256 hashes under
                        // SHA-1 name no issuer.
                        #expect(try snapshot.cachedResponse(issuer: issuer, hashAlgorithm: .sha1, serial: serialBytes) == nil)
                        #expect(try snapshot.issuerID(hashAlgorithm: .sha1, issuerNameHash: name, issuerKeyHash: key) == nil)
                    }
                }
            }
        }
    }

    /// RFC 9110's IMF-fixdate, formatted by Foundation, to check the store's own formatter.
    static func foundationHTTPDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
