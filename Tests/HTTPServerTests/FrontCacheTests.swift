import CMicroHTTPD
@testable import HTTPServer
import Testing

@Suite struct FrontCacheTests {
    /// An empty libmicrohttpd response; the cache takes it over.
    func response() throws -> OpaquePointer {
        try #require(MHD_create_response_from_buffer(0, nil, .RESPMEM_PERSISTENT))
    }

    func insert(_ cache: FrontCache, _ key: String, issuer: UInt64 = 1, certificate: UInt64, now: UInt64, validFor: UInt64 = .max) throws -> OpaquePointer {
        let response = try response()
        Array(key.utf8).withUnsafeBytes {
            cache.insert(
                FrontCache.Key($0), response: response, issuer: issuer, certificate: certificate,
                tag: FrontCache.tag(.revoked, thisUpdate: 1_700_000_000), now: now, validFor: validFor)
        }
        return response
    }

    func lookup(_ cache: FrontCache, _ key: String, now: UInt64) -> OpaquePointer? {
        Array(key.utf8).withUnsafeBytes { cache.lookup(FrontCache.Key($0), now: now)?.response }
    }

    @Test func keepsEachResponsesTag() throws {
        let cache = FrontCache(slots: 64)
        _ = try insert(cache, "GET /a", certificate: 1, now: 1)
        let tag = try #require(Array("GET /a".utf8).withUnsafeBytes { cache.lookup(FrontCache.Key($0), now: 1)?.tag })
        #expect(FrontCache.untag(tag) == (.revoked, 1_700_000_000))
        let old = FrontCache.tag(.good, thisUpdate: -86_400)  // before 1970 still round-trips
        #expect(FrontCache.untag(old) == (.good, -86_400))
    }

    @Test func findsWhatItHoldsByExactKey() throws {
        let cache = FrontCache(slots: 64)
        let a = try insert(cache, "GET /a", certificate: 10, now: 0)
        #expect(lookup(cache, "GET /a", now: 1) == a)
        #expect(lookup(cache, "GET /b", now: 1) == nil)
        #expect(lookup(cache, "GET /a/", now: 1) == nil)
        #expect(cache.statistics.hits == 1 && cache.statistics.inserts == 1)
    }

    @Test func aNewKeyEvictsTheLeastRecentlyUsedOfItsSet() throws {
        // As many slots as ways: one set, which every key shares.
        let cache = FrontCache(slots: FrontCache.ways)
        let keys = (0..<FrontCache.ways).map { "key \($0)" }
        var responses: [OpaquePointer] = []
        for key in keys { responses.append(try insert(cache, key, certificate: 1, now: 0)) }
        #expect(cache.count == FrontCache.ways)
        // Use every key but the second; the next new key takes the second's slot.
        for (index, key) in keys.enumerated() where index != 1 { #expect(lookup(cache, key, now: 1) == responses[index]) }
        let newcomer = try insert(cache, "newcomer", certificate: 2, now: 0)
        #expect(lookup(cache, "key 1", now: 1) == nil)
        #expect(lookup(cache, "newcomer", now: 1) == newcomer)
        for (index, key) in keys.enumerated() where index != 1 { #expect(lookup(cache, key, now: 1) == responses[index]) }
        // Storing a key again replaces its own entry, not another.
        let again = try insert(cache, "newcomer", certificate: 2, now: 0)
        #expect(lookup(cache, "newcomer", now: 1) == again)
        #expect(cache.count == FrontCache.ways)
    }

    @Test func entriesExpireAfterTheirLifetimeOrTheirResponse() throws {
        let cache = FrontCache(slots: 64)
        let long = try insert(cache, "long", certificate: 1, now: 0)
        #expect(lookup(cache, "long", now: FrontCache.lifetime - 1) == long)
        #expect(lookup(cache, "long", now: FrontCache.lifetime) == nil, "at most the front cache's lifetime")
        _ = try insert(cache, "short", certificate: 2, now: 0, validFor: 1_000)
        #expect(lookup(cache, "short", now: 999) != nil)
        #expect(lookup(cache, "short", now: 1_000) == nil, "never past the response's nextUpdate")
        _ = try insert(cache, "expired", certificate: 3, now: 0, validFor: 0)
        #expect(lookup(cache, "expired", now: 0) == nil, "a response already past its nextUpdate is not kept")
    }

    @Test func changesDropTheirCertificateOrTheirIssuer() throws {
        let cache = FrontCache(slots: 256)
        _ = try insert(cache, "GET a", issuer: 1, certificate: 11, now: 0)
        _ = try insert(cache, "POST a", issuer: 1, certificate: 11, now: 0)
        let b = try insert(cache, "GET b", issuer: 1, certificate: 12, now: 0)
        let c = try insert(cache, "GET c", issuer: 2, certificate: 21, now: 0)
        cache.drop(issuer: 1, certificate: 11)
        #expect(lookup(cache, "GET a", now: 1) == nil && lookup(cache, "POST a", now: 1) == nil)
        #expect(lookup(cache, "GET b", now: 1) == b && lookup(cache, "GET c", now: 1) == c)
        #expect(cache.statistics.invalidated == 2)
        cache.drop(issuer: 1, certificate: nil)
        #expect(lookup(cache, "GET b", now: 1) == nil && lookup(cache, "GET c", now: 1) == c)
        cache.clear()
        #expect(cache.count == 0 && cache.statistics.cleared == 1)
    }

    @Test func onlyRequestsSeenBeforeAreAdmitted() throws {
        let cache = FrontCache(slots: 64)
        func admits(_ key: String) -> Bool { Array(key.utf8).withUnsafeBytes { cache.admits(FrontCache.Key($0)) } }
        #expect(!admits("GET once"), "a first request is only noted")
        #expect(admits("GET once"), "the second time it is worth keeping")
        #expect(!admits("GET other"))
        #expect(cache.statistics.notAdmitted == 2)
        // The doorkeeper forgets: after many new requests, an old one counts as new again.
        for index in 0..<(1 << 14) { _ = admits("GET \(index)") }
        #expect(!admits("GET once"))
    }

    @Test func keysLongerThanASlotAreNotKept() throws {
        let cache = FrontCache(slots: 64)
        let key = String(repeating: "x", count: FrontCache.maximumKeyCount + 1)
        _ = try insert(cache, key, certificate: 1, now: 0)
        #expect(lookup(cache, key, now: 1) == nil)
        #expect(cache.count == 0)
    }
}
