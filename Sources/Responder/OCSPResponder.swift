internal import CoreMetrics
public import Foundation
public import OCSPCore
public import OCSPValues
public import RevocationStore
internal import Locking
internal import Synchronization

/// The responder pipeline: request bytes → issuer → cached signed response (or a signature made
/// once and cached) → response bytes. No HTTP here.
///
/// Thread-safe: the store is; the signer table, the single-flight table and the rate limiter are
/// behind mutexes; the signature counter is atomic.
public final class OCSPResponder: Sendable {
    public struct Configuration: Sendable {
        /// When set, overrides every issuer's response validity (nextUpdate − thisUpdate).
        public var validityOverride: TimeInterval?
        /// Re-sign once less than this fraction of a response's validity remains (0 < f < 1).
        public var refreshFraction: Double = 0.5
        /// Live signatures per second allowed for nonce requests, multi-CertID requests and cache
        /// misses, with a burst of the same size; beyond it the answer is `tryLater` (or, for nonce
        /// requests with ``nonceOverflowServesCached``, the cached response without the nonce).
        public var liveSigningRate: Double = 2000
        /// RFC 5019 §4: a responder may answer a nonce request with a cached response without the nonce.
        public var nonceOverflowServesCached = false
        /// Whether signing keys must be readable by their owner only (`--allow-insecure-key-permissions`
        /// lifts it).
        public var keyFilePermissions: PrivateKey.FilePermissions = .ownerOnly

        public init() {}
    }

    /// What one request produced.
    public struct Result: Sendable {
        /// DER of the `OCSPResponse` to send.
        public var body: [UInt8]
        public var status: OCSPResponseStatus
        /// For a successful response: its thisUpdate and nextUpdate (the HTTP caching window).
        public var thisUpdate: Date?
        public var nextUpdate: Date?
        /// Set when the body is a cached response that HTTP caches may keep (no nonce, one CertID).
        public var etag: String?
        /// Whether the request carried a nonce.
        public var hasNonce: Bool
        /// The certificate statuses answered, in request order (for logs and metrics).
        public var certStatuses: [CachedResponse.Kind]
        /// Why the request failed, or what went wrong on the way to a good answer (the signature
        /// cache could not be read), for the operator's log; never sent to the client.
        public var failure: String?
        /// What kind of failure: the client's, or the responder's own (which the operator must see).
        public var failureKind: FailureKind?
        /// For a cacheable response: the certificate it answers for, so an in-process cache can
        /// drop it when the change feed names it (see ``CacheIdentity``).
        public var cacheKey: ResponseKey?
        /// Whether the response was signed for this request (a nonce, a cache miss, several
        /// CertIDs), rather than taken from the signature cache.
        public var signedForRequest = false

        /// Whether intermediaries (and the HTTP front cache) may keep this response.
        public var isCacheable: Bool { etag != nil }
    }

    /// Why a signature was made: the `reason` label of `ocsp_signatures_total`.
    public enum SignatureReason: String, Sendable, CaseIterable {
        /// Filling the cache ahead of requests (`ocspctl presign`, `import --presign`).
        case presign
        /// Re-signing a cached response before its nextUpdate.
        case refresh
        /// A request found no current cached response (or named several certificates).
        case miss
        /// A request carried a nonce.
        case nonce
        /// A certificate's status changed (revoke, hold, release).
        case statusChange = "status_change"
    }

    /// Why a request got no signed answer.
    public enum FailureKind: String, Sendable {
        /// The request was malformed, or named an issuer this responder does not serve.
        case request
        /// The live-signing rate limit was reached.
        case rateLimited
        /// A signature was needed and could not be made (key unreadable, signer expired):
        /// `tryLater`, never a stale or expired response.
        case signing
        /// The store could not be read: `tryLater`, or, when only the signature cache could not
        /// be read, a fresh signature from the status.
        case store
    }

