import Fetching
import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
@testable import RevocationChecking
import Testing

/// The checker's one budget across its sources, and what each failure of the network costs,
/// with a scripted fetcher (no sockets): the tests read the limits each request was given, so
/// they assert the schedule rather than race the machine.
@Suite struct CheckerBudgetTests {
    let pki: TestPKI
    let leaf: Certificate
    let ocspURL = "http://ocsp.test/"
    let crlURL = "http://crl.test/ca.crl"
    let deltaURL = "http://crl.test/ca-delta.crl"

    init() throws {
        pki = try TestPKI()
        leaf = try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("CN", "peer.test")], validity: 86400,
                extensions: [
                    ("basicConstraints", "critical,CA:FALSE"), ("authorityInfoAccess", "OCSP;URI:\(ocspURL)"),
                    ("crlDistributionPoints", "URI:\(crlURL)"),
                ]),
            subjectKey: try PrivateKey.generateEC(), issuer: pki.root, issuerKey: pki.rootKey)
    }

    var chain: [Certificate] { [leaf, pki.root] }

    /// The complete CRL (number 5, naming its delta), with `revoked` listed.
    func crl(revoked: [SerialNumber] = [], delta: Bool = true) throws -> FetchResponse {
        let now = Date()
        let builder = try CRLBuilder(
            parameters: CRLParameters(
                number: 5, thisUpdate: now.addingTimeInterval(-60), nextUpdate: now.addingTimeInterval(3600), distributionPoint: crlURL,
                freshestCRL: delta ? deltaURL : nil),
            issuer: pki.root, key: pki.rootKey)
        for serial in revoked { try builder.add(CRLEntry(serialNumber: serial, revocationDate: now.addingTimeInterval(-30), reason: .keyCompromise)) }
        return FetchResponse(status: 200, body: try builder.sign())
    }

    func goodOCSP() throws -> FetchResponse { FetchResponse(status: 200, body: try pki.rootSignedResponse(for: leaf)) }

    /// The seeds' policy, OCSP then the CRL, with a budget of a minute: the scripted failures
    /// are immediate, so it costs no time, and a machine stalled for seconds still leaves the
    /// shares far apart.
    func policy(_ change: (inout RevocationPolicy) -> Void = { _ in }) -> RevocationPolicy {
        var policy = RevocationPolicy()
        policy.method = .ocsp
        policy.crlFallback = true
        policy.timeout = .seconds(60)
        change(&policy)
        return policy
    }

    func requests(_ script: ScriptedFetcher, to prefix: String) -> [FetchRequest] {
        script.requests.filter { $0.url.hasPrefix(prefix) }
    }

    @Test func aRefusedResponderPassesItsShareToTheCRL() async throws {
        let script = ScriptedFetcher([
            .rule(ocspURL, .fail(FetchError(.refused, "\(ocspURL): Connection refused"))), .rule(crlURL, .answer(try crl(delta: false))),
        ])
        let decision = await RevocationChecker(policy: policy(), fetcher: script).check(chain: chain)
        #expect(decision.verdict == .accept && decision.source == .crl, "\(decision.reason)")
        let ocsp = try #require(requests(script, to: ocspURL).first)
        #expect(ocsp.timeout <= .seconds(30), "OCSP's share: half, with the CRL to follow")
        let crl = try #require(requests(script, to: crlURL).first)
        #expect(crl.timeout > .seconds(45), "the refused responder's share went to the CRL")
        #expect(decision.attempts.map(\.url) == [ocspURL, crlURL])
        #expect(decision.attempts[0].error?.contains("Connection refused") == true)
    }

    @Test func aBlackHoledResponderCostsAtMostItsShareOrTheSourceTimeout() async throws {
        let script = ScriptedFetcher([.rule(ocspURL, .timeOut), .rule(crlURL, .answer(try crl(delta: false)))])
        let decision = await RevocationChecker(policy: policy(), fetcher: script).check(chain: chain)
        #expect(decision.verdict == .accept && decision.source == .crl)
        #expect(try #require(requests(script, to: ocspURL).first).timeout <= .seconds(30))

        let capped = ScriptedFetcher([.rule(ocspURL, .timeOut), .rule(crlURL, .answer(try crl(delta: false)))])
        let checker = RevocationChecker(
            policy: policy {
                $0.sourceTimeout = .seconds(1)
                $0.connectTimeout = .milliseconds(300)
            }, fetcher: capped)
        #expect(await checker.check(chain: chain).verdict == .accept)
        for request in capped.requests {
            #expect(request.timeout <= .seconds(1), "\(request.url)")
            #expect(request.connectTimeout == .milliseconds(300), "\(request.url)")
        }
    }

    @Test func aDeadFilterURLCostsItsShareAndTheOtherSourcesKeepTheirs() async throws {
        let filterURL = "http://filter.test/ca.mlbf"
        let script = ScriptedFetcher([
            .rule(filterURL, .timeOut), .rule(ocspURL, .fail(FetchError(.refused, "\(ocspURL): Connection refused"))),
            .rule(crlURL, .answer(try crl(delta: false))),
        ])
        let decision = await RevocationChecker(policy: policy { $0.filters = [filterURL] }, fetcher: script).check(chain: chain)
        #expect(decision.verdict == .accept && decision.source == .crl, "\(decision.reason)")
        let filter = try #require(requests(script, to: filterURL).first)
        #expect(filter.timeout <= .seconds(20), "a third: the filter, OCSP and the CRL")
        #expect(try #require(requests(script, to: crlURL).first).timeout > .seconds(30))
    }

    @Test func aDeadDeltaLeavesTheCompleteCRLItsAnswerWithinTheBudget() async throws {
        let script = ScriptedFetcher([
            .rule(ocspURL, .fail(FetchError(.refused, "\(ocspURL): Connection refused"))),
            .rule(crlURL, .answer(try crl(revoked: [leaf.serialNumber]))), .rule(deltaURL, .timeOut),
        ])
        let decision = await RevocationChecker(policy: policy(), fetcher: script).check(chain: chain)
        #expect(decision.verdict == .reject && decision.source == .crl, "\(decision.reason)")
        guard case .revoked = decision.status else { Issue.record("expected revoked: \(decision.reason)"); return }
        let delta = try #require(requests(script, to: deltaURL).first)
        #expect(delta.timeout <= .seconds(54), "the delta leaves a tenth of the rest for the complete CRL's answer")
        #expect(decision.attempts.map(\.url) == [ocspURL, crlURL, deltaURL])
    }

    @Test func whenTheBudgetRunsOutTheAnswerNamesWhatWasAsked() async throws {
        let script = ScriptedFetcher([.rule(ocspURL, .hang)])
        let checker = RevocationChecker(
            policy: policy {
                $0.crlFallback = false
                $0.timeout = .milliseconds(300)
            }, fetcher: script)
        let decision = await checker.check(chain: chain)
        #expect(decision.verdict == .reject)
        #expect(decision.attempts.contains { $0.source == .ocsp && $0.url == ocspURL && $0.error != nil }, "\(decision.attempts)")
    }

    @Test func aResponderThatRefusesGETIsAskedByPOST() async throws {
        let script = ScriptedFetcher([.rule(ocspURL, .get, .answer(FetchResponse(status: 400))), .rule(ocspURL, .post, .answer(try goodOCSP()))])
        let decision = await RevocationChecker(policy: policy { $0.crlFallback = false }, fetcher: script).check(chain: chain)
        #expect(decision.verdict == .accept && decision.source == .ocsp, "\(decision.reason)")
        #expect(script.requests.map(\.method) == [.get, .post])

        let postOnly = ScriptedFetcher([.rule(ocspURL, .post, .answer(try goodOCSP()))])
        let checker = RevocationChecker(
            policy: policy {
                $0.crlFallback = false
                $0.httpMethod = .post
            }, fetcher: postOnly)
        #expect(await checker.check(chain: chain).verdict == .accept)
        #expect(postOnly.requests.map(\.method) == [.post])
    }

    @Test func aCRLOverItsLimitIsRefusedUnread() async throws {
        let script = ScriptedFetcher([.rule(ocspURL, .timeOut), .rule(crlURL, .answer(try crl()))])
        let decision = await RevocationChecker(policy: policy { $0.maximumCRLBytes = 100 }, fetcher: script).check(chain: chain)
        #expect(decision.verdict == .reject && decision.source == .failureMode)
        #expect(try #require(requests(script, to: crlURL).first).maximumBytes == 100)
        #expect(decision.attempts.last?.error?.contains("larger than 100 bytes") == true, "\(decision.attempts)")
    }

    @Test func theNewPolicyKeysAndTheirMistakes() throws {
        let policy = try RevocationPolicy.parse(
            "source_timeout: 2s\nconnect_timeout: 500ms\nhttp_method: post\ncrl_max_size: 16M\n")
        #expect(policy.sourceTimeout == .seconds(2) && policy.connectTimeout == .milliseconds(500))
        #expect(policy.httpMethod == .post && policy.maximumCRLBytes == 16 << 20)
        #expect(RevocationPolicy().httpMethod == .auto && RevocationPolicy().sourceTimeout == nil)
        for (text, said) in [
            ("http_method: put", #"http_method (from file policy): "put" is not valid; expected one of auto, get, post"#),
            ("crl_max_size: lots", "crl_max_size (from file policy): \"lots\" is not valid; expected a size"),
            ("crl_max_size: 12x", "expected a size of at least 1024 bytes, such as 65536, 512k, 64M or 1G"),
            ("source_timeout: 0s", "source_timeout (from file policy): \"0s\" is not valid; expected a duration from 1ms to 1h"),
        ] {
            #expect(throws: RevocationPolicy.Problem.self) { try RevocationPolicy.parse(text) }
            do { _ = try RevocationPolicy.parse(text) } catch { #expect("\(error)".contains(said), "\(error)") }
        }
    }
}
