internal import COpenSSL

/// Message digests fetched from OpenSSL's default provider once per process.
///
/// OpenSSL 3 re-fetches a legacy `EVP_sha256()`-style digest (a locked method-store lookup) on
/// every use; an explicitly fetched one is used directly. Measured here: signing OCSP responses
/// spent more time in such lookups than in ECDSA.
enum Digests {
    // nonisolated(unsafe): each is set once, at first use (Swift's lazy global initialisation is
    // thread-safe), and EVP_MD objects are immutable and safe to share between threads.
    nonisolated(unsafe) static let sha1 = fetch("SHA1")
    nonisolated(unsafe) static let sha256 = fetch("SHA256")
    nonisolated(unsafe) static let sha384 = fetch("SHA384")
    nonisolated(unsafe) static let sha512 = fetch("SHA512")

    private static func fetch(_ name: String) -> OpaquePointer {
        guard let digest = EVP_MD_fetch(nil, name, nil) else {
            fatalError("OpenSSL's default provider has no \(name): \(drainOpenSSLErrors())")
        }
        return digest
    }
}
