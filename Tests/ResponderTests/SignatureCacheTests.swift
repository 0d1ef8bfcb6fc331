import Foundation
import OCSPCore
import OCSPValues
import OCSPTestSupport
import Responder
import RevocationStore
import Testing

@Suite struct SignatureCacheTests {
    let pki: TestPKI
    let responder: OCSPResponder
    let rootID: IssuerID

    init() throws {
        pki = try TestPKI()
        responder = OCSPResponder(store: pki.store)
        rootID = IssuerID(certificate: pki.root)
    }

    func request(_ serial: UInt8, nonce: Bool = false, hash: HashAlgorithm = .sha1) throws -> [UInt8] {
        try OCSPRequestBuilder.build(
            [CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [serial]), hashAlgorithm: hash)], nonce: nonce)
    }

    @Test func addingACertificateSignsItsResponseAndRequestsAreServedFromTheCache() throws {
        try pki.store.addCertificate(
            issuer: rootID, serial: SerialNumber(bytes: [1]), notAfter: nil, sign: responder.signing(for: rootID).0)
        #expect(responder.signatureCount == 1)
        let first = responder.respond(to: try request(1))
        let second = responder.respond(to: try request(1))
        #expect(responder.signatureCount == 1, "cached: no signature per request")
        #expect(first.body == second.body)
        #expect(first.etag != nil && first.etag == second.etag)
        #expect(try OCSPResponse(derEncoded: first.body).responses.first?.status == .good)
    }

    @Test func concurrentMissesShareOneSignature() throws {
        try pki.store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [2]), notAfter: nil)  // not signed
        let der = try request(2)
        let bodies = LockedArray()
        DispatchQueue.concurrentPerform(iterations: 16) { _ in bodies.append(responder.respond(to: der).body) }
        #expect(responder.signatureCount == 1)
        #expect(Set(bodies.all).count == 1)
        #expect(try pki.store.cachedResponseCount() == 1)
        // SHA-256 CertIDs are a separate cache entry, signed once too.
        _ = responder.respond(to: try request(2, hash: .sha256))
        _ = responder.respond(to: try request(2, hash: .sha256))
        #expect(responder.signatureCount == 2)
    }

    @Test func unknownSerialsAreSignedOnceAndCached() throws {
        let a = responder.respond(to: try request(77))
        let b = responder.respond(to: try request(77))
        #expect(responder.signatureCount == 1)
        #expect(a.body == b.body)
        #expect(try OCSPResponse(derEncoded: a.body).responses.first?.status == .unknown)
    }

    @Test func revokeHoldAndUnholdReplaceTheCachedResponseInTheSameTransaction() throws {
        let serial = SerialNumber(bytes: [3])
        let sign = responder.signing(for: rootID).0
        try pki.store.addCertificate(issuer: rootID, serial: serial, notAfter: nil, sign: sign)
        _ = responder.respond(to: try request(3, hash: .sha256))  // a second cached variant
        let time = Date(timeIntervalSince1970: 1_767_323_045)
        let statuses: [(CertificateRecord.Status, CertStatus)] = [
            (.revoked(time: time, reason: .certificateHold, invalidityDate: nil), .revoked(time: time, reason: .certificateHold)),
            (.good, .good),
            (.revoked(time: time, reason: .keyCompromise, invalidityDate: nil), .revoked(time: time, reason: .keyCompromise)),
        ]
        for (status, expected) in statuses {
            try pki.store.setStatus(issuer: rootID, serial: serial, status, sign: sign)
            for hash in [HashAlgorithm.sha1, .sha256] {
                let cached = try #require(try pki.store.cachedResponse(ResponseKey(issuer: rootID, algorithm: hash, serial: serial)))
                #expect(try OCSPResponse(derEncoded: cached.der).responses.first?.status == expected)
                #expect(try OCSPResponse(derEncoded: responder.respond(to: request(3, hash: hash)).body).responses.first?.status == expected)
            }
        }
    }

    @Test func withoutASignerAStatusChangeDropsCachedResponses() throws {
        let serial = SerialNumber(bytes: [4])
        try pki.store.addCertificate(issuer: rootID, serial: serial, notAfter: nil, sign: responder.signing(for: rootID).0)
        try pki.store.setStatus(issuer: rootID, serial: serial, .revoked(time: Date(), reason: nil, invalidityDate: nil))
        #expect(try pki.store.cachedResponse(ResponseKey(issuer: rootID, algorithm: .sha1, serial: serial)) == nil)
        #expect(try OCSPResponse(derEncoded: responder.respond(to: request(4)).body).responses.first?.status.name == "revoked")
    }

    /// A slow signer (an HSM) must not hold the store's one write lock: another write completes
    /// while a revocation's signature is still waiting, and the revocation then lands with its
    /// response.
    @Test func aRevocationSignsBeforeItsWriteTransactionSoOtherWritesDoNotWait() throws {
        let serial = SerialNumber(bytes: [0x30])
        try pki.store.addCertificate(issuer: rootID, serial: serial, notAfter: nil)
        let sign = try #require(responder.signing(for: rootID).0)
        let signing = DispatchSemaphore(value: 0)
        let otherWriteDone = DispatchSemaphore(value: 0)
        let store = pki.store
        let root = rootID
        DispatchQueue.global().async {
            signing.wait()
            // Blocks until the revocation commits if the revocation holds the write lock.
            _ = try? store.addCertificate(issuer: root, serial: SerialNumber(bytes: [0x31]), notAfter: nil)
            otherWriteDone.signal()
        }
        var waitedOut = false
        let slowSign: ResponseSigning = { key, record in
            signing.signal()
            // Done at once unless the revocation holds the lock (then never): the minute is only
            // a bound for the failing case, sized so a stalled machine cannot fake it.
            waitedOut = otherWriteDone.wait(timeout: .now() + 60) == .timedOut
            return try sign(key, record)
        }
        try pki.store.setStatus(
            issuer: rootID, serial: serial, .revoked(time: Date(), reason: .keyCompromise, invalidityDate: nil), sign: slowSign)
        #expect(!waitedOut, "the other write waited for the revocation's signature")
        #expect(try pki.store.certificate(issuer: rootID, serial: SerialNumber(bytes: [0x31])) != nil)
        let cached = try #require(try pki.store.cachedResponse(ResponseKey(issuer: rootID, algorithm: .sha1, serial: serial)))
        #expect(try OCSPResponse(derEncoded: cached.der).responses.first?.status.name == "revoked")
    }

    /// Signed ahead of the write, a response is stored only if the record it was signed for is
    /// the one written: a change that slipped in between (here a hold, made while the revocation
    /// signs) leaves the revocation's write with no response to store, so it drops the cached
    /// ones and none answers for a status the certificate no longer has.
    @Test func aChangeBetweenSigningAndWritingDropsTheSignaturesMadeAhead() throws {
        let serial = SerialNumber(bytes: [0x32])
        let sign = try #require(responder.signing(for: rootID).0)
        try pki.store.addCertificate(issuer: rootID, serial: serial, notAfter: nil, sign: sign)
        let store = pki.store
        let root = rootID
        var interfered = false
        let interfering: ResponseSigning = { key, record in
            if !interfered {
                interfered = true
                try store.setStatus(
                    issuer: root, serial: serial, .revoked(time: Date(), reason: .certificateHold, invalidityDate: nil), sign: sign)
            }
            return try sign(key, record)
        }
        let revokedAt = Date(timeIntervalSince1970: 1_767_323_045)
        try pki.store.setStatus(
            issuer: rootID, serial: serial, .revoked(time: revokedAt, reason: .keyCompromise, invalidityDate: nil),
            sign: interfering)
        let record = try #require(try pki.store.certificate(issuer: rootID, serial: serial))
        #expect(record.status == .revoked(time: revokedAt, reason: .keyCompromise, invalidityDate: nil))
        // The hold's response (signed in its own write) was replaced by nothing, not kept.
        #expect(try pki.store.cachedResponse(ResponseKey(issuer: rootID, algorithm: .sha1, serial: serial)) == nil)
        let answer = try OCSPResponse(derEncoded: responder.respond(to: request(0x32)).body).responses.first?.status
        #expect(answer == .revoked(time: revokedAt, reason: .keyCompromise))
    }

    @Test func nonceRequestsGetAFreshEchoingResponseThatIsNotCached() throws {
        try pki.store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [5]), notAfter: nil, sign: responder.signing(for: rootID).0)
        let before = try pki.store.cachedResponse(ResponseKey(issuer: rootID, algorithm: .sha1, serial: SerialNumber(bytes: [5])))
        let der = try request(5, nonce: true)
        let result = responder.respond(to: der)
        #expect(result.hasNonce && result.etag == nil)
        #expect(try OCSPResponse(derEncoded: result.body).echoesNonce(of: der))
        #expect(result.body != before?.der)
        let after = try pki.store.cachedResponse(ResponseKey(issuer: rootID, algorithm: .sha1, serial: SerialNumber(bytes: [5])))
        #expect(after == before)
    }

    @Test func liveSigningIsRateLimited() throws {
        var configuration = OCSPResponder.Configuration()
        configuration.liveSigningRate = 3
        let limited = OCSPResponder(store: pki.store, configuration: configuration)
        let now = Date()
        let statuses = try (0..<6).map { _ in limited.respond(to: try request(6, nonce: true), now: now).status }
        #expect(statuses.filter { $0 == .successful }.count == 3)
        #expect(statuses.filter { $0 == .tryLater }.count == 3)
        // Cached answers are not limited.
        try pki.store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [7]), notAfter: nil, sign: responder.signing(for: rootID).0)
        #expect(limited.respond(to: try request(7), now: now).status == .successful)

        configuration.nonceOverflowServesCached = true
        let fallback = OCSPResponder(store: pki.store, configuration: configuration)
        let results = try (0..<5).map { _ in fallback.respond(to: try request(7, nonce: true), now: now) }
        #expect(results.allSatisfy { $0.status == .successful })
        #expect(results.filter { $0.hasNonce }.count == 3)
    }

    @Test func refresherResignsBeforeNextUpdateAndDropsUnknowns() throws {
        var configuration = OCSPResponder.Configuration()
        configuration.validityOverride = 100
        let shortLived = OCSPResponder(store: pki.store, configuration: configuration)
        // Whole seconds (the store keeps times to the second), within the signer's validity.
        let start = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let serial = SerialNumber(bytes: [8])
        try pki.store.addCertificate(issuer: rootID, serial: serial, notAfter: nil, sign: { key, record in
            try shortLived.sign(key, record: record, now: start)
        })
        _ = shortLived.respond(to: try request(99), now: start)  // an unknown serial, cached
        let key = ResponseKey(issuer: rootID, algorithm: .sha1, serial: serial)
        let original = try #require(try pki.store.cachedResponse(key))
        // Refresh falls in [25 s, 50 s] after signing with validity 100 and fraction ½.
        #expect(original.refreshAt >= start + 25 && original.refreshAt <= start + 50)
        #expect(try shortLived.refreshDue(now: start + 20).refreshed == 0)

        let report = try shortLived.refreshDue(now: start + 51)
        #expect(report.refreshed == 1 && report.dropped == 1)
        let refreshed = try #require(try pki.store.cachedResponse(key))
        #expect(refreshed.thisUpdate == start + 51)
        #expect(refreshed.nextUpdate.timeIntervalSince(start + 51) == 100)
        #expect(try pki.store.cachedResponseCount() == 1)
    }

    @Test func aResponseInItsServingMarginIsResignedNotServed() throws {
        var configuration = OCSPResponder.Configuration()
        configuration.validityOverride = 100
        configuration.liveSigningRate = 0  // a stale response is re-signed whatever the rate
        let shortLived = OCSPResponder(store: pki.store, configuration: configuration)
        let start = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let serial = SerialNumber(bytes: [9])
        try pki.store.addCertificate(issuer: rootID, serial: serial, notAfter: nil, sign: { key, record in
            try shortLived.sign(key, record: record, now: start)
        })
        #expect(CachedResponse.servingMargin(thisUpdate: 0, nextUpdate: 100) == 2)
        #expect(CachedResponse.servingMargin(thisUpdate: 0, nextUpdate: 4) == 1)
        #expect(CachedResponse.servingMargin(thisUpdate: 0, nextUpdate: 3) == 0)
        // 3 s before nextUpdate it is still served as cached; 1.5 s before, it is signed anew.
        let served = shortLived.respond(to: try request(9), now: start + 97)
        #expect(served.thisUpdate == start && !served.signedForRequest)
        let resigned = shortLived.respond(to: try request(9), now: start + 98.5)
        #expect(resigned.status == .successful && resigned.signedForRequest)
        #expect(resigned.thisUpdate == start + 98.5 && resigned.nextUpdate == start + 198.5)
    }

    @Test func presignSignsEveryCertificate() throws {
        try pki.store.addCertificates(issuer: rootID, (10..<40).map { (SerialNumber(bytes: [UInt8($0)]), nil) })
        try pki.store.addCertificates(
            issuer: IssuerID(certificate: pki.rsaCA), (10..<15).map { (SerialNumber(bytes: [UInt8($0)]), nil) })
        let reports = LockedArray()
        let count = try responder.presign(workers: 2, pageSize: 8) { done, total in
            reports.append([UInt8(done), UInt8(total)])
        }
        #expect(count == 35)
        #expect(reports.all == [[8, 35], [16, 35], [24, 35], [32, 35], [35, 35]], "progress after each page, in order")
        #expect(try pki.store.cachedResponseCount() == 35)
        #expect(try responder.presign(issuer: rootID, workers: 1) == 30)
    }

    @Test func presignOfAnEmptyStoreOrAPageSmallerThanTheWorkersSignsWhatThereIs() throws {
        // Used to trap: with fewer items than workers, the last workers' ranges were inverted.
        #expect(try responder.presign(workers: 4) == 0)
        try pki.store.addCertificates(issuer: rootID, [(SerialNumber(bytes: [7]), nil)])
        #expect(try responder.presign(workers: 4) == 1)
    }
}

/// An array appended to from many threads.
final class LockedArray: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var items: [[UInt8]] = []
    func append(_ item: [UInt8]) { lock.withLock { items.append(item) } }
    var all: [[UInt8]] { lock.withLock { items } }
}

@Suite struct ValidityPolicyTests {
    @Test func responsesSignedUnderAnotherValidityAreResignedOnce() throws {
        let pki = try TestPKI()
        let rootID = IssuerID(certificate: pki.root)
        let storeDefault = OCSPResponder(store: pki.store)  // the issuer's 3600 s
        try pki.store.addCertificate(issuer: rootID, serial: SerialNumber(bytes: [1]), notAfter: nil, sign: storeDefault.signing(for: rootID).0)
        let overriding = OCSPResponder(store: pki.store, validityOverride: 120)
        let request = try OCSPRequestBuilder.build([CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [1]))])
        for _ in 0..<3 {
            let result = overriding.respond(to: request)
            #expect(result.nextUpdate.map { $0.timeIntervalSince(result.thisUpdate!) } == 120)
        }
        #expect(overriding.signatureCount == 1)
    }
}
