internal import COpenSSL
internal import Foundation
internal import Locking
internal import OCSPValues

// Signing one response the straightforward way (OCSP_basic_add1_status, OCSP_basic_sign_ctx)
// spends more CPU around the signature than in it: a new BasicOCSPResponse, a decoded CertID,
// new time objects, a private-key check against the certificate, a digest fetch and hash for the
// ResponderID, the signer certificate pushed again, and a second copy of the signing context.
// A template is a BasicOCSPResponse already built and signed once that way; signing another
// response of the same shape overwrites its CertID fields, times and nonce in place and re-signs
// its tbsResponseData. OpenSSL still does every encoding and the signature.
//
// A revoked response with an invalidity date has its own shape: its template carries the
// invalidityDate singleExtension, which OpenSSL re-encodes from each response's date (the
// extension holds its value as DER in an OCTET STRING, so there is no time to patch in place).

/// What a template fixes. Everything else (issuer hashes, serial, times, invalidity date, nonce)
/// is rewritten per response.
struct TemplateShape: Hashable, Sendable {
    enum Status: Hashable, Sendable {
        case good, unknown
        /// `hasInvalidityDate`: whether the SingleResponse carries the invalidityDate extension.
        case revoked(reason: Int32?, hasInvalidityDate: Bool)
    }

    let hashAlgorithm: HashAlgorithm
    let status: Status
    let hasNextUpdate: Bool

    init(_ response: SingleResponse) {
        hashAlgorithm = response.certID.hashAlgorithm
        hasNextUpdate = response.nextUpdate != nil
        switch response.status {
        case .good: status = .good
        case .unknown: status = .unknown
        case .revoked(_, let reason):
            status = .revoked(
                reason: reason.map { Int32($0.rawValue) }, hasInvalidityDate: response.signedInvalidityDate != nil)
        }
    }
}

/// A BasicOCSPResponse with one SingleResponse, re-signed with new contents for each response.
///
/// @unchecked Sendable: used by one thread at a time, which takes it out of the ``TemplatePool``
/// and gives it back when done.
final class ResponseTemplate: @unchecked Sendable {
    let shape: TemplateShape
    private let basic: OpaquePointer  // OCSP_BASICRESP*, owned
    // Borrowed from `basic`, valid as long as it is:
    private let single: OpaquePointer
    private let certID: OpaquePointer
    private let thisUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>
    private let nextUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
    private let revocationTime: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
    private let producedAt: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>
    private let responseData: OpaquePointer
    private let signatureAlgorithm: UnsafeMutablePointer<X509_ALGOR>
    private let signature: UnsafeMutablePointer<ASN1_BIT_STRING>
    /// For EC and RSA keys: a signing operation set up once (EVP_PKEY_sign_init) that signs the
    /// digest of each new tbsResponseData, as `openssl speed` does. The signature algorithm
    /// stays the one the first, full signature wrote. Nil for other keys (Ed25519 signs the
    /// message itself): those go through ASN1_item_sign_ctx each time.
    private let prehash: Prehash?

    /// Builds and signs `response` the full way, keeping the result to re-sign. The CertID is
    /// encoded from its parts, whatever encoding `response` arrived in, so that responses built
    /// from parts (presign, refresh) never inherit a requester's encoding.
    init(_ response: SingleResponse, signer: OCSPResponseSigner, keyed: OCSPResponseSigner.Keyed) throws {
        var response = response
        response.certID = response.certID.builtFromParts
        shape = TemplateShape(response)
        // First, as it may throw: after the allocations below, a throw must free them by hand.
        prehash = try Prehash(key: keyed.key)
        guard let basic = OCSP_BASICRESP_new() else { throw OCSPError.openSSL(.signFailed, "out of memory") }
        self.basic = basic
        do {
            try signer.add(response, to: basic)
            try signer.signFully(basic, with: keyed)
        } catch {
            OCSP_BASICRESP_free(basic)
            throw error
        }
        var revocation: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
        var this: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
        var next: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
        guard let single = OCSP_resp_get0(basic, 0),
            let certID = OCSP_SINGLERESP_get0_id(single),
            OCSP_single_get0_status(single, nil, &revocation, &this, &next) >= 0, let this,
            let producedAt = OCSP_resp_get0_produced_at(basic),
            let responseData = OCSP_resp_get0_respdata(basic),
            let signatureAlgorithm = OCSP_resp_get0_tbs_sigalg(basic),
            let signature = OCSP_resp_get0_signature(basic)
        else {
            OCSP_BASICRESP_free(basic)
            throw OCSPError.openSSL(.signFailed, "a signed BasicOCSPResponse lacks its parts")
        }
        self.single = single
        self.certID = certID
        thisUpdate = this
        nextUpdate = next
        revocationTime = revocation
        // OpenSSL hands these out as const only to keep callers from editing a response by
        // accident; they are plain members of `basic`, which this object owns.
        self.producedAt = UnsafeMutablePointer(mutating: producedAt)
        self.responseData = responseData
        self.signatureAlgorithm = UnsafeMutablePointer(mutating: signatureAlgorithm)
        self.signature = UnsafeMutablePointer(mutating: signature)
    }

