import CRLService
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import OCSPTestSupport
import RevocationStore
import Testing

@Suite struct CRLGeneratorTests {
    let pki: TestPKI
    let generator: CRLGenerator
    let rootID: IssuerID

    init() throws {
        pki = try TestPKI()
        generator = CRLGenerator(store: pki.store)
        rootID = IssuerID(certificate: pki.root)
    }

    func revoke(_ serial: UInt8, _ reason: RevocationReason?, notAfter: Date? = nil, at now: Date = Date()) throws {
        try pki.store.setStatus(
            issuer: rootID, serial: SerialNumber(bytes: [serial]),
            .revoked(time: Date(timeIntervalSince1970: 1_767_323_045), reason: reason, invalidityDate: nil),
            notAfter: notAfter, now: now)
    }

    @Test func crlNumbersAreMonotonicAndSharedByFullAndDelta() throws {
        let issuer = try pki.store.issuer(certificate: pki.root)
        let first = try generator.generateFull(issuer, policy: CRLPolicy())
        let delta = try generator.generateDelta(issuer, policy: CRLPolicy())
        let second = try generator.generateFull(issuer, policy: CRLPolicy())
        #expect(first.map(\.crl.number) == [1])
        #expect(delta.crl.number == 2)
        #expect(second.map(\.crl.number) == [3])
        #expect(try pki.store.reserveCRLNumbers(issuer: rootID, count: 5) == 4)
        #expect(try generator.generateFull(issuer, policy: CRLPolicy()).first?.crl.number == 9)
    }

    @Test func fullCRLListsRevokedAndHeldButNotGoodOrLongExpired() throws {
        try revoke(1, .keyCompromise)
        try revoke(2, .certificateHold)
        try revoke(3, nil, notAfter: Date(timeIntervalSinceNow: -86400 * 10))  // expired ten days ago
        try pki.store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [4]), notAfter: nil)
        let issuer = try pki.store.issuer(certificate: pki.root)
        var policy = CRLPolicy()
        #expect(try generator.generateFull(issuer, policy: policy).first?.entries == 2)
        policy.retention = 86400 * 30
        let kept = try #require(try generator.generateFull(issuer, policy: policy).first)
        #expect(kept.entries == 3)
        #expect(try pki.store.storedCRL(slug: rootID.slug, scope: .full)?.der == kept.crl.der)
    }

    @Test func deltaListsChangesSinceTheBaseIncludingReleasedHolds() throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        try revoke(1, .keyCompromise, at: t0)
        try revoke(2, .certificateHold, at: t0)
        let issuer = try pki.store.issuer(certificate: pki.root)
        #expect(try generator.generateFull(issuer, policy: CRLPolicy(), now: t0 + 5).first?.entries == 2)
        #expect(try generator.generateDelta(issuer, policy: CRLPolicy(), now: t0 + 6).entries == 0)

        try pki.store.setStatus(issuer: rootID, serial: SerialNumber(bytes: [2]), .good, now: t0 + 10)  // unhold
        try revoke(5, .superseded, at: t0 + 10)
        let delta = try generator.generateDelta(issuer, policy: CRLPolicy(), now: t0 + 20)
        #expect(delta.entries == 2)  // 5 revoked, 2 removeFromCRL
        let record = try #require(try pki.store.certificate(issuer: rootID, serial: SerialNumber(bytes: [2])))
        #expect(record.releasedFromHoldAt == t0 + 10 && record.status == .good)
    }

    @Test func shardsAreStableAndCoverEveryRevocation() throws {
        for serial in 1...40 { try revoke(UInt8(serial), .superseded) }
        var policy = CRLPolicy()
        policy.shards = 4
        let issuer = try pki.store.issuer(certificate: pki.root)
        // Without a public base URL a shard could not say which part of the population it covers.
        #expect(throws: CRLError(.configuration, "")) { try generator.generateFull(issuer, policy: policy) }
        policy.baseURL = "http://crl.example.test/"
        let shards = try generator.generateFull(issuer, policy: policy)
        #expect(shards.count == 4)
        #expect(shards.map(\.entries).reduce(0, +) == 40)
        #expect(shards.allSatisfy { $0.entries > 0 })
        let index = CRLGenerator.shard(of: SerialNumber(bytes: [7]), count: 4)
        #expect(index == CRLGenerator.shard(of: SerialNumber(bytes: [0, 7]), count: 4))
        #expect(try pki.store.storedCRL(slug: rootID.slug, scope: .shard(3)) != nil)
        #expect(throws: CRLError(.noBaseCRL, "")) { try generator.generateDelta(issuer, policy: policy) }
    }

    @Test func anIssuerWithoutACAKeyIsRefusedWithoutConsumingANumber() throws {
        var issuer = try pki.store.issuer(certificate: pki.root)
        issuer.caKeyPath = nil
        #expect(throws: CRLError(.noCAKey, "")) { try generator.generateFull(issuer, policy: CRLPolicy()) }
        issuer.caKeyPath = pki.directory + "/responder.key"  // someone else's key
        #expect(throws: CRLError(.noCAKey, "")) { try generator.generateFull(issuer, policy: CRLPolicy()) }
        #expect(try pki.store.reserveCRLNumbers(issuer: rootID) == 1)
    }

    @Test func pathsRoundTrip() {
        #expect(CRLPaths.parse("/crl/0a1b2c3d4e5f6a7b.crl")?.scope == .full)
        #expect(CRLPaths.parse("/crl/0a1b2c3d4e5f6a7b-delta.crl")?.scope == .delta)
        #expect(CRLPaths.parse("/crl/0a1b2c3d4e5f6a7b/12.crl")?.scope == .shard(12))
        for bad in ["/crl/.crl", "/crl/xyz.crl", "/crl/ab/-1.crl", "/crl/ab/1/2.crl", "/crl/ab", "/other/ab.crl"] {
            #expect(CRLPaths.parse(bad) == nil, "\(bad)")
        }
    }
}
