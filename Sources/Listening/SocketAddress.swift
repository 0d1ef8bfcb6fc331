package import Foundation

/// A numeric IPv4 or IPv6 socket address for libmicrohttpd's MHD_OPTION_SOCK_ADDR.
package struct SocketAddress {
    private var storage = sockaddr_storage()
    package let isIPv6: Bool

    /// `HOST:PORT` or `[IPV6]:PORT` split into its host and port; nil when it is neither.
    package static func split(_ listen: String) -> (host: String, port: UInt16)? {
        let host: Substring
        let port: Substring
        if listen.hasPrefix("[") {
            guard let close = listen.firstIndex(of: "]"), listen[close...].hasPrefix("]:") else { return nil }
            host = listen[listen.index(after: listen.startIndex)..<close]
            port = listen[close...].dropFirst(2)
        } else if let colon = listen.lastIndex(of: ":") {
            host = listen[..<colon]
            port = listen[listen.index(after: colon)...]
        } else {
            return nil
        }
        guard !host.isEmpty, let number = UInt16(port) else { return nil }
        return (String(host), number)
    }

    /// nil when `host` is not a numeric IPv4 or IPv6 address.
    package init?(host: String, port: UInt16) {
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: v4) { Array($0) }) }
            isIPv6 = false
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: v6) { Array($0) }) }
            isIPv6 = true
        } else {
            return nil
        }
    }

    package func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }

    package var length: socklen_t { socklen_t(isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size) }

    /// The port (host byte order). Both families keep it at the same offset.
    package var port: UInt16 {
        get { withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) } }
        set { withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: newValue.bigEndian, toByteOffset: 2, as: UInt16.self) } }
    }

    /// Binds a socket without SO_REUSEPORT to this address and closes it again. That fails when
    /// another socket listens on the port, which a bind with SO_REUSEPORT would not notice if the
    /// listener set it too. SO_REUSEADDR, as libmicrohttpd sets it, lets the connections of a
    /// previous run still in TIME_WAIT not count. Returns the port, the kernel's pick for port 0.
    package func probePort() -> UInt16? {
        let fd = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var on: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) == 0,
            withSockaddr({ bind(fd, $0, length) }) == 0
        else { return nil }
        var bound = sockaddr_storage()
        var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutableBytes(of: &bound) {
            getsockname(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &size)
        }
        guard named == 0 else { return nil }
        return withUnsafeBytes(of: bound) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }
}
