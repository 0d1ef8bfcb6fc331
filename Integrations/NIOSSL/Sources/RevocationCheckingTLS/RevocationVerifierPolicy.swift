public import Foundation
public import OCSPCore
public import RevocationChecking
public import SwiftASN1
public import X509

/// The revocation checker as a swift-certificates `VerifierPolicy`, to compose with
/// `RFC5280Policy` inside that library's `Verifier`:
///
/// ```swift
/// var verifier = Verifier(rootCertificates: roots) {
///     RFC5280Policy(validationTime: now)
///     RevocationVerifierPolicy(checker: checker, validationTime: now)
/// }
/// let result = await verifier.validate(leaf: peer, intermediates: CertificateStore(presented))
/// ```
///
/// It checks the chain's leaf against its issuer (the chain's second certificate) with the
/// checker's policy; the decision's reason is the policy failure's reason.
public struct RevocationVerifierPolicy: VerifierPolicy {
    /// TLS Feature (RFC 7633, id-pe-tlsfeature): understood when the policy enforces must-staple.
    public static let tlsFeature: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 1, 24]

    public let checker: RevocationChecker
    /// The staple the peer sent, if any (swift-nio-ssl exposes none; other stacks may).
    public var staple: [UInt8]?
    public var validationTime: Date
    /// Told every decision, accepted or not (to log the reason).
    public var onDecision: (@Sendable (RevocationDecision) -> Void)?

    public init(
        checker: RevocationChecker, staple: [UInt8]? = nil, validationTime: Date = Date(),
        onDecision: (@Sendable (RevocationDecision) -> Void)? = nil
    ) {
        self.checker = checker
        self.staple = staple
        self.validationTime = validationTime
        self.onDecision = onDecision
    }

    public var verifyingCriticalExtensions: [ASN1ObjectIdentifier] {
        checker.policy.mustStaple ? [Self.tlsFeature] : []
    }

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        guard chain.count >= 2 else {
            // A self-signed leaf that is itself a root: nothing above it to ask.
            return .meetsPolicy
        }
        let converted: [OCSPCore.Certificate]
        do {
            converted = try [chain[0], chain[1]].map(OCSPCore.Certificate.init(x509:))
        } catch {
            return .failsToMeetPolicy(reason: "revocation: the certificate cannot be read by the checker: \(error)")
        }
        let decision = await checker.check(chain: converted, staple: staple, at: validationTime)
        onDecision?(decision)
        switch decision.verdict {
        case .accept: return .meetsPolicy
        case .reject: return .failsToMeetPolicy(reason: "revocation: \(decision.reason)")
        }
    }
}

extension OCSPCore.Certificate {
    /// The same certificate, read by OpenSSL from swift-certificates' DER.
    public convenience init(x509 certificate: X509.Certificate) throws {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        try self.init(derEncoded: serializer.serializedBytes)
    }
}
