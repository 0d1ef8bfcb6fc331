internal import CoreMetrics
public import Fetching
internal import Locking
public import Foundation
public import Logging
public import OCSPCore
internal import OCSPValues
internal import OCSPStapling

/// Checks a peer certificate's revocation status the way a ``RevocationPolicy`` says: the
/// revocation filters (offline), a stapled response, then OCSP to the responder, then the CRL,
/// then the failure mode; with an in-memory
/// cache, one fetch shared by concurrent checks of one certificate, and one time budget for the
/// whole check.
///
/// Every OCSP answer, stapled or fetched, goes through `OCSPResponseVerifier` (the fetch is the
/// stapler's `StapleFetcher`); CRLs through `CRLVerifier`.
public final class RevocationChecker: Sendable {
    public let policy: RevocationPolicy
    private let fetcher: any HTTPFetching
    private let logger: Logger
    private let verifier = OCSPResponseVerifier()
    private let answers: AnswerCache
    private let crls = CRLCache()
    private let filters: FilterSources
    private let inFlight = SingleFlight<CertID, NetworkAnswer>()
    private let softFailAccepts: Counter
    private let decisions: (accept: Counter, reject: Counter)

    /// - Parameters:
    ///   - policy: what to ask, in which order, and what to do when nothing answers.
    ///   - fetcher: how OCSP requests and CRL downloads reach the network (libcurl by default).
    ///   - logger: soft-fail accepts are logged at warning level, with the reason.
    public init(
        policy: RevocationPolicy, fetcher: any HTTPFetching = CurlFetcher.shared, logger: Logger = Logger(label: "revocation-checker")
    ) {
        self.policy = policy
        self.fetcher = fetcher
        self.logger = logger
        answers = AnswerCache(capacity: policy.cacheEntries)
        filters = FilterSources(locations: policy.filters, cacheTTL: policy.cacheTTL.seconds, failureTTL: policy.failureCacheTTL.seconds)
        softFailAccepts = Counter(label: "revocation_check_soft_fail_accepts_total")
        decisions = (
            Counter(label: "revocation_check_decisions_total", dimensions: [("verdict", "accept")]),
            Counter(label: "revocation_check_decisions_total", dimensions: [("verdict", "reject")])
        )
    }

    /// Checks the first certificate of `chain` (leaf first, its issuer next).
    /// - Parameters:
    ///   - chain: the peer's certificates: the one checked first, its issuer next.
    ///   - staple: the DER OCSP response the peer stapled, if it did.
    ///   - now: the time to check at (the verification time of every answer).
    public func check(chain: [Certificate], staple: [UInt8]? = nil, at now: Date = Date()) async -> RevocationDecision {
        let decision = await decide(chain: chain, staple: staple, at: now)
        (decision.verdict == .accept ? decisions.accept : decisions.reject).increment()
        return decision
    }

    private func decide(chain: [Certificate], staple: [UInt8]?, at now: Date) async -> RevocationDecision {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: policy.timeout)
        var attempts: [RevocationDecision.Attempt] = []
        guard chain.count >= 2 else {
            return RevocationDecision(
                verdict: .reject, status: nil, source: .policy, reason: "the chain holds no issuer for the certificate",
                attempts: [], nextUpdate: nil)
        }
        let (leaf, issuer) = (chain[0], chain[1])
        let certID: CertID
        do {
            certID = try CertID(issuer: issuer, serialNumber: leaf.serialNumber, hashAlgorithm: .sha1)
        } catch {
            return RevocationDecision(
                verdict: .reject, status: nil, source: .policy, reason: "no CertID for the certificate: \(error)",
                attempts: [], nextUpdate: nil)
        }