    public let store: RevocationStore
    /// The configuration in force (``reconfigure(_:)`` replaces it).
    public var configuration: Configuration { settings.withLock { $0 } }
    private let settings: LockedValue<Configuration>
    /// Bumped whenever issuer policies may have changed (``reconfigure(_:)``, ``reloadSigners()``),
    /// so each serving thread's ``Reader`` looks its issuers up again.
    let policyGeneration = Atomic<Int>(0)
    private let signers = LockedValue<[IssuerID: IssuerSigner]>([:])
    private let policies = LockedValue<[IssuerID: IssuerPolicy]>([:])
    private let signingFailures = Atomic<Int>(0)
    private let storeFailures = Atomic<Int>(0)
    private let flights = LockedValue<[ResponseKey: Flight]>([:])
    private let limiter: TokenBucket
    private let signatures = Atomic<Int>(0)
    /// swift-metrics handles (whatever backend the process bootstrapped; none in a library test).
    private let signatureCounters: [SignatureReason: Counter]
    private let signingFailureCounter = Counter(label: "ocsp_signing_failures_total")
    private let storeFailureCounter = Counter(label: "ocsp_store_failures_total")
    private let rateLimitedCounter = Counter(label: "ocsp_live_signing_rejections_total")

    public init(store: RevocationStore, configuration: Configuration = Configuration()) {
        self.store = store
        settings = LockedValue(configuration)
        limiter = TokenBucket(rate: configuration.liveSigningRate)
        signatureCounters = Dictionary(
            uniqueKeysWithValues: SignatureReason.allCases.map {
                ($0, Counter(label: "ocsp_signatures_total", dimensions: [("reason", $0.rawValue)]))
            })
    }

    /// Counts one signature.
    private func signed(_ reason: SignatureReason) {
        signatures.add(1, ordering: .relaxed)
        signatureCounters[reason]?.increment()
    }

    public convenience init(store: RevocationStore, validityOverride: TimeInterval?) {
        var configuration = Configuration()
        configuration.validityOverride = validityOverride
        self.init(store: store, configuration: configuration)
    }

    /// How many signatures this responder has made (cache fills, refreshes, nonces).
    public var signatureCount: Int { signatures.load(ordering: .relaxed) }

    /// Requests answered `tryLater` because a signature could not be made, or the store could not be read.
    public var failureCounts: (signing: Int, store: Int) {
        (signingFailures.load(ordering: .relaxed), storeFailures.load(ordering: .relaxed))
    }

    /// Answers a DER `OCSPRequest`. Never throws: every failure is an OCSP error status.
    ///
    /// Never serves a stale or expired answer: a cached response past its nextUpdate is re-signed
    /// before it is served (outside the rate limit: the store holds only so many), and when no
    /// signature can be made the answer is an unsigned `tryLater`. A cached response that cannot
    /// be read or decoded is signed anew from the certificate's status; a status that cannot be
    /// read is `tryLater` too. Never an internal error for a store fault.
    public func respond(to requestDER: [UInt8], now: Date = Date()) -> Result {
        let request: OCSPRequest
        do {
            request = try OCSPRequest(derEncoded: requestDER)
        } catch {
            return .error(.malformedRequest, "\(error)", .request)
        }
        guard request.certIDs.count == 1, let certID = request.certIDs[0] else {
            return respondLive(to: request, now: now)
        }
        let lookup: RevocationStore.CacheLookup
        do {
            (lookup, _) = try store.lookupCached(certID, now: now)
        } catch {
            // The signature cache could not be read: answer from the certificate's status with a
            // fresh signature (within the rate limit), and only if that too cannot be read, tryLater.
            // The operator still hears of it: the answer carries the failure for the log.
            storeFailures.add(1, ordering: .relaxed)
            storeFailureCounter.increment()
            var result = respondLive(to: request, now: now)
            if result.failure == nil {
                result.failure = "cannot read the signature cache: \(error); signed anew from the status"
                result.failureKind = .store
            }
            return result
        }
        switch lookup {
        case .unknownIssuer:
            return .error(.unauthorized, "request names an issuer this responder does not serve", .request)
        case .hit(let key, let cached):
            if request.hasNonce { return respondToNonce(request, cached: cached, now: now) }
            // Signed under another validity policy (ocspd --validity, or the issuer's changed):
            // re-sign once, outside the rate limit since no client can cause it. If that fails,
            // the cached response is still valid: serve it.
            if let policy = try? policy(for: key.issuer), !policy.matches(cached.thisUpdate, cached.nextUpdate),
                let record = try? store.certificate(issuer: key.issuer, serial: key.serial),
                let resigned = try? signOnce(key, record: record, now: now)
            {
                var result = Result.cached(resigned, key: key)
                result.signedForRequest = true
                return result
            }
            return .cached(cached, key: key)
        case .miss(let key, let record, let stale):
            if request.hasNonce { return respondToNonce(request, cached: nil, now: now) }
            // A response that expired (or does not decode) is the refresher's miss, not the
            // client's: re-sign it whatever the rate. A first request for a certificate's response
            // (another hash algorithm, a serial not in the store) waits its turn.
            if !stale, !limiter.tryAcquire(now: now) {
                return rateLimited("live-signing rate limit reached (cache miss)")
            }
            do {
                var result = Result.cached(try signOnce(key, record: record, now: now), key: key)
                result.signedForRequest = true
                return result
            } catch {
                return signingFailure(error)
            }
        }
    }

