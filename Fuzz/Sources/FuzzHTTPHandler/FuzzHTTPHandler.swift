// libFuzzer target: the HTTP front and its request handler, through a loopback harness: the
// real HTTPServer (libmicrohttpd, front cache, fast and full paths) in this process on a demo
// store, each input sent as raw bytes on a fresh connection. Built by Fuzz/run.sh.
import Foundation
import HTTPServer
import Logging
import OCSPCore
import Responder
import RevocationStore

/// The server, started on first use, on the store `OCSP_FUZZ_STORE` names (Fuzz/run.sh makes a
/// demo PKI there and seeds the corpus with requests for its certificates).
private let harness: (server: HTTPServer, port: UInt16) = {
    guard let path = ProcessInfo.processInfo.environment["OCSP_FUZZ_STORE"] else {
        setupFailed("set OCSP_FUZZ_STORE to a store (Fuzz/run.sh does)")
    }
    do {
        let store = try RevocationStore.open(at: path)
        var configuration = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        let server = HTTPServer(
            configuration: configuration, responder: OCSPResponder(store: store),
            logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        return (server, try server.start())
    } catch {
        setupFailed("\(error)")
    }
}()

/// A harness that cannot start is not a finding: say why and exit, leaving no crash input behind.
private func setupFailed(_ why: String) -> Never {
    FileHandle.standardError.write(Data("fuzz harness: \(why)\n".utf8))
    exit(2)
}

/// Turns an input into what goes on the wire. Most inputs are a request the harness frames
/// (`Connection: close`, so the answer ends with the connection): byte 0 picks the method, byte 1
/// the path's start, then the path's bytes up to a 0 byte, then the body. An input whose first
/// byte is below 8 goes out as it is (libmicrohttpd's own parsing), read for at most 20 ms.
private func wire(_ input: UnsafeRawBufferPointer) -> (bytes: [UInt8], raw: Bool) {
    guard input.count >= 2, input[0] >= 8 else { return (Array(input.dropFirst(min(1, input.count))), true) }
    let methods = ["GET", "POST", "HEAD", "POST", "GET", "PUT", "OPTIONS", "GET"]
    let prefixes = ["/", "/", "/crl/", "/healthz", "/ocsp/", "/", "//", "/"]
    let method = methods[Int(input[0]) % methods.count]
    let rest = input.dropFirst(2)
    let split = rest.firstIndex(of: 0) ?? rest.endIndex
    // Bytes that cannot stand in a request target are percent-encoded, as a client would.
    var target = Array(prefixes[Int(input[1]) % prefixes.count].utf8)
    for byte in rest[..<split] {
        if byte > 0x20, byte < 0x7F, byte != UInt8(ascii: "%") {
            target.append(byte)
        } else {
            target += Array(String(format: "%%%02X", byte).utf8)
        }
    }
    let body = split < rest.endIndex ? Array(rest[(split + 1)...]) : []
    var head = "\(method) \(String(decoding: target, as: UTF8.self)) HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n"
    if method == "POST" || !body.isEmpty {
        head += "Content-Type: application/ocsp-request\r\nContent-Length: \(body.count)\r\n"
    }
    return (Array((head + "\r\n").utf8) + body, false)
}

/// Sends the input's request and reads the answer until the server closes (a raw input: until
/// 20 ms pass without a byte). Every answer that says it is an OCSP response must decode.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPHandler(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let (bytes, raw) = wire(UnsafeRawBufferPointer(start: start, count: count))
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0, "socket")
    defer { close(fd) }
    var timeout = raw ? timeval(tv_sec: 0, tv_usec: 20_000) : timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    // Close with a reset, so a million connections leave no TIME_WAIT behind.
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = harness.port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    precondition(connected == 0, "the server stopped accepting connections")
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { break }  // the server closed first: fine
        sent += n
    }
    // A raw input is sent as it is, then the sending side is closed: libmicrohttpd drops a
    // connection whose request ended unfinished at once (the read timeout is the fallback).
    if raw { shutdown(fd, Int32(SHUT_WR)) }
    var answer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { break }
        answer += chunk.prefix(n)
    }
    checkOCSPAnswers(answer)
    return 0
}

/// Walks the HTTP/1.1 answers in `bytes` (Content-Length framed); each 200 with an OCSP body must decode.
/// (Fuzz/Regressions/FuzzHTTPHandler/head-answer-has-no-body: a pipelined HEAD's answer, whose
/// Content-Length this once took for the length of the next answer's bytes.)
private func checkOCSPAnswers(_ bytes: [UInt8]) {
    var rest = bytes[...]
    let separator: [UInt8] = [13, 10, 13, 10]
    while let end = rest.firstRange(of: separator) {
        let head = String(decoding: rest[..<end.lowerBound], as: UTF8.self).lowercased()
        guard let lengthLine = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(lengthLine.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return }
        // The answer to a HEAD has a Content-Length but no body: the next answer follows at once.
        // (A DER OCSPResponse starts with 0x30, never with "HTTP/".)
        if rest[end.upperBound...].starts(with: "HTTP/1.".utf8) {
            rest = rest[end.upperBound...]
            continue
        }
        let body = rest[end.upperBound...].prefix(length)
        guard body.count == length else { return }
        if head.hasPrefix("http/1.1 200"), head.contains("application/ocsp-response") {
            precondition((try? OCSPResponse(derEncoded: Array(body))) != nil, "a 200 OCSP answer does not decode")
        }
        rest = rest[(end.upperBound + length)...]
    }
}
