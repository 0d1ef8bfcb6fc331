public import Foundation

/// CertStatus ::= CHOICE { good, revoked RevokedInfo, unknown } (RFC 6960 §4.2.1).
public enum CertStatus: Hashable, Sendable {
    case good
    /// `reason` is nil when the revocation reason is absent (RFC 5280: unspecified SHOULD be absent).
    case revoked(time: Date, reason: RevocationReason?)
    case unknown

    public var name: String {
        switch self {
        case .good: "good"
        case .revoked: "revoked"
        case .unknown: "unknown"
        }
    }
}

/// OCSPResponseStatus ::= ENUMERATED (RFC 6960 §4.2.1).
public enum OCSPResponseStatus: Int, Sendable {
    case successful = 0
    case malformedRequest = 1
    case internalError = 2
    case tryLater = 3
    case sigRequired = 5
    case unauthorized = 6
}