        // 0. The revocation filters, offline: revoked or good when one covers the certificate
        // (good does not satisfy must-staple, which wants the staple whatever else says).
        let mustStaple = policy.mustStaple && leaf.isMustStaple
        if !policy.filters.isEmpty {
            let started = clock.now
            // The filters' share, like any source's: OCSP and the CRL, when the policy asks them,
            // keep theirs even if a filter's URL never answers.
            let share = self.share(until: deadline, sourcesLeft: 1 + (useOCSP ? 1 : 0) + (useCRL ? 1 : 0), clock: clock)
            let filterDeadline = started.advanced(by: share)
            let result = await withDeadline(share) {
                await self.filters.answer(leaf: leaf, issuer: issuer, at: now) { url in
                    try await self.download(url, timeout: self.share(until: filterDeadline, sourcesLeft: 1, clock: clock))
                }
            }
            let duration = clock.now - started
            switch (result?.answer, result?.filter) {
            case (.revoked, let filter?):
                attempts.append(.init(source: .filter, url: result?.location, status: "revoked", error: nil, duration: duration))
                // A filter knows no revocation time; it was revoked by the filter's thisUpdate.
                return RevocationDecision(
                    verdict: .reject, status: .revoked(time: filter.metadata.thisUpdate, reason: nil), source: .filter,
                    reason: "filter #\(filter.metadata.sequence) says revoked", attempts: attempts, nextUpdate: filter.metadata.nextUpdate)
            case (.good, let filter?):
                attempts.append(.init(source: .filter, url: result?.location, status: "good", error: nil, duration: duration))
                if !mustStaple { return conclude(.good, source: .filter, nextUpdate: filter.metadata.nextUpdate, attempts: attempts) }
            case (.notCovered(let why), _):
                attempts.append(.init(source: .filter, url: result?.location, status: nil, error: "not covered: \(why)", duration: duration))
            default:
                attempts.append(
                    .init(source: .filter, url: nil, status: nil, error: result?.error ?? "no filter within the \(policy.timeout) budget",
                        duration: duration))
            }
        }

        // 1. The staple, verified like any other answer: it decides when the method is
        // ocsp_stapling; must-staple needs it valid whatever the method.
        if let staple, policy.method == .ocspStapling || mustStaple {
            let started = clock.now
            do {
                let verified = try verifier.verify(staple, for: certID, issuer: issuer, at: now)
                attempts.append(.init(source: .staple, url: nil, status: verified.status.name, error: nil, duration: clock.now - started))
                if verified.status == .unknown {
                    return conclude(verified.status, source: .staple, nextUpdate: verified.nextUpdate, attempts: attempts)
                }
                if policy.method == .ocspStapling {
                    return conclude(verified.status, source: .staple, nextUpdate: verified.nextUpdate, attempts: attempts)
                }
            } catch {
                attempts.append(.init(source: .staple, url: nil, status: nil, error: "\(error)", duration: clock.now - started))
                if mustStaple {
                    return RevocationDecision(
                        verdict: .reject, status: nil, source: .policy,
                        reason: "the certificate is must-staple (TLS Feature status_request) and its staple does not verify: \(error)",
                        attempts: attempts, nextUpdate: nil)
                }
            }
        } else if mustStaple {
            return RevocationDecision(
                verdict: .reject, status: nil, source: .policy,
                reason: "the certificate is must-staple (TLS Feature status_request) and no staple was given",
                attempts: attempts, nextUpdate: nil)
        }