    deinit { OCSP_BASICRESP_free(basic) }

    /// Rewrites the template with `response` (of this template's shape) and signs it.
    /// - Returns: DER of the `OCSPResponse`, or nil when `response`'s CertID arrived encoded in a
    ///   way the template would not echo byte for byte (absent hash parameters, say).
    /// - Throws: if OpenSSL fails; the template must then be dropped, not reused.
    func sign(_ response: SingleResponse, nonceFrom request: OCSPRequest?, signing: SigningContext) throws -> [UInt8]? {
        try response.certID.write(into: certID)
        if let received = response.certID.derEncoded {
            let echoed = try encodeDER("CertID") { i2d_OCSP_CERTID(certID, $0) }
            guard echoed == received else { return nil }
        }
        try set(thisUpdate, response.thisUpdate)
        if let nextUpdate, let date = response.nextUpdate { try set(nextUpdate, date) }
        if let revocationTime, case .revoked(let date, _) = response.status { try set(revocationTime, date) }
        if let invalidity = response.signedInvalidityDate { try setInvalidityDate(invalidity) }
        guard ASN1_GENERALIZEDTIME_set(producedAt, time(nil)) != nil else {
            throw OCSPError.openSSL(.encodeFailed, "could not set producedAt")
        }

        let nonce = request?.hasNonce == true
        if nonce, let request, OCSP_copy_nonce(basic, request.ref) != 1 {
            throw OCSPError.openSSL(.signFailed, "could not copy the request nonce")
        }
        defer { if nonce { removeNonce() } }

        if let prehash {
            try prehash.sign(responseData, into: signature)
        } else {
            // Other key types (rare): a fresh copy of the signer's context for each signature. The
            // FINALISE flag lets OpenSSL finish the copy itself instead of duplicating it again.
            guard let context = EVP_MD_CTX_new() else { throw OCSPError.openSSL(.signFailed, "out of memory") }
            defer { EVP_MD_CTX_free(context) }
            guard EVP_MD_CTX_copy_ex(context, signing.ref) == 1 else {
                throw OCSPError.openSSL(.signFailed, "could not copy the signing context")
            }
            EVP_MD_CTX_set_flags(context, Int32(EVP_MD_CTX_FLAG_FINALISE))
            guard
                ASN1_item_sign_ctx(
                    OCSP_RESPDATA_it(), signatureAlgorithm, nil, signature, UnsafeRawPointer(responseData), context) > 0
            else { throw OCSPError.openSSL(.signFailed, "could not sign the OCSP response") }
        }
        return try OCSPResponseSigner.encodeSuccessful(basic)
    }

    private func set(_ time: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>, _ date: Date) throws {
        guard ASN1_GENERALIZEDTIME_set(time, time_t(date.timeIntervalSince1970.rounded(.down))) != nil else {
            throw OCSPError.openSSL(.encodeFailed, "could not encode time \(date)")
        }
    }

    /// Replaces the value of the invalidityDate singleExtension the template was built with.
    private func setInvalidityDate(_ date: Date) throws {
        let time = try makeGeneralizedTime(date)
        defer { ASN1_GENERALIZEDTIME_free(time) }
        guard OCSP_SINGLERESP_add1_ext_i2d(single, NID_invalidity_date, time, 0, UInt(X509V3_ADD_REPLACE_EXISTING)) == 1
        else { throw OCSPError.openSSL(.encodeFailed, "could not set the invalidity date") }
    }

