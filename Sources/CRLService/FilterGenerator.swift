package import Foundation
package import OCSPCore
internal import OCSPValues
package import RevocationStore

/// How an issuer's revocation filters are made.
package struct FilterPolicy: Sendable, Equatable {
    /// nextUpdate − thisUpdate.
    package var validity: TimeInterval = 7 * 86400
    /// How far before thisUpdate coverage ends: the longest a CA backdates notBefore, and the
    /// longest between issuing a certificate and recording it in the store. A certificate with a
    /// later notBefore is "not covered" (a relying party asks OCSP instead).
    package var coverageMargin: TimeInterval = 3600

    package init() {}
}

/// Makes an issuer's revocation filter from the store (see ``RevocationFilter``): its revoked and
/// held certificates included, its good ones excluded, those expired at thisUpdate left out;
/// signed with the CA key, numbered from the store's durable per-issuer sequence, and stored for
/// `ocspd` to serve at `/filter/<slug>.mlbf`.
package struct FilterGenerator: Sendable {
    package let store: RevocationStore
    private let keys: CRLGenerator

    package init(store: RevocationStore, keyFilePermissions: PrivateKey.FilePermissions = .ownerOnly) {
        self.store = store
        keys = CRLGenerator(store: store, keyFilePermissions: keyFilePermissions)
    }

    /// The issuer's CA key, checked against its certificate (see ``CRLGenerator/caKey(_:)``).
    package func caKey(_ issuer: IssuerRecord) throws -> (Certificate, PrivateKey) { try keys.caKey(issuer) }

    /// Generates the filter, stores it and returns it.
    package func generate(_ issuer: IssuerRecord, policy: FilterPolicy, now: Date = Date()) throws -> GeneratedFilter {
        let started = ContinuousClock.now
        let (certificate, key) = try caKey(issuer)
        let prefix = certificate.subjectPublicKeyInfoSHA256
        var revoked = FilterKeys(prefix: prefix)
        var good = FilterKeys(prefix: prefix)
        let thisUpdate = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        try store.forEachCertificate(issuer: issuer.id) { serial, record in
            if let notAfter = record.notAfter, notAfter < thisUpdate { return }
            let suffix = RevocationFilter.keySuffix(serial)
            switch record.status {
            case .revoked: revoked.append(suffix: suffix)
            case .good: good.append(suffix: suffix)
            }
        }
        var salt = [UInt8](repeating: 0, count: 16)
        var random = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = random.next() }
        let cascade = try FilterCascade.build(include: revoked, exclude: good, salt: salt)
        let mlbf = cascade.encoded
        let sequence = try store.reserveFilterSequence(issuer: issuer.id)
        let metadata = RevocationFilter.Metadata(
            issuer: certificate, sequence: sequence, thisUpdate: thisUpdate, nextUpdate: thisUpdate.addingTimeInterval(policy.validity),
            coversNotBefore: thisUpdate.addingTimeInterval(-policy.coverageMargin), revoked: revoked.count, good: good.count,
            filter: mlbf)
        let signed = try RevocationFilter.sign(metadata, issuer: certificate, key: key)
        let stored = StoredFilter(
            mlbf: mlbf, signedMetadata: signed, sequence: sequence, thisUpdate: metadata.thisUpdate,
            nextUpdate: metadata.nextUpdate, etag: CRLGenerator.etag(mlbf), metadataETag: CRLGenerator.etag(signed))
        try store.storeFilter(slug: issuer.id.slug, stored)
        return GeneratedFilter(
            filter: stored, metadata: metadata, layers: cascade.layers.count, bits: cascade.bitCount,
            duration: ContinuousClock.now - started)
    }
}

/// A filter just made.
package struct GeneratedFilter: Sendable {
    package var filter: StoredFilter
    package var metadata: RevocationFilter.Metadata
    package var layers: Int
    package var bits: Int
    package var duration: Duration
}

/// The URL paths `ocspd` serves filters at.
package enum FilterPaths {
    /// `/filter/<slug>.mlbf`.
    package static func path(slug: String) -> String { "/filter/\(slug).mlbf" }

    /// `/filter/<slug>.mlbf.meta`.
    package static func metadataPath(slug: String) -> String { path(slug: slug) + ".meta" }

    /// The issuer slug a request path names and whether it asks for the signed metadata, or nil.
    package static func parse(_ path: String) -> (slug: String, metadata: Bool)? {
        guard path.hasPrefix("/filter/") else { return nil }
        var name = path.dropFirst(8)
        let metadata = name.hasSuffix(".mlbf.meta")
        if metadata { name = name.dropLast(5) }
        guard name.hasSuffix(".mlbf") else { return nil }
        let slug = name.dropLast(5)
        guard !slug.isEmpty, slug.count <= 64, slug.allSatisfy(\.isHexDigit) else { return nil }
        return (String(slug), metadata)
    }
}
