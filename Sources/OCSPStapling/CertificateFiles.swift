internal import Foundation
internal import Locking
public import OCSPCore

/// Certificate files read once and kept while they do not change (same size, modification time
/// and inode), so a daemon refreshing thousands of staples, and a directory scanned again and
/// again, parse each file once. (OpenSSL 3 decodes a certificate's public key through its decoder
/// framework, under locks: parsing was 40 % of a refresh's CPU.)
public final class CertificateFiles: Sendable {
    private struct Entry {
        let size: Int64
        let modified: timespec
        let inode: UInt64
        let chain: [Certificate]
    }

    private let entries = LockedValue<[String: Entry]>([:])
    /// Pairs (certificate, issuer) already found to match, by their SHA-256 fingerprints.
    private let issued = LockedValue<Set<[UInt8]>>([])

    public init() {}

    /// The certificates of `path` (`Certificate.loadChain(path:)`), parsed again only when the
    /// file changed.
    public func chain(at path: String) throws -> [Certificate] {
        var status = stat()
        guard stat(path, &status) == 0 else { return try Certificate.loadChain(path: path) }  // its error says why
        if let entry = entries.withLock({ $0[path] }), entry.size == Int64(status.st_size), entry.inode == UInt64(status.st_ino),
            entry.modified.tv_sec == status.st_mtim.tv_sec, entry.modified.tv_nsec == status.st_mtim.tv_nsec
        {
            return entry.chain
        }
        let chain = try Certificate.loadChain(path: path)
        let entry = Entry(size: Int64(status.st_size), modified: status.st_mtim, inode: UInt64(status.st_ino), chain: chain)
        entries.withLock { $0[path] = entry }
        return chain
    }

    /// Whether `issuer` issued `certificate` (`Certificate.isIssued(by:)`), checked once per pair.
    public func isIssued(_ certificate: Certificate, by issuer: Certificate) -> Bool {
        let pair = certificate.fingerprint + issuer.fingerprint
        if issued.withLock({ $0.contains(pair) }) { return true }
        guard certificate.isIssued(by: issuer) else { return false }
        issued.withLock { _ = $0.insert(pair) }
        return true
    }

    /// Forgets files not in `paths` (certificates no longer watched).
    public func keep(only paths: Set<String>) {
        entries.withLock { entries in entries = entries.filter { paths.contains($0.key) } }
    }
}
