public import Foundation
public import OCSPCore
public import OCSPValues
public import RevocationStore
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
        /// Why the request failed, for the operator's log (never sent to the client).
        public var failure: String?
        /// For a cacheable response: the certificate it answers for, so an in-process cache can
        /// drop it when the change feed names it (see ``CacheIdentity``).
        public var cacheKey: ResponseKey?

        /// Whether intermediaries (and the HTTP front cache) may keep this response.
        public var isCacheable: Bool { etag != nil }
    }

    public let store: RevocationStore
    public let configuration: Configuration
    private let signers = Mutex<[IssuerID: IssuerSigner]>([:])
    private let flights = Mutex<[ResponseKey: Flight]>([:])
    private let limiter: TokenBucket
    private let signatures = Atomic<Int>(0)

    public init(store: RevocationStore, configuration: Configuration = Configuration()) {
        self.store = store
        self.configuration = configuration
        limiter = TokenBucket(rate: configuration.liveSigningRate)
    }

    public convenience init(store: RevocationStore, validityOverride: TimeInterval?) {
        var configuration = Configuration()
        configuration.validityOverride = validityOverride
        self.init(store: store, configuration: configuration)
    }

    /// How many signatures this responder has made (cache fills, refreshes, nonces).
    public var signatureCount: Int { signatures.load(ordering: .relaxed) }

    /// Answers a DER `OCSPRequest`. Never throws: every failure is an OCSP error status.
    public func respond(to requestDER: [UInt8], now: Date = Date()) -> Result {
        let request: OCSPRequest
        do {
            request = try OCSPRequest(derEncoded: requestDER)
        } catch {
            return .error(.malformedRequest, "\(error)")
        }
        do {
            guard request.certIDs.count == 1, let certID = request.certIDs[0] else {
                return try respondLive(to: request, now: now)
            }
            let (lookup, _) = try store.lookupCached(certID, now: now)
            switch lookup {
            case .unknownIssuer:
                return .error(.unauthorized, "request names an issuer this responder does not serve")
            case .hit(let key, let cached):
                if request.hasNonce { return try respondToNonce(request, cached: cached, now: now) }
                // Signed under another validity policy (ocspd --validity, or the issuer's changed):
                // re-sign once, outside the rate limit since no client can cause it.
                let validity = try signer(for: key.issuer).validity
                if abs(cached.nextUpdate.timeIntervalSince(cached.thisUpdate) - validity) > 1 {
                    let record = try store.certificate(issuer: key.issuer, serial: key.serial)
                    return .cached(try signOnce(key, record: record, now: now), key: key)
                }
                return .cached(cached, key: key)
            case .miss(let key, let record):
                if request.hasNonce { return try respondToNonce(request, cached: nil, now: now) }
                guard limiter.tryAcquire(now: now) else {
                    return .error(.tryLater, "live-signing rate limit reached (cache miss)")
                }
                return .cached(try signOnce(key, record: record, now: now), key: key)
            }
        } catch {
            return .error(.internalError, "\(error)")
        }
    }

    private func respondToNonce(_ request: OCSPRequest, cached: CachedResponse?, now: Date) throws -> Result {
        if limiter.tryAcquire(now: now) { return try respondLive(to: request, now: now) }
        if configuration.nonceOverflowServesCached, let cached {
            var result = Result.cached(cached, key: nil)
            result.etag = nil  // answered to a nonce request: not for shared caches
            return result
        }
        return .error(.tryLater, "live-signing rate limit reached (nonce)")
    }

    /// Signs a fresh response for the whole request (nonce echoed), without the cache.
    private func respondLive(to request: OCSPRequest, now: Date) throws -> Result {
        if !request.hasNonce, !limiter.tryAcquire(now: now) {
            return .error(.tryLater, "live-signing rate limit reached")
        }
        var issuerID: IssuerID? = nil
        var statuses: [CertStatus] = []  // in request order
        for certID in request.certIDs {
            guard let certID, case .known(let id, let record) = try store.lookup(certID) else {
                return .error(.unauthorized, "request names an issuer this responder does not serve")
            }
            if let issuerID, issuerID != id {
                return .error(.unauthorized, "request mixes CertIDs of different issuers")
            }
            issuerID = id
            statuses.append(record?.certStatus ?? .unknown)
        }
        guard let issuerID else { return .error(.malformedRequest, "request has no CertID") }
        let issuer = try signer(for: issuerID)
        let nextUpdate = now.addingTimeInterval(issuer.validity)
        let singles = zip(request.certIDs, statuses).map { certID, status in
            SingleResponse(certID: certID!, status: status, thisUpdate: now, nextUpdate: nextUpdate)
        }
        let body = try issuer.signer.sign(singles, nonceFrom: request)
        signatures.add(1, ordering: .relaxed)
        return Result(
            body: body, status: .successful, thisUpdate: now, nextUpdate: nextUpdate, etag: nil,
            hasNonce: request.hasNonce, certStatuses: statuses.map(\.cacheKind), failure: nil, cacheKey: nil)
    }

    // MARK: - Signing for the cache

    /// Signs the response for `key` from `record` (nil: not in the store → `unknown`).
    /// - Parameter spread: where in the refresh window (0…1) to schedule its refresh; random if
    ///   nil. Presign passes each response's rank in the batch, which spreads refreshes as evenly
    ///   as random jitter does but keeps the refresh queue's writes in order.
    public func sign(_ key: ResponseKey, record: CertificateRecord?, now: Date = Date(), spread: Double? = nil) throws
        -> CachedResponse
    {
        let issuer = try signer(for: key.issuer)
        let certID = try issuer.certID(key.serial, key.algorithm)
        let status = record?.certStatus ?? .unknown
        let nextUpdate = now.addingTimeInterval(issuer.validity)
        let der = try issuer.signer.sign([
            SingleResponse(certID: certID, status: status, thisUpdate: now, nextUpdate: nextUpdate)
        ])
        signatures.add(1, ordering: .relaxed)
        // Refresh somewhere in the second half of the time before only `refreshFraction` remains,
        // so a batch signed together is refreshed spread out rather than all at once.
        let refreshAfter = issuer.validity * (1 - configuration.refreshFraction)
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
            return ({ key, record in try self.sign(key, record: record, now: now) }, nil)
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
            signer: try Self.makeSigner(record), certificate: try Certificate(derEncoded: record.certificateDER),
            validity: configuration.validityOverride ?? record.responseValidity)
        signers.withLock { $0[id] = loaded }
        return loaded
    }

    /// The signer an issuer record describes: its delegated responder if it has one (whose
    /// certificate the responses carry), else the CA (whose certificate they leave out: the
    /// client has it already).
    public static func makeSigner(_ record: IssuerRecord) throws -> OCSPResponseSigner {
        if let responderDER = record.responderCertificateDER {
            guard let path = record.responderKeyPath else {
                throw StoreError(.corrupt, "issuer has a responder certificate but no responder key")
            }
            return try OCSPResponseSigner(
                certificate: Certificate(derEncoded: responderDER), key: PrivateKey.load(path: path))
        }
        guard let path = record.caKeyPath else {
            throw StoreError(.corrupt, "issuer has neither a responder nor a CA key")
        }
        return try OCSPResponseSigner(
            certificate: Certificate(derEncoded: record.certificateDER), key: PrivateKey.load(path: path),
            includesCertificate: false)
    }
}

