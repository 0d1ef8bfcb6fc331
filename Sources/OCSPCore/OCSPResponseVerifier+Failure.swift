extension OCSPResponseVerifier {
    /// Why a response is not believed: a ``VerificationFailure`` whose ``VerificationFailure/code``
    /// is a ``FailureCode``.
    public typealias Failure = VerificationFailure<FailureCode>

    /// Which check failed, as a value that can grow without breaking callers: match it with
    /// `==` or a `switch` that has a `default`.
    public struct FailureCode: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case malformed, notSuccessful, badSignature, unauthorizedSigner, certIDNotFound
            case notYetValid, expired, missingNextUpdate, nonceMismatch
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Not a DER OCSPResponse.
        public static let malformed = FailureCode(.malformed)
        /// A responseStatus other than successful (tryLater, unauthorized, …).
        public static let notSuccessful = FailureCode(.notSuccessful)
        /// The signature does not verify, or no certificate the ResponderID names was found.
        public static let badSignature = FailureCode(.badSignature)
        /// The signer is neither the issuer nor a responder it authorised (EKU OCSPSigning).
        public static let unauthorizedSigner = FailureCode(.unauthorizedSigner)
        /// No SingleResponse for the CertID asked about.
        public static let certIDNotFound = FailureCode(.certIDNotFound)
        /// thisUpdate is in the future (beyond the skew).
        public static let notYetValid = FailureCode(.notYetValid)
        /// nextUpdate has passed.
        public static let expired = FailureCode(.expired)
        /// No nextUpdate.
        public static let missingNextUpdate = FailureCode(.missingNextUpdate)
        /// A nonce was sent and the response does not echo it.
        public static let nonceMismatch = FailureCode(.nonceMismatch)

        /// The code's name (`malformed`, `badSignature`, …).
        public var description: String { "\(base)" }
    }
}