    private func signingFailure(_ error: any Error) -> Result {
        signingFailures.add(1, ordering: .relaxed)
        signingFailureCounter.increment()
        return .error(.tryLater, "cannot sign: \(error)", .signing)
    }

    private func storeFailure(_ error: any Error) -> Result {
        storeFailures.add(1, ordering: .relaxed)
        storeFailureCounter.increment()
        return .error(.tryLater, "cannot read the store: \(error)", .store)
    }

    private func rateLimited(_ why: String) -> Result {
        rateLimitedCounter.increment()
        return .error(.tryLater, why, .rateLimited)
    }

    private func respondToNonce(_ request: OCSPRequest, cached: CachedResponse?, now: Date) -> Result {
        if limiter.tryAcquire(now: now) { return respondLive(to: request, now: now, limited: false) }
        if configuration.nonceOverflowServesCached, let cached {
            var result = Result.cached(cached, key: nil)
            result.etag = nil  // answered to a nonce request: not for shared caches
            return result
        }
        return rateLimited("live-signing rate limit reached (nonce)")
    }

    /// Signs a fresh response for the whole request (nonce echoed), without the cache.
    private func respondLive(to request: OCSPRequest, now: Date, limited: Bool = true) -> Result {
        if limited, !request.hasNonce, !limiter.tryAcquire(now: now) {
            return rateLimited("live-signing rate limit reached")
        }
        var issuerID: IssuerID? = nil
        var statuses: [CertStatus] = []  // in request order
        var invalidityDates: [Date?] = []  // in request order
        for certID in request.certIDs {
            let lookup: RevocationStore.Lookup
            do {
                guard let certID else {
                    return .error(.unauthorized, "request names an issuer this responder does not serve", .request)
                }
                lookup = try store.lookup(certID)
            } catch {
                return storeFailure(error)
            }
            guard case .known(let id, let record) = lookup else {
                return .error(.unauthorized, "request names an issuer this responder does not serve", .request)
            }
            if let issuerID, issuerID != id {
                return .error(.unauthorized, "request mixes CertIDs of different issuers", .request)
            }
            issuerID = id
            statuses.append(record?.certStatus ?? .unknown)
            invalidityDates.append(record?.invalidityDate)
        }
        guard let issuerID else { return .error(.malformedRequest, "request has no CertID", .request) }
        do {
            let issuer = try signer(for: issuerID)
            let nextUpdate = try issuer.policy.nextUpdate(signedAt: now)
            let singles = zip(request.certIDs, zip(statuses, invalidityDates)).map { certID, state in
                SingleResponse(
                    certID: certID!, status: state.0, thisUpdate: now, nextUpdate: nextUpdate, invalidityDate: state.1)
            }
            let body = try issuer.signer.sign(singles, nonceFrom: request)
            signed(request.hasNonce ? .nonce : .miss)
            return Result(
                body: body, status: .successful, thisUpdate: now, nextUpdate: nextUpdate, etag: nil,
                hasNonce: request.hasNonce, certStatuses: statuses.map(\.cacheKind), failure: nil, failureKind: nil,
                cacheKey: nil, signedForRequest: true)
        } catch {
            return signingFailure(error)
        }
    }

    // MARK: - Signing for the cache

