import Foundation
import Locking

#if canImport(Glibc)
import Glibc
#endif

/// A TCP server on 127.0.0.1 that answers each connection as the test scripts it, byte for
/// byte: what a real HTTP server would never send (a cut body, a lie in Content-Length) and
/// what it would (a redirect, a 404). It records each request it read.
final class LoopbackServer: @unchecked Sendable {  // the accept thread owns every descriptor; the rest is locked
    enum Reply: Sendable {
        /// Send these bytes, then close.
        case bytes([UInt8])
        /// Read the request, then say nothing and keep the connection open until stop().
        case silent
    }

    let port: UInt16
    private let listener: Int32
    private let script: @Sendable (String) -> Reply
    private let received = LockedValue<[String]>([])
    private let stopped = LockedValue(false)
    private let finished = DispatchSemaphore(value: 0)

    /// - Parameter script: the reply to a request, given its head and body as text.
    init(_ script: @escaping @Sendable (String) -> Reply) throws {
        self.script = script
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = listener
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var requests: [String] { received.withLock { $0 } }

    /// Only this thread closes descriptors, and only its own: a descriptor closed by another
    /// thread could be reused at once by another test's socket or file.
    private func acceptLoop() {
        var silent: [Int32] = []
        defer {
            for connection in silent { close(connection) }
            close(listener)
            finished.signal()
        }
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            guard !stopped.withLock({ $0 }) else {
                close(connection)
                return
            }
            // A client that sends nothing must not hold this thread.
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let request = readRequest(connection)
            received.withLock { $0.append(request) }
            switch script(request) {
            case .bytes(let bytes):
                _ = bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                // FIN, then wait for the client's own close, so that nothing unread turns into a reset.
                shutdown(connection, Int32(SHUT_WR))
                var sink = [UInt8](repeating: 0, count: 512)
                while sink.withUnsafeMutableBytes({ recv(connection, $0.baseAddress, $0.count, 0) }) > 0 {}
                close(connection)
            case .silent:
                silent.append(connection)
            }
        }
    }

    /// The head, and as much body as Content-Length announces.
    private func readRequest(_ connection: Int32) -> String {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            data += buffer[0..<count]
            let text = String(decoding: data, as: UTF8.self)
            guard let end = text.range(of: "\r\n\r\n") else { continue }
            let length = text[..<end.lowerBound].split(separator: "\r\n")
                .first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if text.utf8.count - text.utf8.distance(from: text.utf8.startIndex, to: end.upperBound) >= length { break }
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Stops accepting and waits until the accept thread has closed every descriptor.
    func stop() {
        let first = stopped.withLock { stopped -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        shutdown(listener, Int32(SHUT_RDWR))  // wakes accept(); the descriptor stays the thread's to close
        finished.wait()
    }

    /// An HTTP/1.1 answer: status, headers, body (Content-Length from the body unless given).
    static func http(_ status: Int, _ headers: [String] = [], body: [UInt8] = [], contentLength: Int? = nil) -> Reply {
        var head = "HTTP/1.1 \(status) X\r\nConnection: close\r\n"
        for header in headers { head += header + "\r\n" }
        head += "Content-Length: \(contentLength ?? body.count)\r\n\r\n"
        return .bytes(Array(head.utf8) + body)
    }
}
