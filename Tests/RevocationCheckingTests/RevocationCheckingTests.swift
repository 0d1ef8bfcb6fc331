import Foundation
import HTTPServer
import Logging
import OCSPCore
import OCSPTestSupport
import OCSPValues
import Responder
import RevocationStore
@testable import RevocationChecking
import Testing

/// The checker against ocspd's own HTTP server and responder, in process, so the requests that
/// reach the responder can be counted.
@Suite struct RevocationCheckerTests {
    let responder: InProcessResponder
    var pki: TestPKI { responder.pki }
    var url: String { responder.url }

    init() throws { responder = try InProcessResponder() }

    /// A leaf of the EC root, known to the store as good.
    func leaf() throws -> Certificate {
        let leaf = try CertificateBuilder.issue(
            CertificateTemplate(subject: [("CN", "peer.test")], validity: 86400, extensions: [("basicConstraints", "critical,CA:FALSE")]),
            subjectKey: try PrivateKey.generateEC(), issuer: pki.root, issuerKey: pki.rootKey)
        try pki.store.addCertificate(issuer: IssuerID(certificate: pki.root), serial: leaf.serialNumber, notAfter: leaf.notAfter)
        return leaf
    }

    var requests: Int { responder.requests }

    func policy(_ change: (inout RevocationPolicy) -> Void = { _ in }) -> RevocationPolicy {
        var policy = RevocationPolicy()
        policy.ocspURL = url
        policy.timeout = .seconds(30)  // generous: a loaded machine must not turn an answer into a failure
        change(&policy)
        return policy
    }

    @Test func aSecondCheckWithinTheTTLAsksNothingAndOneAfterItDoes() async throws {
        // The checks' own times (`at:`), not sleeps: the TTL counts from the time checked at.
        let chain = [try leaf(), pki.root]
        let checker = RevocationChecker(policy: policy { $0.cacheTTL = .seconds(60) })
        let start = Date()
        let first = await checker.check(chain: chain, at: start)
        #expect(first.verdict == .accept && first.source == .ocsp)
        #expect(requests == 1)
        let second = await checker.check(chain: chain, at: start.addingTimeInterval(59))
        #expect(second.verdict == .accept && second.source == .cache && second.fromCache)
        #expect(requests == 1, "the cache answered")
        let third = await checker.check(chain: chain, at: start.addingTimeInterval(61))
        #expect(third.source == .ocsp)
        #expect(requests == 2, "after the TTL the responder is asked again")
    }

