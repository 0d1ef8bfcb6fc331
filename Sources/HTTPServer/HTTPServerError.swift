/// An error from ``HTTPServer``.
package struct HTTPServerError: Error, Hashable, Sendable, CustomStringConvertible {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case invalidAddress, bindFailed }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// `--listen` is not `HOST:PORT` with a numeric address.
        package static let invalidAddress = Code(.invalidAddress)
        /// libmicrohttpd could not bind or start.
        package static let bindFailed = Code(.bindFailed)
        package var description: String { "\(base)" }
    }

    package let code: Code
    package let message: String
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    package var description: String { message }
    package static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    package func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
