internal import Foundation
public import Logging
public import NIOSSL
public import RevocationChecking
public import X509

/// Verifies a TLS peer's certificate chain for swift-nio-ssl: the chain to the trust roots
/// (swift-certificates' `Verifier` with `RFC5280Policy`), then its revocation status (the
/// checker, as ``RevocationVerifierPolicy``). For an mTLS server checking client certificates
/// and for a client checking its server:
///
/// ```swift
/// let verifier = PeerCertificateVerifier(trustRoots: [root], checker: checker, logger: logger)
/// NIOSSLServerHandler(context: context, customVerificationCallback: verifier.callback)
/// ```
///
/// swift-nio-ssl hands a custom callback every verification (BoringSSL's own is skipped), which is
/// why the chain is verified here too. It exposes no stapled OCSP response to the callback, so
/// on this path the checker asks OCSP and CRLs (a policy with `method: ocsp_stapling` goes
/// straight to its fallback, and `must_staple` certificates are refused).
public struct PeerCertificateVerifier: Sendable {
    public let trustRoots: [X509.Certificate]
    public let checker: RevocationChecker
    private let logger: Logger

    public init(trustRoots: [X509.Certificate], checker: RevocationChecker, logger: Logger) {
        self.trustRoots = trustRoots
        self.checker = checker
        self.logger = logger
    }

    /// The callback for `NIOSSLServerHandler` / `NIOSSLClientHandler`.
    public var callback: NIOSSLCustomVerificationCallback {
        { certificates, promise in
            let presented = certificates.map { (try? $0.toDERBytes()) ?? [] }
            promise.completeWithTask {
                await self.refusal(presented: presented) == nil ? .certificateVerified : .failed
            }
        }
    }

    /// Why the chain presented (DER, leaf first) is refused, or nil when it is accepted. A
    /// refusal is logged at warning level with its reason.
    public func refusal(presented: [[UInt8]]) async -> String? {
        let reason = await evaluate(presented: presented, at: Date())
        if let reason {
            logger.warning("peer certificate refused", metadata: ["reason": "\(reason)"])
        }
        return reason
    }

    private func evaluate(presented: [[UInt8]], at now: Date) async -> String? {
        let chain: [X509.Certificate]
        do {
            chain = try presented.map { try X509.Certificate(derEncoded: $0) }
        } catch {
            return "the peer's certificates do not parse: \(error)"
        }
        guard let leaf = chain.first else { return "the peer presented no certificate" }
        let checker = self.checker
        var verifier = Verifier(rootCertificates: CertificateStore(trustRoots)) {
            RFC5280Policy()
            RevocationVerifierPolicy(checker: checker, validationTime: now)
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(chain.dropFirst())) {
        case .validCertificate:
            return nil
        case .couldNotValidate(let failures):
            guard let first = failures.first else { return "no chain to a trusted root" }
            return failures.map { "\($0.policyFailureReason)" }.first { $0.hasPrefix("revocation:") }
                ?? "\(first.policyFailureReason)"
        }
    }
}