    /// Signs the response for `key` from `record` (nil: not in the store → `unknown`).
    /// - Parameter spread: where in the refresh window (0…1) to schedule its refresh; random if
    ///   nil. Presign passes each response's rank in the batch, which spreads refreshes as evenly
    ///   as random jitter does but keeps the refresh queue's writes in order.
    ///   - reason: why, for `ocsp_signatures_total`.
    public func sign(
        _ key: ResponseKey, record: CertificateRecord?, now: Date = Date(), spread: Double? = nil,
        reason: SignatureReason = .miss
    ) throws -> CachedResponse {
        let issuer = try signer(for: key.issuer)
        let certID = try issuer.certID(key.serial, key.algorithm)
        let status = record?.certStatus ?? .unknown
        let nextUpdate = try issuer.policy.nextUpdate(signedAt: now)
        let der = try issuer.signer.sign([
            SingleResponse(
                certID: certID, status: status, thisUpdate: now, nextUpdate: nextUpdate,
                invalidityDate: record?.invalidityDate)
        ])
        signed(reason)
        // Refresh somewhere in the second half of the time before only `refreshFraction` remains,
        // so a batch signed together is refreshed spread out rather than all at once.
        let refreshAfter = nextUpdate.timeIntervalSince(now) * (1 - configuration.refreshFraction)
        let refreshAt = now.addingTimeInterval(refreshAfter * (0.5 + 0.5 * (spread ?? Double.random(in: 0...1))))
        return CachedResponse(
            der: der, kind: status.cacheKind, thisUpdate: now, nextUpdate: nextUpdate, refreshAt: refreshAt,
            etag: Self.etag(der))
    }