/// What signing for one issuer needs, loaded once.
struct IssuerSigner: Sendable {
    let signer: OCSPResponseSigner
    let certificate: Certificate
    let validity: TimeInterval
    /// The issuer name and key hashes of its CertIDs, for each hash algorithm.
    let hashes: [HashAlgorithm: IssuerHashes]

    init(signer: OCSPResponseSigner, certificate: Certificate, validity: TimeInterval) throws {
        self.signer = signer
        self.certificate = certificate
        self.validity = validity
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
    public static func error(_ status: OCSPResponseStatus, _ why: String) -> Self {
        Self(
            body: status.unsignedResponse, status: status, thisUpdate: nil, nextUpdate: nil, etag: nil, hasNonce: false,
            certStatuses: [], failure: why, cacheKey: nil)
    }

    static func cached(_ response: CachedResponse, key: ResponseKey?) -> Self {
        Self(
            body: response.der, status: .successful, thisUpdate: response.thisUpdate, nextUpdate: response.nextUpdate,
            etag: response.etagHeader, hasNonce: false, certStatuses: [response.kind], failure: nil, cacheKey: key)
    }
}

extension OCSPResponder {
    /// The latest stored CRL of an issuer (by its URL slug) and scope, for the HTTP front.
    public func storedCRL(slug: String, scope: CRLScope) throws -> StoredCRL? {
        try store.storedCRL(slug: slug, scope: scope)
    }
}
