public import Foundation
public import OCSPCore
public import RevocationStore
internal import Synchronization

/// The responder pipeline: request bytes → issuer → status → signed response bytes. No HTTP here.
///
/// Thread-safe: the store is, and the signer cache is behind a mutex.
public final class OCSPResponder: Sendable {
    /// What one request produced.
    public struct Result: Sendable {
        /// DER of the `OCSPResponse` to send.
        public var body: [UInt8]
        public var status: OCSPResponseStatus
        /// For a successful response: its thisUpdate and nextUpdate (the HTTP caching window).
        public var thisUpdate: Date?
        public var nextUpdate: Date?
        /// Whether the request carried a nonce (so the response must not be cached).
        public var hasNonce: Bool
        /// The certificate statuses answered, in request order (for logs and metrics).
        public var certStatuses: [CertStatus]
        /// Why the request failed, for the operator's log (never sent to the client).
        public var failure: String?
    }

    public let store: RevocationStore
    /// When set, overrides every issuer's configured response validity.
    public let validityOverride: TimeInterval?
    private let signers = Mutex<[IssuerID: OCSPResponseSigner]>([:])

    public init(store: RevocationStore, validityOverride: TimeInterval? = nil) {
        self.store = store
        self.validityOverride = validityOverride
    }

    /// Answers a DER `OCSPRequest`. Never throws: every failure is an OCSP error status.
    public func respond(to requestDER: [UInt8], now: Date = Date()) -> Result {
        let request: OCSPRequest
        do {
            request = try OCSPRequest(derEncoded: requestDER)
        } catch {
            return .error(.malformedRequest, "\(error)")
        }
        do {
            return try respond(to: request, now: now)
        } catch {
            return .error(.internalError, "\(error)")
        }
    }

    private func respond(to request: OCSPRequest, now: Date) throws -> Result {
        var issuerID: IssuerID? = nil
        var statuses: [CertStatus] = []
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
        let (signer, validity) = try signer(for: issuerID)
        let nextUpdate = now.addingTimeInterval(validity)
        let singles = zip(request.certIDs, statuses).map { certID, status in
            SingleResponse(certID: certID!, status: status, thisUpdate: now, nextUpdate: nextUpdate)
        }
        let body = try signer.sign(singles, nonceFrom: request)
        return Result(
            body: body, status: .successful, thisUpdate: now, nextUpdate: nextUpdate, hasNonce: request.hasNonce,
            certStatuses: statuses, failure: nil)
    }

    /// The signer and response validity for an issuer, loading keys on first use.
    private func signer(for id: IssuerID) throws -> (OCSPResponseSigner, TimeInterval) {
        guard let record = try store.issuer(id: id) else {
            throw StoreError(.unknownIssuer, "issuer \(id) vanished from the store")
        }
        let validity = validityOverride ?? record.responseValidity
        if let cached = signers.withLock({ $0[id] }) { return (cached, validity) }
        let signer = try Self.makeSigner(record)
        signers.withLock { $0[id] = signer }
        return (signer, validity)
    }

    /// The signer an issuer record describes: its delegated responder if it has one, else the CA.
    public static func makeSigner(_ record: IssuerRecord) throws -> OCSPResponseSigner {
        if let responder = try record.responderCertificate() {
            guard let path = record.responderKeyPath else {
                throw StoreError(.corrupt, "issuer has a responder certificate but no responder key")
            }
            return try OCSPResponseSigner(certificate: responder, key: PrivateKey.load(path: path))
        }
        guard let path = record.caKeyPath else {
            throw StoreError(.corrupt, "issuer has neither a responder nor a CA key")
        }
        return try OCSPResponseSigner(certificate: record.certificate(), key: PrivateKey.load(path: path))
    }
}

extension OCSPResponder.Result {
    /// An unsigned error response (malformedRequest, internalError, tryLater, unauthorized…).
    public static func error(_ status: OCSPResponseStatus, _ why: String) -> Self {
        Self(
            body: status.unsignedResponse, status: status, thisUpdate: nil, nextUpdate: nil, hasNonce: false,
            certStatuses: [], failure: why)
    }
}
