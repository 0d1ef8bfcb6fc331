/// An error from ``CRLGenerator``.
public struct CRLError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case noCAKey, noBaseCRL }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The issuer has no usable CA key: CRLs must be signed by the CA itself.
        public static let noCAKey = Code(.noCAKey)
        /// A delta CRL needs a complete CRL to refer to.
        public static let noBaseCRL = Code(.noBaseCRL)
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
