/// Why a fetch has no answer. ``code`` is stable and can grow; ``message`` says what happened, in
/// one line that names the URL.
public struct FetchError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case refused, unresolved, timedOut, connectionLost, truncated, tooLarge, tls, invalidURL, protocolError
            case cancelled, other
        }

        let base: Base
        public var description: String { base.rawValue }

        /// No connection: refused, or no route (fails at once; the next source can be asked).
        public static let refused = Code(base: .refused)
        /// The host name does not resolve.
        public static let unresolved = Code(base: .unresolved)
        /// No connection, or no complete answer, within the time allowed.
        public static let timedOut = Code(base: .timedOut)
        /// The connection was reset or closed before any answer.
        public static let connectionLost = Code(base: .connectionLost)
        /// The body ended before the length the server announced.
        public static let truncated = Code(base: .truncated)
        /// The body is longer than the request allowed.
        public static let tooLarge = Code(base: .tooLarge)
        /// TLS could not be established (handshake, certificate verification).
        public static let tls = Code(base: .tls)
        /// Not an http or https URL.
        public static let invalidURL = Code(base: .invalidURL)
        /// Not HTTP, or too many redirects.
        public static let protocolError = Code(base: .protocolError)
        /// The task waiting for the answer was cancelled.
        public static let cancelled = Code(base: .cancelled)
        public static let other = Code(base: .other)
    }

    public let code: Code
    public let message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func == (lhs: FetchError, rhs: FetchError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
