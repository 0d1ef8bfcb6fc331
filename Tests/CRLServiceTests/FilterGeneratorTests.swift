import CRLService
import Foundation
import Logging
import OCSPAdmin
import OCSPCore
import OCSPValues
import OCSPTestSupport
import RevocationStore
import Testing

@Suite struct FilterGeneratorTests {
    let pki: TestPKI
    let rootID: IssuerID

    init() throws {
        pki = try TestPKI()
        rootID = IssuerID(certificate: pki.root)
    }

    /// Leaves of the root recorded in the store as good.
    func recordedLeaves(_ count: Int) throws -> [Certificate] {
        let leaves = try (0..<count).map { try pki.leaf("leaf \($0)", issuer: pki.root, key: pki.rootKey) }
        for leaf in leaves { _ = try pki.store.addCertificate(issuer: rootID, serial: leaf.serialNumber, notAfter: leaf.notAfter) }
        return leaves
    }

    func revoke(_ leaf: Certificate, reason: RevocationReason = .keyCompromise) throws {
        try pki.store.setStatus(
            issuer: rootID, serial: leaf.serialNumber, .revoked(time: Date(), reason: reason, invalidityDate: nil),
            notAfter: leaf.notAfter)
    }

    func published(slug: String) throws -> RevocationFilter {
        let stored = try #require(try pki.store.storedFilter(slug: slug))
        return try RevocationFilter(mlbf: stored.mlbf, signedMetadata: stored.signedMetadata, issuer: pki.root)
    }

    @Test func includesRevokedAndHeldExcludesGoodAndLeavesOutExpired() throws {
        let leaves = try recordedLeaves(6)
        try revoke(leaves[0])
        try revoke(leaves[1], reason: .certificateHold)
        _ = try pki.store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [0x55]), notAfter: Date() - 86400)
        var policy = FilterPolicy()
        policy.coverageMargin = 0
        let made = try FilterGenerator(store: pki.store).generate(try pki.store.issuer(certificate: pki.root), policy: policy)
        #expect(made.metadata.revoked == 2 && made.metadata.good == 4)
        let filter = try published(slug: rootID.slug)
        #expect(filter.metadata == made.metadata)
        #expect(filter.answer(for: leaves[0]) == .revoked)
        #expect(filter.answer(for: leaves[1]) == .revoked)
        for leaf in leaves[2...] { #expect(filter.answer(for: leaf) == .good) }
    }

    @Test func sequencesGrowAndARevocationReachesTheNextFilter() throws {
        let leaves = try recordedLeaves(3)
        var policy = FilterPolicy()
        policy.coverageMargin = 0
        let generator = FilterGenerator(store: pki.store)
        let issuer = try pki.store.issuer(certificate: pki.root)
        let first = try generator.generate(issuer, policy: policy)
        #expect(try published(slug: rootID.slug).answer(for: leaves[2]) == .good)
        try revoke(leaves[2])
        let second = try generator.generate(issuer, policy: policy)
        #expect(second.filter.sequence > first.filter.sequence)
        #expect(second.filter.etag != first.filter.etag)
        #expect(try published(slug: rootID.slug).answer(for: leaves[2]) == .revoked)
    }

    @Test func theSchedulerMakesFiltersWhenEnabledAndAfterChangesSettle() throws {
        let leaves = try recordedLeaves(2)
        var configuration = CRLScheduler.Configuration()
        configuration.debounce = 0
        var policy = FilterPolicy()
        policy.coverageMargin = 0
        configuration.filters = policy
        let scheduler = CRLScheduler(store: pki.store, configuration: configuration, logger: Logger(label: "test"))
        let now = Date()
        scheduler.tick(now: now)
        let first = try #require(try pki.store.storedFilter(slug: rootID.slug))
        try revoke(leaves[1])
        scheduler.tick(now: now + 1)  // the change is seen
        scheduler.tick(now: now + 2)  // settled: delta CRL, then the filter
        let second = try #require(try pki.store.storedFilter(slug: rootID.slug))
        #expect(second.sequence > first.sequence)
        #expect(try published(slug: rootID.slug).answer(for: leaves[1]) == .revoked)
        scheduler.tick(now: now + 3)  // nothing changed: no new filter
        #expect(try pki.store.storedFilter(slug: rootID.slug)?.sequence == second.sequence)

        // Without filters: CRLs only.
        let other = try TestPKI()
        configuration.filters = nil
        CRLScheduler(store: other.store, configuration: configuration, logger: Logger(label: "test")).tick(now: now)
        let otherSlug = IssuerID(certificate: other.root).slug
        #expect(try other.store.storedCRL(slug: otherSlug, scope: .full) != nil)
        #expect(try other.store.storedFilter(slug: otherSlug) == nil)
    }

    @Test func pathsRoundTrip() {
        #expect(FilterPaths.parse(FilterPaths.path(slug: "0d71a2a3e9693573"))! == ("0d71a2a3e9693573", false))
        #expect(FilterPaths.parse(FilterPaths.metadataPath(slug: "ab"))! == ("ab", true))
        for bad in ["/filter/.mlbf", "/filter/zz.mlbf", "/filter/ab.crl", "/filter/ab.mlbf.sig", "/filter/a/b.mlbf"] {
            #expect(FilterPaths.parse(bad) == nil)
        }
    }
}
