internal import Foundation
internal import Synchronization
internal import OCSPCore
internal import OCSPValues
public import RevocationStore

extension OCSPResponder {
    /// A response found by ``Reader/withCachedAnswer(toRequest:now:_:)``: the stored response
    /// with its HTTP values, and the identities an in-process cache files it under.
    public struct CachedAnswer {
        public let response: CachedResponseView
        /// ``CacheIdentity/issuer(_:)`` of its issuer, ``CacheIdentity/certificate(issuer:serial:)`` of its certificate.
        public let issuerIdentity: UInt64
        public let certificateIdentity: UInt64
    }

    /// One serving thread's fast path into the responder: simple requests (RFC 5019 §2.1.1) are
    /// answered from the signature cache through a reused read transaction, with no decoding into
    /// OpenSSL objects and no allocation; the thread's in-process cache follows the store's change
    /// feed through ``synchronize(drop:dropAll:)``.
    ///
    /// > Warning: Not thread-safe. Each serving thread owns one.
    public final class Reader {
        /// An issuer as a CertID names it (hash algorithm ‖ name hash ‖ key hash), its id in the
        /// store and how its responses are timed.
        private struct KnownIssuer {
            let indexKey: [UInt8]
            let id: [UInt8]
            let validity: Int64
            let signerNotAfter: Int64

            /// Whether a response with these times was signed under the issuer's policy (see
            /// `IssuerPolicy.matches`).
            func matches(thisUpdate: Int64, nextUpdate: Int64) -> Bool {
                abs(nextUpdate - thisUpdate - validity) <= 1 || abs(nextUpdate - signerNotAfter) <= 1
            }
        }

        private let responder: OCSPResponder
        private let reader: RevocationStore.Reader
        /// The issuers seen so far (a handful, one entry per hash algorithm used): found by
        /// comparing bytes in place, without hashing, a lock or a store lookup. Emptied when the
        /// change feed says an issuer changed.
        private var issuers: [KnownIssuer] = []
        /// The last change-feed entry applied, and the snapshot it was read in.
        private var changePosition: UInt64
        private var appliedSnapshot: Int
        /// The responder's policy generation the issuer table was filled under.
        private var policyGeneration: Int

        public init(responder: OCSPResponder) throws {
            self.responder = responder
            reader = RevocationStore.Reader(store: responder.store)
            policyGeneration = responder.policyGeneration.load(ordering: .acquiring)
            (changePosition, appliedSnapshot) = try reader.read { snapshot in (try snapshot.lastChange(), snapshot.id) }
        }

        /// Brings an in-process cache up to date with the store. When nothing was committed since
        /// the last call this reads one number from shared memory; otherwise it visits what the
        /// change feed names: `drop` gets the issuer identity and, unless the change concerns all
        /// of the issuer's certificates, the certificate identity. `dropAll` is called when the
        /// feed cannot tell (this reader fell more than the store's ``RevocationStore/changeRetention`` changes behind).
        ///
        /// What a cache holds stays right as long as it calls this before each lookup: an entry
        /// read in a later snapshot than the one applied here can only be dropped needlessly.
        public func synchronize(drop: (_ issuer: UInt64, _ certificate: UInt64?) -> Void, dropAll: () -> Void) throws {
            guard responder.store.changeCounter != appliedSnapshot else { return }
            try reader.read { snapshot in
                let (position, complete) = try snapshot.changes(after: changePosition) { change in
                    if change.serial == nil {
                        // The issuer itself may have changed (validity, signer): look it up again.
                        issuers.removeAll()
                    }
                    drop(
                        CacheIdentity.issuer(change.issuer),
                        change.serial.map { CacheIdentity.certificate(issuer: change.issuer, serial: $0) })
                }
                if !complete {
                    issuers.removeAll()
                    dropAll()
                }
                changePosition = position
                appliedSnapshot = snapshot.id
            }
        }

