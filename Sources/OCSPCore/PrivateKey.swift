internal import COpenSSL
internal import Foundation
internal import OCSPValues

/// A private key (an OpenSSL `EVP_PKEY`).
///
/// Immutable after init; OpenSSL 3 allows concurrent signing with one `EVP_PKEY`.
///
/// Loaded from a PEM file, or from a PKCS#11 token (``load(reference:permissions:)``), it signs
/// the same way: callers do not know where the key lives. A token key signs within the token's
/// limits (bounded, timed, and refused once the token was lost), and ``reloaded()`` gives its
/// replacement after a loss.
public final class PrivateKey: @unchecked Sendable {
    let ref: OpaquePointer  // EVP_PKEY*, owned unless the key is a token's
    /// The token the key is in, and the reopen count it was loaded in; nil for a key in memory.
    let token: PKCS11Token?
    private let generation: Int
    /// What it was loaded from: a file path or a PKCS#11 URI (nil: generated, or from PEM bytes).
    public let reference: String?

    /// The key types this responder signs with.
    public enum Algorithm: String, Sendable {
        case ecP256 = "EC P-256", ecP384 = "EC P-384", rsa = "RSA", ed25519 = "Ed25519", other
    }

    init(taking ref: OpaquePointer, reference: String? = nil) {
        self.ref = ref
        token = nil
        generation = 0
        self.reference = reference
    }

    /// A token's key: the token keeps it (see ``PKCS11Token``).
    init(borrowing ref: OpaquePointer, token: PKCS11Token, generation: Int, reference: String) {
        self.ref = ref
        self.token = token
        self.generation = generation
        self.reference = reference
    }

    deinit { if token == nil { EVP_PKEY_free(ref) } }

    /// Loads the key a reference names: a PKCS#11 URI (RFC 7512, `pkcs11:…`) or a PEM file path.
    /// - Throws: as ``load(path:permissions:)`` for a file; for a URI,
    ///   `OCSPError.Code.keyConfiguration` (bad URI, no module, no PIN, wrong PIN) or
    ///   `OCSPError.Code.keyUnavailable` (no such token or key now).
    public static func load(reference: String, permissions: FilePermissions = .ownerOnly) throws -> PrivateKey {
        guard PKCS11URI.isURI(reference) else { return try load(path: reference, permissions: permissions) }
        let uri = try PKCS11URI(reference)
        return try PKCS11Token.token(for: uri).loadKey(uri)
    }

    /// Runs `body`, a signature with this key: at once for a key in memory; for a token's, within
    /// the token's limits, and only while the key is still valid there.
    /// - Throws: `OCSPError.Code.keyUnavailable` when the token is lost or slow, or `body`'s
    ///   signature failed in the token; then ``reloaded()`` may give a key that works.
    func withSigningAccess<Result>(_ body: () throws -> Result) throws -> Result {
        guard let token else { return try body() }
        return try token.sign(generation: generation, body)
    }

    /// Runs `body`, a signature with this key, and once more with the key reloaded if its token
    /// was lost (for one-off signatures: a CRL, a certificate).
    func signingRetried<Result>(_ body: (PrivateKey) throws -> Result) throws -> Result {
        do {
            return try withSigningAccess { try body(self) }
        } catch let error as OCSPError where error.code == .keyUnavailable {
            guard let reloaded = try reloaded() else { throw error }
            return try reloaded.withSigningAccess { try body(reloaded) }
        }
    }

    /// After this key failed with `OCSPError.Code.keyUnavailable`: the same key loaded again
    /// (the token reopened if it was lost), or nil for a key that is not in a token.
    /// - Throws: `OCSPError.Code.keyUnavailable` while the token stays away (one attempt per
    ///   retry interval), or whatever loading throws.
    public func reloaded() throws -> PrivateKey? {
        guard let token, let reference else { return nil }
        try token.checkRetry(after: generation)
        return try token.loadKey(PKCS11URI(reference))
    }

    /// Why this key cannot sign now (its token lost or slow), or nil.
    public var unavailability: String? { token?.problem }