    /// A strong entity tag for a response: the first 64 bits of its SHA-256.
    static func etag(_ der: [UInt8]) -> UInt64 {
        sha256(der).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A ``ResponseSigning`` closure for store writes (revoke, add) of `issuer`'s certificates,
    /// or nil when its key cannot be loaded (the write then drops cached responses instead, and
    /// the next request signs). The error says why.
    public func signing(for issuer: IssuerID, now: Date = Date()) -> (ResponseSigning?, (any Error)?) {
        do {
            _ = try signer(for: issuer)
            return ({ key, record in try self.sign(key, record: record, now: now, reason: .statusChange) }, nil)
        } catch {
            return (nil, error)
        }
    }

    /// Signs a miss once however many requests want it at the same time (single-flight), and
    /// caches the result unless the certificate's status changed meanwhile.
    func signOnce(_ key: ResponseKey, record: CertificateRecord?, now: Date) throws -> CachedResponse {
        let (flight, isLeader) = flights.withLock { table -> (Flight, Bool) in
            if let existing = table[key] { return (existing, false) }
            let flight = Flight()
            table[key] = flight
            return (flight, true)
        }
        guard isLeader else { return try flight.wait() }
        let outcome = Swift.Result {
            let response = try sign(key, record: record, now: now)
            try store.storeResponse(response, for: key, ifRecordIs: record)
            return response
        }
        flights.withLock { $0[key] = nil }
        flight.finish(outcome)
        return try outcome.get()
    }

    /// The signer, issuer certificate and validity for an issuer, loading keys on first use.
    func signer(for id: IssuerID) throws -> IssuerSigner {
        if let cached = signers.withLock({ $0[id] }) { return cached }
        guard let record = try store.issuer(id: id) else {
            throw StoreError(.unknownIssuer, "issuer \(id) vanished from the store")
        }
        let loaded = try IssuerSigner(
            signer: try Self.makeSigner(record, keyFilePermissions: configuration.keyFilePermissions),
            certificate: try Certificate(derEncoded: record.certificateDER), policy: try makePolicy(record))
        signers.withLock { $0[id] = loaded }
        return loaded
    }

    /// How an issuer's responses are timed (validity, signer expiry), from its record: no key needed.
    func policy(for id: IssuerID) throws -> IssuerPolicy {
        if let cached = policies.withLock({ $0[id] }) { return cached }
        guard let record = try store.issuer(id: id) else {
            throw StoreError(.unknownIssuer, "issuer \(id) vanished from the store")
        }
        let policy = try makePolicy(record)
        policies.withLock { $0[id] = policy }
        return policy
    }

    private func makePolicy(_ record: IssuerRecord) throws -> IssuerPolicy {
        let signer = try Certificate(derEncoded: record.responderCertificateDER ?? record.certificateDER)
        return IssuerPolicy(
            validity: configuration.validityOverride ?? record.responseValidity,
            signerNotAfter: signer.notAfter ?? .distantFuture, signerSubject: signer.subject, issuerSubject: record.subject)
    }

    /// One issuer's signer as readiness checks and metrics see it.
    public struct SignerState: Sendable {
        public let issuer: IssuerID
        public let subject: String
        /// The signer certificate's notAfter: no response outlives it.
        public let notAfter: Date
        /// Why it cannot sign now (key unreadable, certificate expired), or nil when it can.
        public let problem: String?
    }

    /// Every issuer's signer: its expiry, and whether it can sign now (its key is loaded, or
    /// loads). Reads key files only for signers not loaded yet.
    public func signerStates(now: Date = Date()) throws -> [SignerState] {
        try store.allIssuers().map { record in
            let policy = try makePolicy(record)
            var problem: String? = nil
            if policy.signerNotAfter <= now {
                problem = "the signer certificate expired at \(policy.signerNotAfter)"
            } else {
                do {
                    // A key in a token that is lost or slow now: cached responses are served, the rest is tryLater.
                    problem = try signer(for: record.id).signer.key.unavailability.map { "PKCS#11 token: \($0)" }
                } catch {
                    problem = "cannot load the signing key: \(error)"
                }
            }
            return SignerState(issuer: record.id, subject: record.subject, notAfter: policy.signerNotAfter, problem: problem)
        }
    }

    /// Forgets the loaded signers and issuer policies, so the next signature reads the store's
    /// issuer records and key files again (SIGHUP: a rotated responder certificate or key is used
    /// from the next signature on).
    public func reloadSigners() {
        signers.withLock { $0.removeAll() }
        policies.withLock { $0.removeAll() }
        policyGeneration.add(1, ordering: .releasing)
    }

    /// Forgets one issuer's loaded signer and policy: the change feed named the whole issuer (its
    /// record replaced, e.g. `ocspctl issuer set-responder`, or a bulk write), so the next
    /// signature reads its record and key again. A running ocspd thus signs with a rotated
    /// responder within the change log's next look, without a restart.
    public func forgetIssuer(_ id: IssuerID) {
        signers.withLock { $0[id] = nil }
        policies.withLock { $0[id] = nil }
        policyGeneration.add(1, ordering: .releasing)
    }

    /// Applies a new configuration (SIGHUP): the live-signing rate at once; the validity policy
    /// and key-file rule from the next signature on (signers are reloaded). Responses signed under
    /// another validity are re-signed when next asked for, as at a restart.
    public func reconfigure(_ configuration: Configuration) {
        settings.withLock { $0 = configuration }
        limiter.setRate(configuration.liveSigningRate)
        reloadSigners()
    }

    /// What is wrong, or soon will be, with an issuer's signer.
    public struct SignerProblem: Sendable, CustomStringConvertible {
        public enum Severity: Sendable { case fatal, warning }
        public let severity: Severity
        public let message: String
        public var description: String { message }
    }

    /// Checks every issuer's signer: its certificate's expiry (expired: fatal; within `warnWithin`:
    /// a warning) and its key (loaded now, so the first request does not wait for it; a key file
    /// others may read: fatal; a key that cannot be loaded: a warning, as cached responses can still
    /// be served until they need re-signing).
    public func checkSigners(now: Date = Date(), warnWithin: TimeInterval = 30 * 86400) throws -> [SignerProblem] {
        var problems: [SignerProblem] = []
        for record in try store.allIssuers() {
            let policy = try makePolicy(record)
            if policy.signerNotAfter <= now {
                problems.append(
                    SignerProblem(
                        severity: .fatal,
                        message:
                            "the signer certificate of \(record.subject) (\(policy.signerSubject)) expired at \(policy.signerNotAfter); issue a new one and run: ocspctl issuer add --replace"))
                continue
            }
            if policy.signerNotAfter.timeIntervalSince(now) < warnWithin {
                let days = Int(policy.signerNotAfter.timeIntervalSince(now) / 86400)
                problems.append(
                    SignerProblem(
                        severity: .warning,
                        message:
                            "the signer certificate of \(record.subject) (\(policy.signerSubject)) expires in \(days) days, at \(policy.signerNotAfter); responses are cut to end then"))
            }
            do {
                _ = try signer(for: record.id)
            } catch let error as OCSPError where error.code == .insecureKeyFile || error.code == .keyConfiguration {
                problems.append(SignerProblem(severity: .fatal, message: "\(record.subject): \(error)"))
            } catch {
                problems.append(
                    SignerProblem(
                        severity: .warning,
                        message: "cannot load the signing key of \(record.subject): \(error); answers that need a new signature will be tryLater"))
            }
        }
        return problems
    }

    /// The signer an issuer record describes: its delegated responder if it has one, else the CA.
    /// Either way the responses carry the signer's certificate, unless the record says to omit it:
    /// OpenSSL's `OCSP_basic_verify` (nginx fetch mode, curl) looks for the signer only in the
    /// response and the chain it is given, so a root that signs its own responses and is not in
    /// the served chain would otherwise not be found.
    public static func makeSigner(
        _ record: IssuerRecord, keyFilePermissions: PrivateKey.FilePermissions = .ownerOnly
    ) throws -> OCSPResponseSigner {
        if let responderDER = record.responderCertificateDER {
            guard let path = record.responderKeyPath else {
                throw StoreError(.corrupt, "issuer has a responder certificate but no responder key")
            }
            return try OCSPResponseSigner(
                certificate: Certificate(derEncoded: responderDER),
                key: PrivateKey.load(reference: path, permissions: keyFilePermissions),
                includesCertificate: !record.omitsSignerCertificate)
        }
        guard let path = record.caKeyPath else {
            throw StoreError(.corrupt, "issuer has neither a responder nor a CA key")
        }
        return try OCSPResponseSigner(
            certificate: Certificate(derEncoded: record.certificateDER),
            key: PrivateKey.load(reference: path, permissions: keyFilePermissions),
            includesCertificate: !record.omitsSignerCertificate)
    }
}

/// When an issuer's responses are valid: `validity` after they are signed, but never past the
/// signer certificate's notAfter (a response must not outlive its signer, RFC 6960 §4.2.2.2).
struct IssuerPolicy: Sendable {
    let validity: TimeInterval
    let signerNotAfter: Date
    let signerSubject: String
    let issuerSubject: String

