/// An error from ``CRLGenerator``.
package struct CRLError: Error, Hashable, Sendable, CustomStringConvertible {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case noCAKey, noBaseCRL, configuration }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The issuer has no usable CA key: CRLs must be signed by the CA itself.
        package static let noCAKey = Code(.noCAKey)
        /// A delta CRL needs a complete CRL to refer to.
        package static let noBaseCRL = Code(.noBaseCRL)
        /// The CRL policy cannot make CRLs (shards without a public base URL).
        package static let configuration = Code(.configuration)
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
