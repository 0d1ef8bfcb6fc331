/// An error from ``HTTPServer``.
public struct HTTPServerError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case invalidAddress, bindFailed }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// `--listen` is not `HOST:PORT` with a numeric address.
        public static let invalidAddress = Code(.invalidAddress)
        /// libmicrohttpd could not bind or start.
        public static let bindFailed = Code(.bindFailed)
        public var description: String { "\(base)" }
    }

    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
