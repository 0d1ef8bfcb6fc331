import Dispatch
import Foundation
import OCSPCore
import OCSPValues
import Locking
import Synchronization

/// Decodes and checks a sample of responses off the event loops, so the check's cost (a
/// signature verification) does not show up as latency of other requests.
///
/// A sampled response must decode, be `successful`, answer the CertID asked about with the
/// status the store holds, not be past its nextUpdate, carry a signature that verifies against the
/// issuer (directly or through a delegated responder it issued), and echo the request's nonce if
/// it had one. Each failure is an error of kind `verify-…`.
final class ResponseVerifier: Sendable {
    /// Summary of the checks.
    struct Summary: Sendable {
        var checked = 0
        var passed = 0
        /// Sampled responses not checked because the queue was full (the checker fell behind).
        var skipped = 0
        var failures: [String: Int] = [:]
        var messages: [String] = []
    }

    /// At most this many responses wait for checking; more are skipped (and counted).
    static let maximumPending = 1024

    private let requests: [PreparedRequest]
    private let queue = DispatchQueue(label: "ocsp-load.verify", qos: .utility)
    private let pending = Atomic<Int>(0)
    private let summary = LockedValue(Summary())

    init(requests: [PreparedRequest]) {
        self.requests = requests
    }

    /// Queues `body`, the answer to `requests[index]`, for checking.
    func submit(_ body: [UInt8], request index: Int) {
        guard pending.add(1, ordering: .relaxed).newValue <= Self.maximumPending else {
            pending.subtract(1, ordering: .relaxed)
            summary.withLock { $0.skipped += 1 }
            return
        }
        let request = requests[index]
        queue.async { [self] in
            let failure = Self.check(body, answering: request, now: Date())
            summary.withLock { summary in
                summary.checked += 1
                if let failure {
                    summary.failures[failure.kind, default: 0] += 1
                    if summary.messages.count < LoadStatistics.maximumSamples {
                        summary.messages.append("\(failure.kind): \(failure.message)")
                    }
                } else {
                    summary.passed += 1
                }
            }
            pending.subtract(1, ordering: .relaxed)
        }
    }

    /// Waits for the queued checks and returns the summary.
    func finish() -> Summary {
        queue.sync {}
        return summary.withLock { $0 }
    }

    /// Why `body` is not a correct answer to `request`, or nil when it is: OCSPCore's client
    /// verifier (signature and signer, CertID, times, nonce), and then the status the store holds.
    static func check(_ body: [UInt8], answering request: PreparedRequest, now: Date) -> (
        kind: String, message: String
    )? {
        guard let expectation = request.expectation else {
            // No CertID to check against (requests read from a file): the envelope only.
            guard let response = try? OCSPResponse(derEncoded: body) else {
                return ("verify-decode", "\(request.label): the body is not an OCSPResponse")
            }
            guard response.status == .successful else {
                return ("verify-ocsp-status", "\(request.label): responseStatus \(response.status)")
            }
            if request.hasNonce, !response.echoesNonce(of: request.der) {
                return ("verify-nonce", "\(request.label): the response does not echo the request's nonce")
            }
            return nil
        }
        let verified: OCSPResponseVerifier.Verified
        do {
            verified = try verifier.verify(
                body, answering: request.der, for: expectation.certID, issuer: expectation.issuer, at: now)
        } catch let failure as OCSPResponseVerifier.Failure {
            return (Self.kinds[failure.code] ?? "verify-\(failure.code)", "\(request.label): \(failure)")
        } catch {
            return ("verify-decode", "\(request.label): \(error)")
        }
        guard verified.status == expectation.status else {
            return (
                "verify-status",
                "\(request.label): status \(describe(verified.status)), the store says \(describe(expectation.status))"
            )
        }
        return nil
    }

    private static let verifier = OCSPResponseVerifier()

    /// The error kinds the report has always used, by verifier failure.
    private static let kinds: [OCSPResponseVerifier.Failure.Code: String] = [
        .malformed: "verify-decode", .notSuccessful: "verify-ocsp-status", .nonceMismatch: "verify-nonce",
        .certIDNotFound: "verify-certid", .expired: "verify-stale", .badSignature: "verify-signature",
        .unauthorizedSigner: "verify-signature", .notYetValid: "verify-future", .missingNextUpdate: "verify-no-next-update",
    ]

    private static func describe(_ status: CertStatus) -> String {
        switch status {
        case .good: "good"
        case .unknown: "unknown"
        case .revoked(let time, let reason):
            "revoked at \(time)" + (reason.map { " (\($0.name))" } ?? "")
        }
    }
}