    private func removeNonce() {
        let index = OCSP_BASICRESP_get_ext_by_NID(basic, NID_id_pkix_OCSP_Nonce, -1)
        guard index >= 0 else { return }
        X509_EXTENSION_free(OCSP_BASICRESP_delete_ext(basic, index))
    }
}

/// Signs the digest of a tbsResponseData with an EC or RSA key (PKCS#1 v1.5), reusing one
/// EVP_PKEY_CTX. Belongs to one ``ResponseTemplate``, so to one thread at a time.
final class Prehash {
    private let context: OpaquePointer  // EVP_PKEY_CTX*, owned
    private let digest: OpaquePointer  // EVP_MD*, process-wide (``Digests``)
    private var signatureBuffer: [UInt8]

    /// Nil for keys that must sign the whole message (Ed25519) or whose padding or curve this
    /// responder does not set up (RSA-PSS, other curves).
    init?(key: PrivateKey) throws {
        guard [.ecP256, .ecP384, .rsa].contains(key.algorithm), let digest = key.signingDigest else { return nil }
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key.ref, nil) else {
            throw OCSPError.openSSL(.signFailed, "out of memory")
        }
        guard EVP_PKEY_sign_init(context) == 1, EVP_PKEY_CTX_set_signature_md(context, digest) == 1,
            key.algorithm != .rsa || EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING) == 1
        else {
            EVP_PKEY_CTX_free(context)
            throw OCSPError.openSSL(.signFailed, "cannot sign with a \(key.algorithm.rawValue) key")
        }
        self.context = context
        self.digest = digest
        signatureBuffer = [UInt8](repeating: 0, count: Int(EVP_PKEY_get_size(key.ref)))
    }

    deinit { EVP_PKEY_CTX_free(context) }

    /// Encodes `responseData`, hashes and signs it, and sets the BIT STRING `signature`.
    func sign(_ responseData: OpaquePointer, into signature: UnsafeMutablePointer<ASN1_BIT_STRING>) throws {
        var encoded: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_OCSP_RESPDATA(responseData, &encoded)
        guard length > 0, let encoded else { throw OCSPError.openSSL(.encodeFailed, "could not encode tbsResponseData") }
        defer { COpenSSL_free(encoded) }
        var hash = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var hashLength: UInt32 = 0
        guard EVP_Digest(encoded, Int(length), &hash, &hashLength, digest, nil) == 1 else {
            throw OCSPError.openSSL(.signFailed, "could not hash tbsResponseData")
        }
        var signatureLength = signatureBuffer.count
        guard EVP_PKEY_sign(context, &signatureBuffer, &signatureLength, hash, Int(hashLength)) == 1,
            ASN1_BIT_STRING_set(signature, &signatureBuffer, Int32(signatureLength)) == 1
        else { throw OCSPError.openSSL(.signFailed, "could not sign the OCSP response") }
        // A signature is whole octets: no unused bits (what ASN1_item_sign_ctx sets too).
        signature.pointee.flags &= ~Int(ASN1_STRING_FLAG_BITS_LEFT | 0x07)
        signature.pointee.flags |= Int(ASN1_STRING_FLAG_BITS_LEFT)
    }
}

/// Idle templates of one signer, by shape. A thread takes one, signs, and gives it back, so
/// there are at most as many per shape as threads ever signed that shape at once.
final class TemplatePool: Sendable {
    private let idle = LockedValue<[TemplateShape: [ResponseTemplate]]>([:])
    /// Beyond this many idle templates of one shape, returned ones are freed.
    private static let maximumIdlePerShape = 64

    func take(_ shape: TemplateShape) -> ResponseTemplate? {
        idle.withLock { $0[shape]?.popLast() }
    }

    func giveBack(_ template: ResponseTemplate) {
        idle.withLock { table in
            if table[template.shape, default: []].count < Self.maximumIdlePerShape {
                table[template.shape, default: []].append(template)
            }
        }
    }
}
