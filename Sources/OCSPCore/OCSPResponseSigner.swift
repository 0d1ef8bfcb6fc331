internal import COpenSSL
internal import Locking
public import Foundation
public import OCSPValues

/// One SingleResponse to sign (RFC 6960 §4.2.1).
///
/// ```
/// SingleResponse ::= SEQUENCE {
///    certID                       CertID,
///    certStatus                   CertStatus,
///    thisUpdate                   GeneralizedTime,
///    nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
///    singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
/// ```
public struct SingleResponse: Sendable {
    public var certID: CertID
    public var status: CertStatus
    public var thisUpdate: Date
    public var nextUpdate: Date?
    /// When the private key is known or suspected to have been compromised, for a revoked
    /// certificate: signed as the non-critical `invalidityDate` singleExtension (RFC 5280 §5.3.2,
    /// `InvalidityDate ::= GeneralizedTime`, allowed in OCSP by RFC 6960 §4.4.5). Left out of
    /// `good` and `unknown` responses whatever it holds.
    public var invalidityDate: Date?

    public init(certID: CertID, status: CertStatus, thisUpdate: Date, nextUpdate: Date?, invalidityDate: Date? = nil) {
        self.certID = certID
        self.status = status
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.invalidityDate = invalidityDate
    }

    /// The invalidity date to sign: ``invalidityDate`` when ``status`` is revoked, else nil.
    var signedInvalidityDate: Date? {
        guard case .revoked = status else { return nil }
        return invalidityDate
    }
}

/// Signs BasicOCSPResponses with one key: the CA's own, or a delegated responder's (RFC 6960 §4.2.2.2).
///
/// The ResponderID is byKey (RFC 5019 §2.2.3). A delegated responder's certificate is included
/// (the client needs it to verify); a CA signing its own responses leaves its certificate out,
/// since the client holds the issuer already (RFC 6960 §4.2.2.2), which saves ~40 % of an RSA
/// response.
public struct OCSPResponseSigner: Sendable {
    public let certificate: Certificate
    /// The key in use (a token's key is replaced by its reload after the token was lost).
    public var key: PrivateKey { keyed.withLock { $0 }.key }
    /// Whether responses carry ``certificate`` in their `certs` field.
    public let includesCertificate: Bool
    /// The key and what is made from it once, replaced together when a token key is reloaded.
    private let keyed: LockedValue<Keyed>

    /// - Parameters:
    ///   - certificate: the signer's certificate: the issuer's own, or its delegated responder's.
    ///   - key: the private key of `certificate`.
    ///   - includesCertificate: put `certificate` in each response's `certs` (needed for a
    ///     delegated responder; pass false when `certificate` is the issuer itself).
    /// - Throws: `OCSPError.Code.keyMismatch` if `key` does not belong to `certificate`.
    public init(certificate: Certificate, key: PrivateKey, includesCertificate: Bool = true) throws {
        self.certificate = certificate
        self.includesCertificate = includesCertificate
        keyed = LockedValue(try Keyed(key: key, certificate: certificate))
    }

    /// Builds and signs an `OCSPResponse` with status `successful`. A key in a token that was
    /// lost is reloaded (the token reopened) and the signature tried once more.
    /// - Parameters:
    ///   - responses: the SingleResponses, in request order.
    ///   - request: if given and it carries a nonce, the nonce is echoed.
    /// - Returns: DER of the whole `OCSPResponse`.
    /// - Throws: `OCSPError.Code.keyUnavailable` when the key's token is lost, slow or busy.
    public func sign(_ responses: [SingleResponse], nonceFrom request: OCSPRequest? = nil) throws -> [UInt8] {
        let current = keyed.withLock { $0 }
        do {
            return try current.key.withSigningAccess { try sign(responses, nonceFrom: request, with: current) }
        } catch let error as OCSPError where error.code == .keyUnavailable {
            guard let reloaded = try current.key.reloaded() else { throw error }
            let fresh = reloaded === current.key ? current : try Keyed(key: reloaded, certificate: certificate)
            keyed.withLock { if $0 === current { $0 = fresh } }
            return try fresh.key.withSigningAccess { try sign(responses, nonceFrom: request, with: fresh) }
        }
    }

    private func sign(_ responses: [SingleResponse], nonceFrom request: OCSPRequest?, with keyed: Keyed) throws -> [UInt8] {
        ERR_clear_error()
        if responses.count == 1, let der = try signFromTemplate(responses[0], nonceFrom: request, with: keyed) {
            return der
        }
        guard let basic = OCSP_BASICRESP_new() else { throw OCSPError.openSSL(.signFailed, "out of memory") }
        defer { OCSP_BASICRESP_free(basic) }
        for response in responses {
            try add(response, to: basic)
        }
        if let request, request.hasNonce, OCSP_copy_nonce(basic, request.ref) != 1 {
            throw OCSPError.openSSL(.signFailed, "could not copy the request nonce")
        }
        try signFully(basic, with: keyed)
        return try Self.encodeSuccessful(basic)
    }

    /// Signs one SingleResponse with a template of its shape (made on first use), or returns nil
    /// when its CertID encoding needs the full path.
    private func signFromTemplate(_ response: SingleResponse, nonceFrom request: OCSPRequest?, with keyed: Keyed) throws
        -> [UInt8]?
    {
        let shape = TemplateShape(response)
        let template = try keyed.templates.take(shape) ?? ResponseTemplate(response, signer: self, keyed: keyed)
        // A template whose signing failed part-way is dropped rather than given back.
        let der = try template.sign(response, nonceFrom: request, signing: keyed.signingContext)
        keyed.templates.giveBack(template)
        return der
    }

