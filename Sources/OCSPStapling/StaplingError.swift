public import OCSPCore

/// Why no staple was fetched: a stable ``code`` to match on, a ``message`` that says what
/// happened, and what the verifier or the responder said, when they said something.
///
/// Equality compares the code only, as with `OCSPError`.
public struct StaplingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What failed, as a value that can grow without breaking callers: match it with `==` or a
    /// `switch` that has a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case noResponderURL, unreachable, rejected, storage, certificate, serverUpdate
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No responder URL: the certificate has no OCSP AIA entry and none was configured.
        public static let noResponderURL = Code(.noResponderURL)
        /// The responder could not be reached, or did not answer in time, or not with HTTP 200.
        public static let unreachable = Code(.unreachable)
        /// The answer is not a response this client believes (see ``StaplingError/verification``).
        public static let rejected = Code(.rejected)
        /// The staple file could not be written or removed.
        public static let storage = Code(.storage)
        /// The certificate or its issuer could not be read, or the issuer is not the certificate's.
        public static let certificate = Code(.certificate)
        /// A TLS server could not be given the staple (HAProxy's runtime API refused it or was
        /// unreachable).
        public static let serverUpdate = Code(.serverUpdate)

        /// The code's name (`unreachable`, `rejected`, …).
        public var description: String { "\(base)" }
    }

    public let code: Code
    public let message: String
    /// For ``Code/rejected``: the verifier's reason.
    public let verification: OCSPResponseVerifier.Failure?
    /// For ``Code/unreachable``: the HTTP status, when the responder answered with one other than 200.
    public let httpStatus: Int?
    public var description: String { message }

    init(_ code: Code, _ message: String, verification: OCSPResponseVerifier.Failure? = nil, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.verification = verification
        self.httpStatus = httpStatus
    }

    public static func == (lhs: StaplingError, rhs: StaplingError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
