import Fetching
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The libcurl fetcher against a loopback server that misbehaves on purpose: what each failure a
/// network has becomes, and what an answer keeps.
@Suite struct CurlFetcherTests {
    let fetcher = CurlFetcher(maximumIdleHandles: 0)

    /// A port nothing listens on: bound, then closed.
    func closedPort() throws -> UInt16 {
        let server = try LoopbackServer { _ in .silent }
        let port = server.port
        server.stop()
        return port
    }

    @Test func aRefusedConnectionFailsAtOnceAsRefused() async throws {
        let port = try closedPort()
        let started = ContinuousClock.now
        let error = await #expect(throws: FetchError.self) {
            _ = try await fetcher.fetch(FetchRequest(url: "http://127.0.0.1:\(port)/x", timeout: .seconds(600)))
        }
        #expect(error?.code == .refused)
        #expect(error?.message.contains("127.0.0.1") == true)
        // Not a retry loop until the deadline: that would take the ten minutes, while a stalled
        // machine (seconds, seen here) stays far below half of it.
        #expect(ContinuousClock.now - started < .seconds(300))
    }

    @Test func aServerThatNeverAnswersEndsAtTheTimeout() async throws {
        let server = try LoopbackServer { _ in .silent }
        defer { server.stop() }
        let error = await #expect(throws: FetchError.self) {
            _ = try await fetcher.fetch(FetchRequest(url: server.url + "/x", timeout: .milliseconds(300)))
        }
        #expect(error?.code == .timedOut)
    }

    @Test func anAnswerOfAnyStatusIsAnAnswer() async throws {
        let server = try LoopbackServer { request in
            request.hasPrefix("GET /missing") ? LoopbackServer.http(404, body: Array("no".utf8))
                : LoopbackServer.http(503, ["Retry-After: 7"])
        }
        defer { server.stop() }
        let missing = try await fetcher.fetch(FetchRequest(url: server.url + "/missing"))
        #expect(missing.status == 404 && missing.body == Array("no".utf8))
        let busy = try await fetcher.fetch(FetchRequest(url: server.url + "/busy"))
        #expect(busy.status == 503 && busy.header("retry-after") == "7")
    }

    @Test func aBodyCutShortIsTruncated() async throws {
        let server = try LoopbackServer { _ in LoopbackServer.http(200, body: Array(repeating: 7, count: 100), contentLength: 1000) }
        defer { server.stop() }
        let error = await #expect(throws: FetchError.self) { _ = try await fetcher.fetch(FetchRequest(url: server.url + "/")) }
        #expect(error?.code == .truncated)
    }

    @Test func aBodyOverTheLimitIsRefusedWhateverItAnnounces() async throws {
        let big = [UInt8](repeating: 1, count: 70_000)
        let server = try LoopbackServer { request in
            // One announces its length; the other is chunked, so only counting can tell.
            if request.hasPrefix("GET /announced") { return LoopbackServer.http(200, body: big) }
            let chunk = Array(String(big.count, radix: 16).utf8) + Array("\r\n".utf8) + big + Array("\r\n0\r\n\r\n".utf8)
            return .bytes(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".utf8) + chunk)
        }
        defer { server.stop() }
        for path in ["/announced", "/chunked"] {
            let error = await #expect(throws: FetchError.self) {
                _ = try await fetcher.fetch(FetchRequest(url: server.url + path, maximumBytes: 64 * 1024))
            }
            #expect(error?.code == .tooLarge, "\(path)")
        }
        let allowed = try await fetcher.fetch(FetchRequest(url: server.url + "/chunked", maximumBytes: 100_000))
        #expect(allowed.body == big)
    }

    @Test func redirectsAreFollowedWithinTheLimitAndAPOSTStaysAPOST() async throws {
        let server = try LoopbackServer { request in
            if request.contains(" /hop") { return LoopbackServer.http(307, ["Location: /end"]) }
            if request.contains(" /loop") { return LoopbackServer.http(302, ["Location: /loop"]) }
            return LoopbackServer.http(200, body: Array(request.prefix(4).utf8))
        }
        defer { server.stop() }
        let followed = try await fetcher.fetch(FetchRequest(url: server.url + "/hop", method: .post, body: [1, 2, 3]))
        #expect(followed.status == 200 && followed.body == Array("POST".utf8))
        #expect(server.requests.last?.hasSuffix("\u{1}\u{2}\u{3}") == true, "the body travels again")
        let notFollowed = try await fetcher.fetch(FetchRequest(url: server.url + "/hop", maximumRedirects: 0))
        #expect(notFollowed.status == 307)
        let error = await #expect(throws: FetchError.self) {
            _ = try await fetcher.fetch(FetchRequest(url: server.url + "/loop", maximumRedirects: 2))
        }
        #expect(error?.code == .protocolError)
    }

    @Test func requestHeadersBodyAndMethodArriveAsGiven() async throws {
        let server = try LoopbackServer { _ in LoopbackServer.http(200) }
        defer { server.stop() }
        _ = try await fetcher.fetch(
            FetchRequest(
                url: server.url + "/ocsp", method: .post, body: Array(repeating: 0x30, count: 2000),
                headers: ["Content-Type": "application/ocsp-request"]))
        let post = try #require(server.requests.last)
        #expect(post.hasPrefix("POST /ocsp HTTP/1.1\r\n"))
        #expect(post.contains("Content-Type: application/ocsp-request\r\n"))
        #expect(!post.lowercased().contains("expect:"), "no 100-continue wait")
        #expect(post.hasSuffix(String(repeating: "0", count: 2000)))
        _ = try await fetcher.fetch(FetchRequest(url: server.url + "/x", method: .init(rawValue: "PURGE")))
        #expect(server.requests.last?.hasPrefix("PURGE /x ") == true)
    }

    @Test func onlyHTTPAndHTTPSAreFetched() async {
        for url in ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"] {
            let error = await #expect(throws: FetchError.self) { _ = try await fetcher.fetch(FetchRequest(url: url)) }
            #expect(error?.code == .invalidURL, "\(url)")
        }
    }

    @Test func cancellingTheWaitingTaskAbortsTheTransfer() async throws {
        let server = try LoopbackServer { _ in .silent }
        defer { server.stop() }
        let task = Task { try await fetcher.fetch(FetchRequest(url: server.url + "/x", timeout: .seconds(60))) }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        let error = await #expect(throws: FetchError.self) { _ = try await task.value }
        #expect(error?.code == .cancelled)
    }
}
