internal import Foundation
internal import OCSPCore

/// Verified CRLs by URL, each until a time of its own (complete CRLs and deltas alike).
actor CRLCache {
    private var entries: [String: (crl: VerifiedCRL, expires: Date)] = [:]

    func crl(for url: String, at now: Date) -> VerifiedCRL? {
        guard let entry = entries[url], entry.expires > now else { return nil }
        return entry.crl
    }

    func store(_ crl: VerifiedCRL, for url: String, until expires: Date) { entries[url] = (crl, expires) }
}