    /// Decodes an unencrypted PEM private key (PKCS#8, or the traditional EC/RSA forms).
    /// - Throws: `OCSPError.Code.invalidKey`.
    public convenience init(pemEncoded bytes: [UInt8]) throws { try self.init(pemEncoded: bytes, reference: nil) }

    private convenience init(pemEncoded bytes: [UInt8], reference: String?) throws {
        ERR_clear_error()
        guard let key = try withReadBIO(bytes, { PEM_read_bio_PrivateKey($0, nil, nil, nil) }) else {
            throw OCSPError.openSSL(.invalidKey, "not an unencrypted PEM private key")
        }
        self.init(taking: key, reference: reference)
    }

    /// Who may read a private key file.
    public enum FilePermissions: Sendable {
        /// Only its owner (no group or other permission bits): anything else is refused.
        case ownerOnly
        /// Whatever they are (`--allow-insecure-key-permissions`).
        case any
    }

    /// Loads a PEM key file. The file's bytes are zeroed once OpenSSL has decoded them.
    /// - Parameters:
    ///   - path: the PEM file.
    ///   - permissions: `.ownerOnly` refuses a file its group or others may read or write.
    /// - Throws: `OCSPError.Code.io` if unreadable, `OCSPError.Code.insecureKeyFile` if others
    ///   may read it, `OCSPError.Code.invalidKey` if not a key.
    public static func load(path: String, permissions: FilePermissions = .ownerOnly) throws -> PrivateKey {
        if permissions == .ownerOnly {
            var status = stat()
            if stat(path, &status) == 0, status.st_mode & 0o077 != 0 {
                throw OCSPError(
                    .insecureKeyFile,
                    "key file \(path) is readable by others than its owner (mode \(String(status.st_mode & 0o777, radix: 8))): "
                        + "chmod 600 \(path), or pass --allow-insecure-key-permissions")
            }
        }
        var bytes = try readFile(path, what: "key file")
        defer { bytes.withUnsafeMutableBytes { if let base = $0.baseAddress { explicit_bzero(base, $0.count) } } }
        do {
            return try PrivateKey(pemEncoded: bytes, reference: path)
        } catch let error as OCSPError {
            throw OCSPError(error.code, "\(path) is not an unencrypted PEM private key", openSSLErrors: error.openSSLErrors)
        }
    }

    /// Generates a key on a NIST curve (`P-256`, `P-384`).
    public static func generateEC(curve: String = "P-256") throws -> PrivateKey {
        guard let key = COpenSSL_EC_keygen(curve) else {
            throw OCSPError.openSSL(.keyGenerationFailed, "could not generate an EC \(curve) key")
        }
        return PrivateKey(taking: key)
    }

    /// Generates an RSA key.
    public static func generateRSA(bits: Int = 2048) throws -> PrivateKey {
        guard let key = COpenSSL_RSA_keygen(UInt32(bits)) else {
            throw OCSPError.openSSL(.keyGenerationFailed, "could not generate an RSA-\(bits) key")
        }
        return PrivateKey(taking: key)
    }

    /// PKCS#8 PEM, unencrypted.
    public var pemEncoded: [UInt8] {
        (try? withMemoryBIO { PEM_write_bio_PrivateKey($0, ref, nil, nil, 0, nil, nil) }) ?? []
    }

    public var algorithm: Algorithm {
        switch EVP_PKEY_get_base_id(ref) {
        case EVP_PKEY_RSA: return .rsa
        case EVP_PKEY_ED25519: return .ed25519
        case EVP_PKEY_EC:
            switch EVP_PKEY_get_bits(ref) {
            case 256: return .ecP256
            case 384: return .ecP384
            default: return .other
            }
        default: return .other
        }
    }

    /// The digest to sign with: SHA-256 (SHA-384 for P-384), none for Ed25519.
    var signingDigest: OpaquePointer? {
        switch algorithm {
        case .ed25519: return nil
        case .ecP384: return Digests.sha384
        default: return Digests.sha256
        }
    }
}
