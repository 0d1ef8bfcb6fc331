import Fetching
import Foundation
@testable import Listening
import Testing

/// The sidecar's operations listener, asked over real loopback sockets by the libcurl fetcher.
@Suite struct MetricsListenerTests {
    @Test func servesMetricsAndHealthAndRefusesTheRest() async throws {
        let listener = MetricsListener(host: "127.0.0.1", port: 0, exposition: { Array("stapler_up 1\n".utf8) })
        let port = try listener.start()
        defer { listener.stop() }
        let base = "http://127.0.0.1:\(port)"
        let fetcher = CurlFetcher()
        let metrics = try await fetcher.fetch(FetchRequest(url: base + "/metrics"))
        #expect(metrics.status == 200 && metrics.body == Array("stapler_up 1\n".utf8))
        #expect(metrics.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        let health = try await fetcher.fetch(FetchRequest(url: base + "/healthz?verbose"))
        #expect(health.status == 200 && health.body == Array("ok\n".utf8))
        #expect(try await fetcher.fetch(FetchRequest(url: base + "/other")).status == 404)
        let post = try await fetcher.fetch(FetchRequest(url: base + "/metrics", method: .post, body: Array(repeating: 1, count: 5000)))
        #expect(post.status == 405)
        let head = try await fetcher.fetch(FetchRequest(url: base + "/metrics", method: .init(rawValue: "HEAD")))
        #expect(head.status == 200 && head.body.isEmpty)
    }

    @Test func addressesAreNumericHostAndPort() throws {
        #expect(MetricsListener.address("127.0.0.1:9406")! == ("127.0.0.1", 9406))
        #expect(MetricsListener.address("[::1]:0")! == ("::1", 0))
        for bad in ["9406", ":9406", "127.0.0.1:", "127.0.0.1:70000", "[::1]9406"] {
            #expect(MetricsListener.address(bad) == nil, "\(bad)")
        }
        let named = MetricsListener(host: "localhost", port: 0, exposition: { [] })
        #expect(throws: MetricsListenerError.self) { try named.start() }
    }
}
