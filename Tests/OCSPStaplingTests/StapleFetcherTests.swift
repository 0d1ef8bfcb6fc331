import Fetching
import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
@testable import OCSPStapling
import Testing

/// How the stapler asks (GET, POST, the POST retry) and what each failure of the network
/// becomes, with a scripted fetcher: no sockets.
@Suite struct StapleFetcherTests {
    let pki: TestPKI
    let leaf: Certificate
    let url = "http://ocsp.test/"
    /// An OCSPResponse whose responseStatus is malformedRequest (1), nothing else.
    let malformedRequest: [UInt8] = [0x30, 0x03, 0x0A, 0x01, 0x01]

    init() throws {
        pki = try TestPKI()
        leaf = try pki.leaf("site.test", issuer: pki.root, key: pki.rootKey)
    }

    /// A good answer for `leaf`, signed by the root.
    func good() throws -> FetchResponse { FetchResponse(status: 200, body: try pki.rootSignedResponse(for: leaf)) }

    func fetch(_ script: ScriptedFetcher, method: OCSPRequestMethod = .auto) async throws -> Staple {
        try await StapleFetcher(options: .init(responderURL: url, timeout: .seconds(30), method: method), fetcher: script)
            .fetch(leaf: leaf, issuer: pki.root)
    }

    @Test func autoAsksByGETAndTheAnswerDecides() async throws {
        let script = ScriptedFetcher([.rule(url, .get, .answer(try good()))])
        let staple = try await fetch(script)
        #expect(staple.verified.status == .good)
        #expect(script.requests.map(\.method) == [.get])
        #expect(script.requests[0].url.hasPrefix(url + "M"), "the base64 request follows the URL's slash")
        #expect(script.requests[0].maximumBytes == 64 * 1024, "a response is a few KiB; more is refused")
    }

    @Test func aGETRefusedWith4xxOrMalformedRequestIsAskedOnceMoreByPOST() async throws {
        for refusal in [FetchResponse(status: 400), FetchResponse(status: 405), FetchResponse(status: 200, body: malformedRequest)] {
            let script = ScriptedFetcher([.rule(url, .get, .answer(refusal)), .rule(url, .post, .answer(try good()))])
            let staple = try await fetch(script)
            #expect(staple.verified.status == .good, "after \(refusal.status)")
            #expect(script.requests.map(\.method) == [.get, .post])
            let post = script.requests[1]
            #expect(post.url == url && post.header == "application/ocsp-request")
            #expect((try? OCSPRequest(derEncoded: post.body)) != nil, "the POST carries the DER request")
        }
    }

    @Test func a5xxOrAnOutageIsNotRetriedByPOST() async throws {
        for behaviour: ScriptedFetcher.Behaviour in [
            .answer(FetchResponse(status: 503)), .fail(FetchError(.refused, "\(url)x: Connection refused")), .timeOut,
        ] {
            let script = ScriptedFetcher([.rule(url, .get, behaviour), .rule(url, .post, .answer(try good()))])
            let error = await #expect(throws: StaplingError.self) { _ = try await fetch(script) }
            #expect(error?.code == .unreachable)
            #expect(script.requests.map(\.method) == [.get], "the responder is down, not refusing GET")
        }
    }

    @Test func getAndPostAreTakenAsConfigured() async throws {
        let refusesGET = ScriptedFetcher([.rule(url, .get, .answer(FetchResponse(status: 400))), .rule(url, .post, .answer(try good()))])
        let error = await #expect(throws: StaplingError.self) { _ = try await fetch(refusesGET, method: .get) }
        #expect(error?.httpStatus == 400 && error?.message.contains("HTTP 400") == true)
        #expect(refusesGET.requests.map(\.method) == [.get], "get means get only")
        let postOnly = ScriptedFetcher([.rule(url, .post, .answer(try good()))])
        #expect(try await fetch(postOnly, method: .post).verified.status == .good)
        #expect(postOnly.requests.map(\.method) == [.post])
    }

    @Test func failuresSayWhatHappenedWithoutTheRequestInTheURL() async throws {
        let cases: [(ScriptedFetcher.Behaviour, String)] = [
            (.fail(FetchError(.refused, "\(url)MEMw: Failed to connect: Connection refused")), "Connection refused"),
            (.fail(FetchError(.truncated, "\(url)MEMw: transfer closed with 900 bytes remaining")), "900 bytes remaining"),
            (.answer(FetchResponse(status: 200, body: [UInt8](repeating: 0x30, count: 70_000))), "larger than 65536 bytes"),
            (.answer(FetchResponse(status: 404)), "HTTP 404"),
        ]
        for (behaviour, said) in cases {
            let script = ScriptedFetcher([.rule(url, .get, behaviour), .rule(url, .post, behaviour)])
            let error = await #expect(throws: StaplingError.self) { _ = try await fetch(script) }
            #expect(error?.code == .unreachable)
            #expect(error?.message.contains(said) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("MEMw") == false, "the GET path is the request, not a URL to show")
        }
    }

    @Test func anAnswerThatDoesNotVerifyIsRejectedNotRetried() async throws {
        let other = try TestPKI()
        let now = Date()
        let certID = try CertID(issuer: pki.root, serialNumber: leaf.serialNumber, hashAlgorithm: .sha1)
        let forged = try OCSPResponseSigner(certificate: other.root, key: other.rootKey).sign([
            SingleResponse(certID: certID, status: .good, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600))
        ])
        let script = ScriptedFetcher([.rule(url, .answer(FetchResponse(status: 200, body: forged)))])
        let error = await #expect(throws: StaplingError.self) { _ = try await fetch(script) }
        #expect(error?.code == .rejected)
        #expect(script.requests.count == 1)
    }
}

extension FetchRequest {
    /// The Content-Type it was sent with.
    var header: String? { headers["Content-Type"] }
}