        // 2. The cache, then the network (one fetch for concurrent checks of one certificate).
        if let cached = await answers.answer(for: certID, at: now) {
            attempts.append(.init(source: .cache, url: nil, status: cached.status?.name, error: cached.error, duration: .zero))
            if let status = cached.status {
                return conclude(status, source: .cache, nextUpdate: cached.nextUpdate, attempts: attempts)
            }
            return failureMode("no source answered (remembered for \(policy.failureCacheTTL)): \(cached.error ?? "")", attempts: attempts)
        }
        let remaining = deadline - clock.now
        let progress = Progress()
        let answer = await withDeadline(remaining) {
            await self.inFlight.run(certID) {
                // The fetch remembers its own answer, even when every check waiting for it gave up.
                let answer = await self.ask(leaf: leaf, issuer: issuer, certID: certID, at: now, deadline: deadline, progress: progress)
                await self.remember(answer, for: certID, at: now)
                return answer
            }
        }
        guard let answer else {
            // What was tried before the budget ran out, the source still waited for included.
            attempts += progress.attempts(at: clock.now)
            attempts.append(.init(source: .failureMode, url: nil, status: nil, error: "the \(policy.timeout) budget ran out", duration: remaining))
            let failure = Answer(status: nil, nextUpdate: nil, error: "no answer within the \(policy.timeout) budget")
            await answers.storeIfAbsent(certID, failure, at: now, until: now.addingTimeInterval(policy.failureCacheTTL.seconds))
            return failureMode("no answer within the \(policy.timeout) budget", attempts: attempts)
        }
        attempts += answer.attempts
        if let status = answer.status {
            return conclude(status, source: answer.source, nextUpdate: answer.nextUpdate, attempts: attempts)
        }
        let error = Self.errors(answer)
        return failureMode(error.isEmpty ? "no source to ask (no OCSP URL, no CRL fallback)" : error, attempts: attempts)
    }

    /// Caches what the network said: an answer for its time (``expiry(_:_:_:)``), "nothing
    /// answered" for `failure_cache_ttl`.
    private func remember(_ answer: NetworkAnswer, for certID: CertID, at now: Date) async {
        if let status = answer.status {
            await answers.store(certID, Answer(status: status, nextUpdate: answer.nextUpdate, error: nil), until: expiry(status, answer.nextUpdate, now))
        } else {
            await answers.store(
                certID, Answer(status: nil, nextUpdate: nil, error: Self.errors(answer)), until: now.addingTimeInterval(policy.failureCacheTTL.seconds))
        }
    }

    private static func errors(_ answer: NetworkAnswer) -> String {
        answer.attempts.compactMap(\.error).joined(separator: "; ")
    }

    /// How long an answer is kept: revoked until its nextUpdate; good for at most the TTL.
    private func expiry(_ status: CertStatus, _ nextUpdate: Date?, _ now: Date) -> Date {
        let end = nextUpdate ?? now
        if case .revoked = status { return end }
        return min(end, now.addingTimeInterval(policy.cacheTTL.seconds))
    }

    private func conclude(_ status: CertStatus, source: RevocationDecision.Source, nextUpdate: Date?, attempts: [RevocationDecision.Attempt])
        -> RevocationDecision
    {
        switch status {
        case .good:
            return RevocationDecision(
                verdict: .accept, status: status, source: source, reason: "\(source.rawValue) says good", attempts: attempts,
                nextUpdate: nextUpdate)
        case .revoked(let time, let reason):
            return RevocationDecision(
                verdict: .reject, status: status, source: source,
                reason: "\(source.rawValue) says revoked at \(time)\(reason.map { " (\($0))" } ?? "")", attempts: attempts,
                nextUpdate: nextUpdate)
        case .unknown:
            // An answer, not an outage: the responder does not know the certificate, so its CA
            // does not vouch for it. Soft-fail is for outages; this is refused either way.
            return RevocationDecision(
                verdict: .reject, status: status, source: source, reason: "\(source.rawValue) does not know the certificate (unknown)",
                attempts: attempts, nextUpdate: nextUpdate)
        }
    }

    private func failureMode(_ why: String, attempts: [RevocationDecision.Attempt]) -> RevocationDecision {
        if policy.softFail {
            softFailAccepts.increment()
            logger.warning("revocation status unavailable; accepted because soft_fail is true", metadata: ["reason": "\(why)"])
            return RevocationDecision(
                verdict: .accept, status: nil, source: .failureMode, reason: "soft fail: \(why)", attempts: attempts, nextUpdate: nil)
        }
        return RevocationDecision(
            verdict: .reject, status: nil, source: .failureMode, reason: "hard fail: \(why)", attempts: attempts, nextUpdate: nil)
    }

    // MARK: - Sources

    /// Whether the policy asks OCSP: first, or after the staple.
    private var useOCSP: Bool { policy.method == .ocsp || (policy.method == .ocspStapling && policy.fallback == .ocsp) }
    /// Whether the policy asks the CRL: only, or when OCSP gave no answer.
    private var useCRL: Bool { policy.method == .crl || policy.crlFallback }

    /// How long the next fetch may take: its share of what is left of the budget, when
    /// `sourcesLeft` sources (this one included) are still to be asked, and at most
    /// `source_timeout`. A refused connection fails at once, so its share passes to the next.
    private func share(until deadline: ContinuousClock.Instant, sourcesLeft: Int, clock: ContinuousClock) -> Duration {
        let remaining = deadline - clock.now
        let share = remaining / max(1, sourcesLeft)
        return max(min(share, policy.sourceTimeout ?? share), .milliseconds(1))
    }

    /// OCSP, then the CRL, as the policy says, within the deadline; what was tried goes to
    /// `progress` as it happens (the caller may stop waiting first).
    private func ask(
        leaf: Certificate, issuer: Certificate, certID: CertID, at now: Date, deadline: ContinuousClock.Instant, progress: Progress
    ) async -> NetworkAnswer {
        let clock = ContinuousClock()
        if useOCSP {
            let started = clock.now
            // With a CRL to fall back on, OCSP gets half of what is left: a responder that never
            // answers must leave the CRL its turn.
            var options = StapleFetcher.Options(
                responderURL: policy.ocspURL, timeout: share(until: deadline, sourcesLeft: useCRL ? 2 : 1, clock: clock),
                connectTimeout: policy.connectTimeout, method: policy.httpMethod)
            options.verifier = verifier
            let ocsp = StapleFetcher(options: options, fetcher: fetcher)
            let url = try? ocsp.responderURL(for: leaf)
            progress.begin(.ocsp, url: url, at: started)
            do {
                let answer = try await ocsp.fetch(leaf: leaf, issuer: issuer, now: now)
                progress.end(.init(source: .ocsp, url: url, status: answer.verified.status.name, error: nil, duration: clock.now - started))
                return NetworkAnswer(
                    status: answer.verified.status, nextUpdate: answer.verified.nextUpdate, source: .ocsp, attempts: progress.attempts())
            } catch {
                progress.end(.init(source: .ocsp, url: url, status: nil, error: "\(error)", duration: clock.now - started))
            }
        }
        if useCRL {
            let started = clock.now
            guard let url = leaf.crlURLs.first(where: { $0.hasPrefix("http://") || $0.hasPrefix("https://") }) else {
                progress.end(.init(source: .crl, url: nil, status: nil, error: "the certificate names no HTTP CRL distribution point", duration: .zero))
                return NetworkAnswer(status: nil, nextUpdate: nil, source: .crl, attempts: progress.attempts())
            }
            progress.begin(.crl, url: url, at: started)
            do {
                let crl = try await crl(url, issuer: issuer, at: now, timeout: share(until: deadline, sourcesLeft: 1, clock: clock))
                var status: CertStatus =
                    crl.entry(for: leaf.serialNumber).map { .revoked(time: $0.revocationDate, reason: $0.reason) } ?? .good
                var nextUpdate = crl.nextUpdate
                progress.end(.init(source: .crl, url: url, status: status.name, error: nil, duration: clock.now - started))
                // A delta, when the complete CRL says where they are and one is published. The
                // complete CRL's answer stands without it: the delta leaves a tenth of what is
                // left (at least 50 ms) for that answer to be given.
                if let deltaURL = crl.freshestCRL.first(where: { $0.hasPrefix("http://") || $0.hasPrefix("https://") }) {
                    let deltaStarted = clock.now
                    let reserve = max((deadline - deltaStarted) / 10, .milliseconds(50))
                    let limit = min(deadline - deltaStarted - reserve, policy.sourceTimeout ?? .seconds(86400))
                    progress.begin(.crl, url: deltaURL, at: deltaStarted)
                    do {
                        guard limit > .zero else { throw CheckError("\(deltaURL): no time left in the \(policy.timeout) budget") }
                        if let delta = try await delta(deltaURL, base: crl, issuer: issuer, at: now, timeout: limit) {
                            if let entry = delta.entry(for: leaf.serialNumber) {
                                status = entry.isRemoval ? .good : .revoked(time: entry.revocationDate, reason: entry.reason)
                            }
                            nextUpdate = min(nextUpdate, delta.nextUpdate)
                            progress.end(.init(source: .crl, url: deltaURL, status: status.name, error: nil, duration: clock.now - deltaStarted))
                        } else {
                            progress.end(nil)
                        }
                    } catch {
                        // Without its delta the complete CRL still holds every revocation up to its own time.
                        progress.end(.init(source: .crl, url: deltaURL, status: nil, error: "\(error)", duration: clock.now - deltaStarted))
                    }
                }
                return NetworkAnswer(status: status, nextUpdate: nextUpdate, source: .crl, attempts: progress.attempts())
            } catch {
                progress.end(.init(source: .crl, url: url, status: nil, error: "\(error)", duration: clock.now - started))
            }
        }
        return NetworkAnswer(status: nil, nextUpdate: nil, source: .failureMode, attempts: progress.attempts())
    }

    /// The complete CRL at `url`, verified, from the cache until min(nextUpdate, now + cache_ttl).
    private func crl(_ url: String, issuer: Certificate, at now: Date, timeout: Duration) async throws -> VerifiedCRL {
        if let cached = await crls.crl(for: url, at: now) { return cached }
        guard let der = try await download(url, timeout: timeout) else { throw CheckError("\(url) answered HTTP 404") }
        do {
            let crl = try CRLVerifier().verify(der, issuer: issuer, at: now, distributionPoint: url)
            await crls.store(crl, for: url, until: min(crl.nextUpdate, now.addingTimeInterval(policy.cacheTTL.seconds)))
            return crl
        } catch {
            throw CheckError("\(url): the CRL does not verify: \(error)")
        }
    }

    /// The delta CRL at `url` for `base`, verified; nil when none is published (404) or when it
    /// is not newer than `base` (which then already holds what it says).
    private func delta(_ url: String, base: VerifiedCRL, issuer: Certificate, at now: Date, timeout: Duration) async throws
        -> VerifiedCRL?
    {
        let delta: VerifiedCRL
        if let cached = await crls.crl(for: url, at: now) {
            delta = cached
        } else {
            guard let der = try await download(url, timeout: timeout) else { return nil }
            do {
                delta = try CRLVerifier().verify(der, issuer: issuer, at: now, distributionPoint: nil, delta: true)
            } catch {
                throw CheckError("\(url): the delta CRL does not verify: \(error)")
            }
            await crls.store(delta, for: url, until: min(delta.nextUpdate, now.addingTimeInterval(policy.cacheTTL.seconds)))
        }
        // RFC 5280 §5.2.4: a delta applies to a complete CRL at least as new as its base.
        guard let baseNumber = base.number, let deltaBase = delta.deltaBase, let number = delta.number,
            deltaBase <= baseNumber, number > baseNumber
        else { return nil }
        return delta
    }

    /// The body of a 200 from `url`; nil for a 404.
    private func download(_ url: String, timeout: Duration) async throws -> [UInt8]? {
        let request = FetchRequest(
            url: url, timeout: timeout, connectTimeout: policy.connectTimeout.map { min($0, timeout) },
            maximumBytes: policy.maximumCRLBytes)
        let response: FetchResponse
        do {
            response = try await fetcher.fetch(request)
        } catch {
            throw CheckError("\(error)")
        }
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw CheckError("\(url) answered HTTP \(response.status)") }
        return response.body
    }
}
