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
        private let responder: OCSPResponder
        private let reader: RevocationStore.Reader
        /// The response validity of each issuer seen so far (a handful): found by comparing ids
        /// in place, without hashing or a lock.
        private var validities: [(issuer: [UInt8], validity: Double)] = []
        /// The last change-feed entry applied, and the snapshot it was read in.
        private var changePosition: UInt64
        private var appliedSnapshot: Int

        public init(responder: OCSPResponder) throws {
            self.responder = responder
            reader = RevocationStore.Reader(store: responder.store)
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
                        validities.removeAll { $0.issuer.elementsEqual(change.issuer) }
                    }
                    drop(
                        CacheIdentity.issuer(change.issuer),
                        change.serial.map { CacheIdentity.certificate(issuer: change.issuer, serial: $0) })
                }
                if !complete {
                    validities.removeAll()
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
        public func withCachedAnswer<R>(
            toRequest der: UnsafeRawBufferPointer, now: Int64, _ body: (CachedAnswer) throws -> R
        ) throws -> R? {
            guard let request = SimpleOCSPRequest(der: der) else { return nil }
            let serial = UnsafeRawBufferPointer(rebasing: der[request.serialNumber])
            return try reader.read { snapshot -> R? in
                let lookup = try snapshot.cachedResponse(
                    hashAlgorithm: request.hashAlgorithm,
                    issuerNameHash: UnsafeRawBufferPointer(rebasing: der[request.issuerNameHash]),
                    issuerKeyHash: UnsafeRawBufferPointer(rebasing: der[request.issuerKeyHash]), serial: serial)
                guard case .found(let issuer, let response) = lookup, response.nextUpdate > now,
                    abs(Double(response.nextUpdate - response.thisUpdate) - (try validity(issuer))) <= 1
                else { return nil }
                return try body(
                    CachedAnswer(
                        response: response, issuerIdentity: CacheIdentity.issuer(issuer),
                        certificateIdentity: CacheIdentity.certificate(issuer: issuer, serial: serial)))
            }
        }

        private func validity(_ issuer: UnsafeRawBufferPointer) throws -> Double {
            if let known = validities.first(where: { $0.issuer.elementsEqual(issuer) }) { return known.validity }
            let id = Array(issuer)
            let validity = try responder.signer(for: IssuerID(bytes: id)).validity
            validities.append((id, validity))
            return validity
        }
    }
}
