internal import Foundation

/// HAProxy's runtime API over its stats socket (`stats socket PATH level admin`): hands HAProxy a
/// new staple with `set ssl ocsp-response <base64 DER>`, so the next handshake carries it without
/// a reload. HAProxy finds the certificate the staple is for by the response's CertID, which is
/// why the fetcher hashes CertIDs with SHA-1 (HAProxy 2.6 ignores SHA-256 ones).
public struct HAProxyRuntime: Sendable, Hashable {
    /// The UNIX socket path of HAProxy's `stats socket`.
    public let socketPath: String
    /// How long connecting, sending and reading the answer may each take.
    public let timeout: Duration

    public init(socketPath: String, timeout: Duration = .seconds(5)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// Sends the staple; returns HAProxy's answer.
    /// - Throws: ``StaplingError`` with code ``StaplingError/Code/serverUpdate`` when the socket
    ///   cannot be reached or HAProxy refuses the staple (its answer is in the message).
    @discardableResult
    public func setOCSPResponse(_ der: [UInt8]) throws -> String {
        let answer = try send("set ssl ocsp-response \(Data(der).base64EncodedString())\n")
        // HAProxy 2.6 answers "OCSP Response updated!" and anything else on failure.
        guard answer.contains("OCSP Response updated") else {
            throw StaplingError(
                .serverUpdate, "HAProxy at \(socketPath) refused the staple: \(Self.firstLine(of: answer))")
        }
        return answer
    }

    /// Sends one command and reads the answer until HAProxy closes the connection.
    public func send(_ command: String) throws -> String {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw failure("cannot create a socket") }
        defer { close(descriptor) }
        var time = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else {
            throw StaplingError(.serverUpdate, "the HAProxy socket path \(socketPath) is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            raw[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw failure("cannot connect to HAProxy at \(socketPath)") }

        let bytes = Array(command.utf8)
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes { Foundation.send(descriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if result < 0 {
                if errno == EINTR { continue }
                throw failure("cannot send to HAProxy at \(socketPath)")
            }
            sent += result
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while answer.count < 64 * 1024 {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("no answer from HAProxy at \(socketPath)")
            }
            if count == 0 { break }
            answer += chunk[0..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    private func failure(_ what: String) -> StaplingError {
        StaplingError(.serverUpdate, "\(what): \(String(cString: strerror(errno)))")
    }

    private static func firstLine(of text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.isEmpty ? "(no answer)" : line
    }
}
