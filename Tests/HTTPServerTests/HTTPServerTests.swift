import Foundation
@testable import HTTPServer
import Logging
import OCSPCore
import OCSPValues
import OCSPTestSupport
import Responder
import RevocationStore
import Testing

@Suite struct HTTPServerTests {
    let pki: TestPKI
    let server: HTTPServer
    let port: UInt16

    init() throws {
        pki = try TestPKI()
        server = HTTPServer(
            configuration: HTTPServer.Configuration(host: "127.0.0.1", port: 0),
            responder: OCSPResponder(store: pki.store), logger: Logger(label: "test"))
        port = try server.start()
    }

    func requestDER(_ serial: UInt8) throws -> [UInt8] {
        try OCSPRequestBuilder.build([CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [serial]))])
    }

    @Test func servesPOSTAndGETOnOneKeepAliveConnection() throws {
        try pki.store.addCertificate(issuer: IssuerID(certificate: pki.root), serial: SerialNumber(bytes: [1]), notAfter: nil)
        let client = try LoopbackHTTPClient(port: port)
        let post = try client.send(method: "POST", path: "/", body: requestDER(1), contentType: "application/ocsp-request")
        #expect(post.status == 200)
        #expect(post.headers["content-type"] == "application/ocsp-response")
        #expect(post.headers["cache-control"]?.contains("no-store") == true)
        #expect(try OCSPResponse(derEncoded: post.body).responses.first?.status == .good)

        let base64 = Data(try requestDER(1)).base64EncodedString()
        let get = try client.send(method: "GET", path: "/" + base64)
        #expect(get.status == 200)
        #expect(get.headers["cache-control"]?.hasPrefix("max-age=") == true)
        #expect(get.headers["cache-control"]?.contains("public, no-transform, must-revalidate") == true)
        #expect(get.headers["last-modified"] != nil && get.headers["expires"] != nil)
        #expect(try OCSPResponse(derEncoded: get.body).responses.first?.status == .good)
    }

    @Test func garbageGetsMalformedRequestAndTheServerGoesOn() throws {
        let client = try LoopbackHTTPClient(port: port)
        for (method, path, body) in [("POST", "/", [UInt8]()), ("POST", "/", [0x30, 0x80, 0xFF]), ("GET", "/%%%", []), ("GET", "/", [])] {
            let response = try client.send(method: method, path: path, body: body)
            #expect(response.status == 200)
            #expect(try OCSPResponse(derEncoded: response.body).status == .malformedRequest)
        }
        #expect(try client.send(method: "GET", path: "/healthz").status == 200)
    }

    @Test func oversizedBodiesAndOtherMethodsAreRefused() throws {
        let client = try LoopbackHTTPClient(port: port)
        let big = try client.send(method: "POST", path: "/", body: Array(repeating: 0x30, count: 20_000))
        #expect(big.status == 413)
        let put = try LoopbackHTTPClient(port: port).send(method: "PUT", path: "/", body: [1])
        #expect(put.status == 405)
        #expect(put.headers["allow"] == "GET, HEAD, POST")
    }

    @Test func severalThreadsShareOnePortAndAPortInUseIsRefused() throws {
        var configuration = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
        configuration.threads = 3
        let pooled = HTTPServer(configuration: configuration, responder: OCSPResponder(store: pki.store), logger: Logger(label: "test"))
        let pooledPort = try pooled.start()
        defer { pooled.stop() }
        #expect(pooledPort != 0)
        // Many connections, so that every one of the three listening sockets gets some.
        for _ in 0..<24 {
            let response = try LoopbackHTTPClient(port: pooledPort).send(method: "GET", path: "/healthz")
            #expect(response.status == 200)
        }
        // Neither one thread nor several may bind a port a server listens on (SO_REUSEPORT would
        // let the second share it, were the port not probed first).
        for threads in [1, 2] {
            for taken in [pooledPort, port] {
                var second = HTTPServer.Configuration(host: "127.0.0.1", port: taken)
                second.threads = threads
                let other = HTTPServer(configuration: second, responder: OCSPResponder(store: pki.store), logger: Logger(label: "test"))
                #expect(throws: HTTPServerError(.bindFailed, "")) { try other.start() }
            }
        }
    }

    @Test func aRevocationIsAnsweredAtOnceWhileOtherCertificatesStayInTheFrontCache() throws {
        let responder = OCSPResponder(store: pki.store)
        let server = HTTPServer(
            configuration: HTTPServer.Configuration(host: "127.0.0.1", port: 0), responder: responder,
            logger: Logger(label: "test"))
        let port = try server.start()
        defer { server.stop() }
        let rootID = IssuerID(certificate: pki.root)
        for serial in [UInt8(21), 22] {
            try pki.store.addCertificate(
                issuer: rootID, serial: SerialNumber(bytes: [serial]), notAfter: nil, sign: responder.signing(for: rootID).0)
        }
        let client = try LoopbackHTTPClient(port: port)
        func status(_ serial: UInt8) throws -> String {
            let response = try client.send(method: "GET", path: "/" + Data(try requestDER(serial)).base64EncodedString())
            #expect(response.status == 200)
            return try #require(try OCSPResponse(derEncoded: response.body).responses.first).status.name
        }

        #expect(try status(21) == "good" && status(22) == "good")
        #expect(server.statistics.storeAnswers == 2, "both from the signature cache, by the fast path")
        #expect(server.statistics.frontCacheNotAdmitted == 2, "asked once: not kept yet")
        #expect(try status(21) == "good" && status(22) == "good")
        #expect(server.statistics.storeAnswers == 4 && server.statistics.frontCacheInserts == 2, "asked again: kept")
        #expect(try status(22) == "good")
        #expect(server.statistics.frontCacheHits == 1)

        try pki.store.setStatus(
            issuer: rootID, serial: SerialNumber(bytes: [21]), .revoked(time: Date(), reason: .keyCompromise, invalidityDate: nil),
            sign: responder.signing(for: rootID).0)
        #expect(try status(21) == "revoked", "the next request after the revocation returned")
        #expect(server.statistics.frontCacheInvalidated == 1, "only the revoked certificate's entry was dropped")
        #expect(server.statistics.frontCacheCleared == 0)
        #expect(try status(22) == "good")
        #expect(server.statistics.frontCacheHits == 2, "the other certificate is still served from the front cache")
        #expect(server.statistics.fullPathAnswers == 0)
    }

    @Test func listenAddressesParse() throws {
        #expect(try HTTPServer.Configuration(listen: "127.0.0.1:8080").port == 8080)
        #expect(try HTTPServer.Configuration(listen: "[::1]:0").host == "::1")
        #expect(throws: HTTPServerError(.invalidAddress, "")) { try HTTPServer.Configuration(listen: "localhost") }
        #expect(throws: HTTPServerError(.invalidAddress, "")) { try HTTPServer.Configuration(listen: "1.2.3.4:99999") }
        let bad = HTTPServer(
            configuration: HTTPServer.Configuration(host: "not-an-ip", port: 0), responder: OCSPResponder(store: pki.store),
            logger: Logger(label: "test"))
        #expect(throws: HTTPServerError(.invalidAddress, "")) { try bad.start() }
    }
}

/// A minimal blocking HTTP/1.1 client on one keep-alive loopback connection, with a 5 s timeout.
final class LoopbackHTTPClient {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    private let socket: Int32
    private var buffer: [UInt8] = []

    init(port: UInt16) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(socket) }

    func send(method: String, path: String, body: [UInt8] = [], contentType: String? = nil) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        if method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw POSIXError(.EPIPE) }
            sent += n
        }
        let headerEnd = try readUntil { Self.find([13, 10, 13, 10], in: $0) }
        let lines = String(decoding: buffer[..<headerEnd], as: UTF8.self).components(separatedBy: "\r\n")
        buffer.removeFirst(headerEnd + 4)
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        _ = try readUntil { $0.count >= length ? length : nil }
        let body = Array(buffer.prefix(length))
        buffer.removeFirst(length)
        return Response(status: status, headers: headers, body: body)
    }

    private func readUntil(_ done: ([UInt8]) -> Int?) throws -> Int {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let index = done(buffer) { return index }
            let n = recv(socket, &chunk, chunk.count, 0)
            guard n > 0 else { throw POSIXError(.ECONNRESET) }
            buffer += chunk.prefix(n)
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
