extension CRLVerifier {
    /// Why a CRL is not believed: a ``VerificationFailure`` whose ``VerificationFailure/code``
    /// is a ``FailureCode``.
    public typealias Failure = VerificationFailure<FailureCode>

    /// Which check failed, as a value that can grow without breaking callers: match it with
    /// `==` or a `switch` that has a `default`.
    public struct FailureCode: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case malformed, wrongIssuer, badSignature, notYetValid, expired, missingNextUpdate, wrongScope
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Not a DER (or PEM) CRL, or an extension of it that does not decode.
        public static let malformed = FailureCode(.malformed)
        /// Issued under another name than the issuer's.
        public static let wrongIssuer = FailureCode(.wrongIssuer)
        /// The signature does not verify with the issuer's public key.
        public static let badSignature = FailureCode(.badSignature)
        /// thisUpdate is in the future (beyond the skew).
        public static let notYetValid = FailureCode(.notYetValid)
        /// nextUpdate has passed.
        public static let expired = FailureCode(.expired)
        /// No nextUpdate.
        public static let missingNextUpdate = FailureCode(.missingNextUpdate)
        /// Its Issuing Distribution Point does not name the distribution point it was fetched
        /// for (a shard of another part of the population), or it is a delta where a complete
        /// CRL was expected.
        public static let wrongScope = FailureCode(.wrongScope)

        /// The code's name (`malformed`, `wrongScope`, …).
        public var description: String { "\(base)" }
    }
}