        /// Answers `der` from the signature cache if it is a simple request whose response is
        /// cached, current at `now` (seconds since 1970) and signed under the issuer's validity.
        /// - Parameters:
        ///   - body: gets the answer; what it holds is valid only inside `body`.
        /// - Returns: what `body` returned, or nil when the request needs the full path
        ///   (``OCSPResponder/respond(to:now:)``): not simple, unknown issuer, not cached, expired.
        ///
        /// A forwarder, inlined into the caller's module (the HTTP front) so it is specialised
        /// there (STYLE §10); the work is ``answerFromCache(toRequest:now:_:)``.
        @inlinable
        public func withCachedAnswer<R>(
            toRequest der: UnsafeRawBufferPointer, now: Int64, _ body: (CachedAnswer) throws -> R
        ) throws -> R? {
            var result: R?
            try answerFromCache(toRequest: der, now: now) { answer in result = try body(answer) }
            return result
        }

        /// Calls `body` with the cached answer to `der`, if there is one (see
        /// ``withCachedAnswer(toRequest:now:_:)``).
        /// - Returns: whether `body` was called.
        @discardableResult
        public func answerFromCache(
            toRequest der: UnsafeRawBufferPointer, now: Int64, _ body: (CachedAnswer) throws -> Void
        ) throws -> Bool {
            guard let request = SimpleOCSPRequest(der: der) else { return false }
            let generation = responder.policyGeneration.load(ordering: .acquiring)
            if generation != policyGeneration {
                // Reconfigured or reloaded: validity and signer expiry may have changed.
                issuers.removeAll()
                policyGeneration = generation
            }
            let serial = UnsafeRawBufferPointer(rebasing: der[request.serialNumber])
            return try reader.read { snapshot -> Bool in
                guard let issuer = try issuer(request, in: der, snapshot) else { return false }
                return try issuer.id.withUnsafeBytes { id -> Bool in
                    guard
                        let response = try snapshot.cachedResponse(
                            issuer: id, hashAlgorithm: request.hashAlgorithm, serial: serial),
                        CachedResponse.isServable(
                            thisUpdate: response.thisUpdate, nextUpdate: response.nextUpdate, now: now),
                        issuer.matches(thisUpdate: response.thisUpdate, nextUpdate: response.nextUpdate)
                    else { return false }
                    try body(
                        CachedAnswer(
                            response: response, issuerIdentity: CacheIdentity.issuer(id),
                            certificateIdentity: CacheIdentity.certificate(issuer: id, serial: serial)))
                    return true
                }
            }
        }

        /// The issuer the request's CertID names: from this thread's table, or looked up in the
        /// store the first time (no key is loaded for it). Nil if the store knows no such issuer.
        private func issuer(
            _ request: SimpleOCSPRequest, in der: UnsafeRawBufferPointer, _ snapshot: borrowing RevocationStore.Snapshot
        ) throws -> KnownIssuer? {
            let nameHash = UnsafeRawBufferPointer(rebasing: der[request.issuerNameHash])
            let keyHash = UnsafeRawBufferPointer(rebasing: der[request.issuerKeyHash])
            let algorithm = request.hashAlgorithm.rawValue
            for known in issuers {
                let matches = known.indexKey.withUnsafeBytes { key in
                    key.count == 1 + nameHash.count + keyHash.count && key[0] == algorithm
                        && memcmp(key.baseAddress! + 1, nameHash.baseAddress!, nameHash.count) == 0
                        && memcmp(key.baseAddress! + 1 + nameHash.count, keyHash.baseAddress!, keyHash.count) == 0
                }
                if matches { return known }
            }
            guard
                let id = try snapshot.issuerID(
                    hashAlgorithm: request.hashAlgorithm, issuerNameHash: nameHash, issuerKeyHash: keyHash)
            else { return nil }
            let policy = try responder.policy(for: IssuerID(bytes: Array(id)))
            let known = KnownIssuer(
                indexKey: [algorithm] + Array(nameHash) + Array(keyHash), id: Array(id),
                validity: Int64(policy.validity.rounded()),
                signerNotAfter: Int64(min(policy.signerNotAfter.timeIntervalSince1970, Double(Int64.max / 2))))
            issuers.append(known)
            return known
        }
    }
}