    /// Signs `basic` with OpenSSL's full checks: the key against the certificate, the ResponderID
    /// (byKey), the signer certificate added (unless left out), producedAt set to now.
    func signFully(_ basic: OpaquePointer, with keyed: Keyed) throws {
        guard let context = EVP_MD_CTX_new() else { throw OCSPError.openSSL(.signFailed, "out of memory") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_MD_CTX_copy_ex(context, keyed.signingContext.ref) == 1,
            OCSP_basic_sign_ctx(
                basic, certificate.ref, context, nil, UInt(OCSP_RESPID_KEY) | (includesCertificate ? 0 : UInt(OCSP_NOCERTS))) == 1
        else { throw OCSPError.openSSL(.signFailed, "could not sign the OCSP response") }
    }

    /// A key with what each signature starts from: a signing context initialised once (each
    /// signature starts from a copy of it, which spares OpenSSL 3 its per-call algorithm fetches,
    /// several times the cost of the ECDSA itself), and responses signed before, re-signed with
    /// new contents (see ``ResponseTemplate``).
    final class Keyed: Sendable {
        let key: PrivateKey
        let signingContext: SigningContext
        let templates = TemplatePool()

        init(key: PrivateKey, certificate: Certificate) throws {
            guard certificate.matches(key) else {
                throw OCSPError(.keyMismatch, "the private key does not match certificate \(certificate.subject)")
            }
            self.key = key
            signingContext = try SigningContext(key: key)
        }
    }

    /// DER of a `successful` OCSPResponse wrapping the signed `basic`.
    static func encodeSuccessful(_ basic: OpaquePointer) throws -> [UInt8] {
        guard let response = OCSP_response_create(Int32(OCSP_RESPONSE_STATUS_SUCCESSFUL), basic) else {
            throw OCSPError.openSSL(.encodeFailed, "could not wrap the OCSP response")
        }
        defer { OCSP_RESPONSE_free(response) }
        return try encodeDER("OCSPResponse") { i2d_OCSP_RESPONSE(response, $0) }
    }

    /// Adds `response` to `basic`: its CertID, status and times, and its invalidity date as a
    /// singleExtension when it has one.
    func add(_ response: SingleResponse, to basic: OpaquePointer) throws {
        let certID = try response.certID.makeOpenSSLCertID()
        defer { OCSP_CERTID_free(certID) }
        let thisUpdate = try makeGeneralizedTime(response.thisUpdate)
        defer { ASN1_GENERALIZEDTIME_free(thisUpdate) }
        let nextUpdate = try response.nextUpdate.map(makeGeneralizedTime)
        defer { nextUpdate.map { ASN1_GENERALIZEDTIME_free($0) } }

        let added: OpaquePointer?
        switch response.status {
        case .good:
            added = OCSP_basic_add1_status(
                basic, certID, V_OCSP_CERTSTATUS_GOOD, 0, nil, thisUpdate, nextUpdate)
        case .unknown:
            added = OCSP_basic_add1_status(
                basic, certID, V_OCSP_CERTSTATUS_UNKNOWN, 0, nil, thisUpdate, nextUpdate)
        case .revoked(let time, let reason):
            let revocationTime = try makeGeneralizedTime(time)
            defer { ASN1_GENERALIZEDTIME_free(revocationTime) }
            let code = reason.map { Int32($0.rawValue) } ?? OCSP_REVOKED_STATUS_NOSTATUS
            added = OCSP_basic_add1_status(
                basic, certID, V_OCSP_CERTSTATUS_REVOKED, code, revocationTime, thisUpdate, nextUpdate)
        }
        guard let added else { throw OCSPError.openSSL(.signFailed, "could not add a SingleResponse") }
        if let invalidity = response.signedInvalidityDate {
            let time = try makeGeneralizedTime(invalidity)
            defer { ASN1_GENERALIZEDTIME_free(time) }
            // OpenSSL encodes the GeneralizedTime into the extension's OCTET STRING (non-critical).
            guard OCSP_SINGLERESP_add1_ext_i2d(added, NID_invalidity_date, time, 0, 0) == 1 else {
                throw OCSPError.openSSL(.signFailed, "could not add the invalidity date")
            }
        }
    }
}

extension OCSPResponseStatus {
    /// DER of an unsigned `OCSPResponse` carrying only this (error) status.
    public var unsignedResponse: [UInt8] {
        guard let response = OCSP_response_create(Int32(rawValue), nil) else { return [] }
        defer { OCSP_RESPONSE_free(response) }
        return (try? encodeDER("OCSPResponse") { i2d_OCSP_RESPONSE(response, $0) }) ?? []
    }
}

/// An `EVP_MD_CTX` set up for signing with one key, never used directly: only copied.
///
/// @unchecked Sendable: immutable after init; `EVP_MD_CTX_copy_ex` only reads it.
final class SigningContext: @unchecked Sendable {
    let ref: OpaquePointer  // EVP_MD_CTX*, owned

    init(key: PrivateKey) throws {
        guard let context = EVP_MD_CTX_new() else { throw OCSPError.openSSL(.signFailed, "out of memory") }
        let digest = key.signingDigest.map { String(cString: EVP_MD_get0_name($0)) }
        guard EVP_DigestSignInit_ex(context, nil, digest, nil, nil, key.ref, nil) == 1 else {
            EVP_MD_CTX_free(context)
            throw OCSPError.openSSL(.signFailed, "cannot sign with a \(key.algorithm.rawValue) key")
        }
        ref = context
    }

    deinit { EVP_MD_CTX_free(ref) }
}
