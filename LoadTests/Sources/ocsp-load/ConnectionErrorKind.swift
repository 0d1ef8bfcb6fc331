import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The kind a transport failure is counted under. A refused connect (nobody listens: the server is
/// down, or draining and no longer accepting) and a reset connection (the server dropped one it
/// had accepted) are told apart from the rest: a draining server may refuse, but must never reset.
enum ConnectionErrorKind {
    /// `connect-refused` when every address tried refused the connection, else `connect`.
    static func connect(_ error: any Error) -> String {
        refused(error) ? "connect-refused" : "connect"
    }

    /// `reset` when the server reset an established connection (ECONNRESET), else `io`.
    static func io(_ error: any Error) -> String {
        (error as? IOError)?.errnoCode == ECONNRESET ? "reset" : "io"
    }

    private static func refused(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        if let error = error as? NIOConnectionError {
            return error.dnsAError == nil && error.dnsAAAAError == nil && !error.connectionErrors.isEmpty
                && error.connectionErrors.allSatisfy { refused($0.error) }
        }
        return false
    }
}