    @Test func concurrentChecksOfOneCertificateShareOneFetch() async throws {
        let chain = [try leaf(), pki.root]
        let checker = RevocationChecker(policy: policy())
        let verdicts = await withTaskGroup(of: RevocationDecision.Verdict.self) { group in
            for _ in 0..<16 { group.addTask { await checker.check(chain: chain).verdict } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(verdicts.allSatisfy { $0 == .accept } && verdicts.count == 16)
        #expect(requests == 1)
    }

    @Test func aRevokedAnswerIsKeptUntilItsNextUpdateWhateverTheTTL() async throws {
        let peer = try leaf()
        try pki.store.setStatus(
            issuer: IssuerID(certificate: pki.root), serial: peer.serialNumber,
            .revoked(time: Date(), reason: .keyCompromise, invalidityDate: nil))
        let checker = RevocationChecker(policy: policy { $0.cacheTTL = .milliseconds(1) })
        let first = await checker.check(chain: [peer, pki.root])
        #expect(first.verdict == .reject)
        guard case .revoked(_, let reason) = first.status else {
            Issue.record("not revoked: \(first.reason)")
            return
        }
        #expect(reason == .keyCompromise)
        try await Task.sleep(for: .milliseconds(50))
        let second = await checker.check(chain: [peer, pki.root])
        #expect(second.verdict == .reject && second.source == .cache)
        #expect(requests == 1)
    }

    @Test func anOutageIsRememberedBrieflySoItDoesNotBecomeAStorm() async throws {
        let chain = [try leaf(), pki.root]
        let dead = RevocationChecker(
            policy: policy {
                $0.ocspURL = "http://127.0.0.1:1/"
                $0.timeout = .milliseconds(500)
                $0.failureCacheTTL = .seconds(30)
                $0.softFail = true
            })
        let first = await dead.check(chain: chain)
        #expect(first.verdict == .accept && first.source == .failureMode)
        let second = await dead.check(chain: chain)
        #expect(second.verdict == .accept && second.attempts.map(\.source) == [.cache])
    }

    @Test func theCacheIsBounded() async {
        let cache = AnswerCache(capacity: 3)
        let now = Date()
        let ids = (1...5).map { CertID(hashAlgorithm: .sha1, issuerNameHash: [1], issuerKeyHash: [2], serialNumber: SerialNumber(bytes: [UInt8($0)])) }
        for (index, id) in ids.enumerated() {
            await cache.store(id, Answer(status: .good, nextUpdate: nil, error: nil), until: now.addingTimeInterval(Double(100 + index)))
        }
        var kept = 0
        for id in ids where await cache.answer(for: id, at: now) != nil { kept += 1 }
        #expect(kept == 3)
        #expect(await cache.answer(for: ids[4], at: now) != nil, "the newest stays; the soonest to expire went")
    }
}

@Suite struct RevocationPolicyTests {
    /// The shipped policy (Config/revocation-policy.yaml: the seeds' keys under
    /// `revocation_checking:`) reads as the seeds mean it; JSON with the keys at the top too.
    @Test func theSeedKeysUnderRevocationCheckingOrAtTheTop() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/revocation-policy.yaml").path
        let policy = try RevocationPolicy.load(path: path)
        #expect(policy.method == .ocspStapling && policy.fallback == .ocsp && policy.mustStaple)
        #expect(!policy.crlFallback && !policy.softFail)
        #expect(policy.cacheTTL == .seconds(3600) && policy.timeout == .seconds(5))
        let json = try RevocationPolicy.parse(#"{"method": "crl", "soft_fail": true, "timeout": "250ms"}"#)
        #expect(json.method == .crl && json.softFail && json.timeout == .milliseconds(250))
    }

    @Test func mistakesNameTheKey() {
        func problem(_ text: String) -> String? {
            do {
                _ = try RevocationPolicy.parse(text, source: "p.yaml")
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(problem("soft_fial: true")?.hasPrefix("unknown configuration key soft_fial in p.yaml") == true)
        #expect(problem("method: stapling")?.contains(#"method (from file p.yaml): "stapling" is not valid; expected one of"#) == true)
        #expect(problem("soft_fail: maybe")?.contains(#"soft_fail (from file p.yaml): "maybe" is not valid; expected true or false"#) == true)
        #expect(problem("timeout: 0")?.contains("expected a duration from 1ms to 1h") == true)
        #expect(problem("revocation_checking: 3")?.contains("must be a mapping") == true)
        #expect(problem("filter: ''")?.contains("expected a path or URL") == true)
        #expect(problem("filter: [a.mlbf, '']")?.contains("expected a path or URL") == true)
        #expect(problem("filter: []")?.contains("expected a path or URL") == true)
        #expect(problem("filter: {a: b}")?.contains("configuration key filter in p.yaml: expected one value, not a mapping") == true)
    }

    @Test func filterTakesOneLocationOrAList() throws {
        #expect(try RevocationPolicy.parse("filter: /etc/ca.mlbf").filters == ["/etc/ca.mlbf"])
        let list = try RevocationPolicy.parse("filter:\n  - /etc/a.mlbf\n  - http://crl.example/filter/ab.mlbf\n")
        #expect(list.filters == ["/etc/a.mlbf", "http://crl.example/filter/ab.mlbf"])
        #expect(try RevocationPolicy.parse("soft_fail: true").filters.isEmpty)
    }
}

@Suite struct CRLVerifierTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    func crl(_ parameters: CRLParameters, entries: [CRLEntry] = [], key: PrivateKey? = nil, issuer: Certificate? = nil) throws -> [UInt8] {
        let builder = try CRLBuilder(parameters: parameters, issuer: issuer ?? pki.root, key: key ?? pki.rootKey)
        for entry in entries { try builder.add(entry) }
        return try builder.sign()
    }

    @Test func aCRLIsBelievedOnlyFromItsIssuerInTimeAndInScope() throws {
        let now = Date()
        let revokedAt = now.addingTimeInterval(-60).rounded()
        let serial = SerialNumber(bytes: [0x42])
        let der = try crl(
            CRLParameters(number: 7, thisUpdate: now.addingTimeInterval(-10), nextUpdate: now.addingTimeInterval(3600)),
            entries: [CRLEntry(serialNumber: serial, revocationDate: revokedAt, reason: .keyCompromise)])
        let verified = try CRLVerifier().verify(der, issuer: pki.root, at: now, distributionPoint: "http://x/ca.crl")
        #expect(verified.number == 7 && verified.deltaBase == nil && verified.distributionPoints.isEmpty)
        #expect(verified.freshestCRL.isEmpty)
        #expect(verified.entry(for: serial)?.revocationDate == revokedAt)
        #expect(verified.entry(for: serial)?.reason == .keyCompromise)
        #expect(verified.entry(for: SerialNumber(bytes: [0x43])) == nil)

        #expect(throws: CRLVerifier.Failure.self) { try CRLVerifier().verify(der, issuer: pki.rsaCA, at: now, distributionPoint: nil) }
        #expect(throws: CRLVerifier.Failure.self) {
            try CRLVerifier().verify(der, issuer: pki.root, at: now.addingTimeInterval(7200), distributionPoint: nil)
        }
        // Signed by another key under the root's name (another test PKI's root has the same one).
        let other = try TestPKI()
        let forged = try crl(
            CRLParameters(number: 8, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600)), key: other.rootKey, issuer: other.root)
        do {
            _ = try CRLVerifier().verify(forged, issuer: pki.root, at: now, distributionPoint: nil)
            Issue.record("a CRL signed by another key was believed")
        } catch {
            #expect(error.code == .badSignature)
        }

        // A shard covers only the distribution point it names.
        let shard = try crl(
            CRLParameters(number: 9, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600), distributionPoint: "http://x/ca/1.crl"))
        #expect(try CRLVerifier().verify(shard, issuer: pki.root, at: now, distributionPoint: "http://x/ca/1.crl").distributionPoints == ["http://x/ca/1.crl"])
        do {
            _ = try CRLVerifier().verify(shard, issuer: pki.root, at: now, distributionPoint: "http://x/ca/2.crl")
            Issue.record("a shard of another part of the population was believed")
        } catch {
            #expect(error.code == .wrongScope)
        }
        // A delta is not a complete CRL.
        let delta = try crl(CRLParameters(number: 10, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600), deltaBase: 9))
        #expect(throws: CRLVerifier.Failure.self) { try CRLVerifier().verify(delta, issuer: pki.root, at: now, distributionPoint: nil) }
        #expect(try CRLVerifier().verify(delta, issuer: pki.root, at: now, distributionPoint: nil, delta: true).deltaBase == 9)
        // A complete CRL says where its deltas are.
        let withDeltas = try crl(
            CRLParameters(
                number: 12, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600),
                freshestCRL: "http://x/ca-delta.crl"))
        let complete = try CRLVerifier().verify(withDeltas, issuer: pki.root, at: now, distributionPoint: nil)
        #expect(complete.freshestCRL == ["http://x/ca-delta.crl"] && complete.distributionPoints.isEmpty)

        // A delta releasing a hold lists the serial as removeFromCRL.
        let release = try crl(
            CRLParameters(number: 11, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600), deltaBase: 9),
            entries: [CRLEntry(serialNumber: serial, revocationDate: revokedAt, reason: .removeFromCRL)])
        let released = try CRLVerifier().verify(release, issuer: pki.root, at: now, distributionPoint: nil, delta: true)
        #expect(released.entry(for: serial)?.isRemoval == true)
    }

    @Test func failuresCompareOnTheirCodeAndDescribeThemselvesByTheirMessage() throws {
        let now = Date()
        let complete = try crl(CRLParameters(number: 1, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600)))
        let delta = try crl(
            CRLParameters(number: 2, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600), deltaBase: 1))
        let notDelta = try #require(#expect(throws: CRLVerifier.Failure.self) {
            _ = try CRLVerifier().verify(complete, issuer: pki.root, at: now, distributionPoint: nil, delta: true)
        })
        let notComplete = try #require(#expect(throws: CRLVerifier.Failure.self) {
            _ = try CRLVerifier().verify(delta, issuer: pki.root, at: now, distributionPoint: nil)
        })
        let garbage = try #require(#expect(throws: CRLVerifier.Failure.self) {
            _ = try CRLVerifier().verify([1, 2, 3], issuer: pki.root, at: now, distributionPoint: nil)
        })
        #expect(notDelta.code == .wrongScope && notComplete.code == .wrongScope && garbage.code == .malformed)
        #expect(notDelta == notComplete && notDelta != garbage && Set([notDelta, notComplete, garbage]).count == 2)
        #expect("\(notDelta)" == "a complete CRL where a delta was expected")
        #expect("\(notComplete)" == "a delta CRL where a complete one was expected")
        #expect("\(garbage)" == "not a DER or PEM CRL")
        let codes: [CRLVerifier.Failure.Code] = [
            .malformed, .wrongIssuer, .badSignature, .notYetValid, .expired, .missingNextUpdate, .wrongScope,
        ]
        #expect(
            codes.map(\.description) == [
                "malformed", "wrongIssuer", "badSignature", "notYetValid", "expired", "missingNextUpdate", "wrongScope",
            ])
        #expect(Set(codes).count == codes.count)
    }
}

extension Date {
    /// To the second, as CRL times are.
    func rounded() -> Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}
