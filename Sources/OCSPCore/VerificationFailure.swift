/// Why a signed statement is not believed: an OCSP response (``OCSPResponseVerifier/Failure``)
/// or a CRL (``CRLVerifier/Failure``). A stable ``code`` to match on, and a ``message`` that
/// says what was found.
///
/// Each verifier has its own `Code` (``OCSPResponseVerifier/FailureCode``,
/// ``CRLVerifier/FailureCode``), so the two failures stay distinct types. Equality compares the
/// code only, as with `OCSPError`.
public struct VerificationFailure<CodeType: Hashable & Sendable & CustomStringConvertible>: Error, Hashable, Sendable,
    CustomStringConvertible
{
    /// The verifier's code type: `OCSPResponseVerifier.Failure.Code` is ``OCSPResponseVerifier/FailureCode``.
    public typealias Code = CodeType

    public let code: Code
    public let message: String
    public var description: String { message }

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
