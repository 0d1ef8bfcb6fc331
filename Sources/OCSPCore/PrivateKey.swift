internal import COpenSSL
internal import Foundation
internal import OCSPValues

/// A private key (an owned OpenSSL `EVP_PKEY`).
///
/// Immutable after init; OpenSSL 3 allows concurrent signing with one `EVP_PKEY`.
public final class PrivateKey: @unchecked Sendable {
    let ref: OpaquePointer  // EVP_PKEY*, owned

    /// The key types this responder signs with.
    public enum Algorithm: String, Sendable {
        case ecP256 = "EC P-256", ecP384 = "EC P-384", rsa = "RSA", ed25519 = "Ed25519", other
    }

    init(taking ref: OpaquePointer) { self.ref = ref }
    deinit { EVP_PKEY_free(ref) }

    /// Decodes an unencrypted PEM private key (PKCS#8, or the traditional EC/RSA forms).
    /// - Throws: ``OCSPError/Code/invalidKey``.
    public convenience init(pemEncoded bytes: [UInt8]) throws {
        ERR_clear_error()
        guard let key = try withReadBIO(bytes, { PEM_read_bio_PrivateKey($0, nil, nil, nil) }) else {
            throw OCSPError.openSSL(.invalidKey, "not an unencrypted PEM private key")
        }
        self.init(taking: key)
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
    ///   - permissions: `.ownerOnly` refuses a file its group or others may read or write.
    /// - Throws: ``OCSPError/Code/io`` if unreadable, ``OCSPError/Code/insecureKeyFile`` if others
    ///   may read it, ``OCSPError/Code/invalidKey`` if not a key.
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
            return try PrivateKey(pemEncoded: bytes)
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
