public import Foundation
public import OCSPCore
internal import OCSPValues

/// One certificate's staple kept current in a file: fetch, verify, decide, write.
///
/// The policy (what a TLS server must never be handed):
/// - a good answer is written;
/// - a revoked answer is written too (it is the truth), and reported loudly by the caller;
/// - an `unknown` answer is not written: the last good staple stays;
/// - a failure (responder unreachable, an answer that does not verify) writes nothing: the last
///   good staple stays until its nextUpdate;
/// - a staple in the file that no longer verifies (expired, or not for this certificate) is
///   removed when nothing replaces it.
public struct Stapler: Sendable {
    public let fetcher: StapleFetcher

    public init(fetcher: StapleFetcher = StapleFetcher()) { self.fetcher = fetcher }

    /// What one refresh did.
    public struct Outcome: Sendable {
        public enum Status: String, Sendable, CaseIterable {
            case good, revoked, unknown, failed
        }

        public let status: Status
        /// The staple fetched (good, revoked or unknown), if one was.
        public let staple: Staple?
        /// Why nothing was fetched, for ``Status/failed``.
        public let error: StaplingError?
        /// What the file holds now, verified (a new staple, or the last good one kept); nil when
        /// it holds nothing valid.
        public let file: OCSPResponseVerifier.Verified?
        /// Whether the file's bytes changed: a different staple written, or a stale one removed.
        public let changed: Bool
        /// Whether a staple that no longer verified was removed from the file.
        public let removedStale: Bool

        /// Whether the file now holds a staple that verifies (new, or the last good one kept).
        public var fileIsValid: Bool { file != nil }
        /// The nextUpdate of what the file holds, when it is valid.
        public var fileNextUpdate: Date? { file?.nextUpdate }

        /// An outcome for a refresh that could not start (the certificate could not be read).
        public static func failed(_ error: StaplingError) -> Outcome {
            Outcome(status: .failed, staple: nil, error: error, file: nil, changed: false, removedStale: false)
        }
    }

    public func refresh(leaf: Certificate, issuer: Certificate, file: StapleFile, now: Date = Date()) async -> Outcome {
        // The file is read once; what it holds is verified only when that matters (not when the
        // responder answers with the same bytes, the common case).
        let existing = file.read()
        let previous = { verified(existing, leaf: leaf, issuer: issuer, now: now) }
        let staple: Staple
        do {
            staple = try await fetcher.fetch(leaf: leaf, issuer: issuer, now: now)
        } catch {
            let failure = error as? StaplingError ?? StaplingError(.unreachable, "\(error)")
            return keep(previous(), existing, file, status: .failed, staple: nil, error: failure)
        }
        switch staple.verified.status {
        case .unknown:
            return keep(previous(), existing, file, status: .unknown, staple: staple, error: nil)
        case .good, .revoked:
            let status: Outcome.Status = staple.verified.status == .good ? .good : .revoked
            // The same bytes again (a responder serves one pre-signed response until it refreshes
            // it): nothing to write, and nothing for a server to reload.
            guard existing != staple.der else {
                return Outcome(status: status, staple: staple, error: nil, file: staple.verified, changed: false, removedStale: false)
            }
            // An answer older than the staple in place (a cache in front of the responder, or an
            // overtaken fetch) does not replace it.
            let kept = previous()
            if let kept, staple.verified.thisUpdate < kept.thisUpdate {
                return Outcome(status: status, staple: staple, error: nil, file: kept, changed: false, removedStale: false)
            }
            do {
                try file.write(staple.der)
            } catch {
                let failure = error as? StaplingError ?? StaplingError(.storage, "\(error)")
                return keep(kept, existing, file, status: .failed, staple: staple, error: failure)
            }
            return Outcome(status: status, staple: staple, error: nil, file: staple.verified, changed: true, removedStale: false)
        }
    }

    /// What the file holds, verified for this certificate at `now`; nil when absent or no longer valid.
    public func currentStaple(in file: StapleFile, leaf: Certificate, issuer: Certificate, now: Date = Date())
        -> OCSPResponseVerifier.Verified?
    {
        verified(file.read(), leaf: leaf, issuer: issuer, now: now)
    }

    /// `der` verified for this certificate at `now`; nil when absent, not verifying or `unknown`.
    private func verified(_ der: [UInt8]?, leaf: Certificate, issuer: Certificate, now: Date) -> OCSPResponseVerifier.Verified? {
        guard let der,
            let certID = try? CertID(issuer: issuer, serialNumber: leaf.serialNumber, hashAlgorithm: fetcher.options.hashAlgorithm),
            let verified = try? fetcher.options.verifier.verify(der, for: certID, issuer: issuer, at: now),
            verified.status != .unknown
        else { return nil }
        return verified
    }

    /// Nothing new is written: the file keeps a staple that still verifies, or loses one that does not.
    private func keep(
        _ previous: OCSPResponseVerifier.Verified?, _ existing: [UInt8]?, _ file: StapleFile, status: Outcome.Status,
        staple: Staple?, error: StaplingError?
    ) -> Outcome {
        var removed = false
        if previous == nil, existing != nil {
            removed = (try? file.remove()) != nil
        }
        return Outcome(status: status, staple: staple, error: error, file: previous, changed: removed, removedStale: removed)
    }
}