    /// The nextUpdate of a response signed at `now`.
    /// - Throws: when the signer certificate has expired: nothing it signs would be trusted.
    func nextUpdate(signedAt now: Date) throws -> Date {
        guard signerNotAfter > now else {
            throw OCSPError(
                .signFailed,
                "the signer certificate of \(issuerSubject) (\(signerSubject)) expired at \(signerNotAfter); issue a new one and run: ocspctl issuer add --replace")
        }
        return min(now.addingTimeInterval(validity), signerNotAfter)
    }

    /// Whether a response with these times was signed under this policy (to the second).
    func matches(_ thisUpdate: Date, _ nextUpdate: Date) -> Bool {
        abs(nextUpdate.timeIntervalSince(thisUpdate) - validity) <= 1
            || abs(nextUpdate.timeIntervalSince(signerNotAfter)) <= 1
    }
}

/// What signing for one issuer needs, loaded once.
struct IssuerSigner: Sendable {
    let signer: OCSPResponseSigner
    let certificate: Certificate
    let policy: IssuerPolicy
    /// The issuer name and key hashes of its CertIDs, for each hash algorithm.
    let hashes: [HashAlgorithm: IssuerHashes]

    init(signer: OCSPResponseSigner, certificate: Certificate, policy: IssuerPolicy) throws {
        self.signer = signer
        self.certificate = certificate
        self.policy = policy
        hashes = try Dictionary(uniqueKeysWithValues: HashAlgorithm.allCases.map { ($0, try certificate.issuerHashes($0)) })
    }

    /// The CertID of one of this issuer's serials.
    func certID(_ serial: SerialNumber, _ algorithm: HashAlgorithm) throws -> CertID {
        guard let hashes = hashes[algorithm] else {
            throw OCSPError(.unsupported, "hash algorithm \(algorithm) is not supported")
        }
        return CertID(issuer: hashes, serialNumber: serial)
    }
}

extension OCSPResponder.Result {
    /// An unsigned error response (malformedRequest, internalError, tryLater, unauthorized…).
    public static func error(_ status: OCSPResponseStatus, _ why: String, _ kind: OCSPResponder.FailureKind) -> Self {
        Self(
            body: status.unsignedResponse, status: status, thisUpdate: nil, nextUpdate: nil, etag: nil, hasNonce: false,
            certStatuses: [], failure: why, failureKind: kind, cacheKey: nil)
    }

    static func cached(_ response: CachedResponse, key: ResponseKey?) -> Self {
        Self(
            body: response.der, status: .successful, thisUpdate: response.thisUpdate, nextUpdate: response.nextUpdate,
            etag: response.etagHeader, hasNonce: false, certStatuses: [response.kind], failure: nil, failureKind: nil,
            cacheKey: key)
    }
}

extension OCSPResponder {
    /// The latest stored CRL of an issuer (by its URL slug) and scope, for the HTTP front.
    public func storedCRL(slug: String, scope: CRLScope) throws -> StoredCRL? {
        try store.storedCRL(slug: slug, scope: scope)
    }

    /// The latest revocation filter of an issuer (by its URL slug), or nil.
    public func storedFilter(slug: String) throws -> StoredFilter? {
        try store.storedFilter(slug: slug)
    }
}
