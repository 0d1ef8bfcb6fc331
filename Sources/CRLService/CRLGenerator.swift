package import Foundation
package import OCSPCore
package import OCSPValues
package import RevocationStore

/// Makes an issuer's CRLs from the store: complete (or sharded) and delta, signed with the CA key,
/// numbered from the store's durable per-issuer sequence, and stored for `ocspd` to serve.
package struct CRLGenerator: Sendable {
    package let store: RevocationStore
    /// Whether the CA key file must be readable by its owner only.
    package let keyFilePermissions: PrivateKey.FilePermissions

    package init(store: RevocationStore, keyFilePermissions: PrivateKey.FilePermissions = .ownerOnly) {
        self.store = store
        self.keyFilePermissions = keyFilePermissions
    }

    /// The issuer's CA key, checked against its certificate.
    /// - Throws: ``CRLError`` saying what to do when it is missing or wrong. Nothing is consumed.
    package func caKey(_ issuer: IssuerRecord) throws -> (Certificate, PrivateKey) {
        let certificate = try Certificate(derEncoded: issuer.certificateDER)
        guard let path = issuer.caKeyPath else {
            throw CRLError(
                .noCAKey,
                "issuer \(certificate.subject) has no CA key (only a delegated responder); add it with: ocspctl issuer add --replace --cert CA.pem --key CA.key --responder-cert R.pem --responder-key R.key")
        }
        let key = try PrivateKey.load(reference: path, permissions: keyFilePermissions)
        guard certificate.matches(key) else {
            throw CRLError(.noCAKey, "\(path) is not the private key of \(certificate.subject)")
        }
        return (certificate, key)
    }

    /// Generates the complete CRL (or its shards), stores it and returns it.
    package func generateFull(_ issuer: IssuerRecord, policy: CRLPolicy, now: Date = Date()) throws -> [GeneratedCRL] {
        let (certificate, key) = try caKey(issuer)
        if let problem = policy.problem { throw CRLError(.configuration, problem) }
        let number = try store.reserveCRLNumbers(issuer: issuer.id)
        let thisUpdate = now
        let nextUpdate = now.addingTimeInterval(policy.validity)
        let sharded = policy.shards > 1
        let builders = try (0..<max(1, policy.shards)).map { shard in
            try CRLBuilder(
                parameters: CRLParameters(
                    number: number, thisUpdate: thisUpdate, nextUpdate: nextUpdate,
                    distributionPoint: sharded ? policy.url(slug: issuer.id.slug, shard: shard) : nil,
                    // Deltas are made for unsharded issuers only (see generateDelta).
                    freshestCRL: sharded ? nil : policy.deltaURL(slug: issuer.id.slug)),
                issuer: certificate, key: key)
        }
        try store.forEachCertificate(issuer: issuer.id) { serial, record in
            guard case .revoked(let time, let reason, let invalidity) = record.status else { return }
            if let notAfter = record.notAfter, notAfter.addingTimeInterval(policy.retention) < now { return }
            let builder = builders[sharded ? Self.shard(of: serial, count: policy.shards) : 0]
            try builder.add(CRLEntry(serialNumber: serial, revocationDate: time, reason: reason, invalidityDate: invalidity))
        }
        let crls = try builders.enumerated().map { index, builder in
            GeneratedCRL(
                scope: sharded ? .shard(index) : .full, entries: builder.count,
                crl: try Self.stored(builder.sign(), number: number, thisUpdate: thisUpdate, nextUpdate: nextUpdate))
        }
        try store.storeCRLs(issuer: issuer.id, crls.map { ($0.scope, $0.crl) })
        return crls
    }

    /// Generates the delta CRL against the stored complete CRL: every status change since that
    /// CRL's thisUpdate — new revocations and holds, and released holds as `removeFromCRL`.
    /// - Throws: ``CRLError/Code/noBaseCRL`` if there is no complete, unsharded CRL to build on.
    package func generateDelta(_ issuer: IssuerRecord, policy: CRLPolicy, now: Date = Date()) throws -> GeneratedCRL {
        let (certificate, key) = try caKey(issuer)
        guard policy.shards <= 1, let base = try store.storedCRL(slug: issuer.id.slug, scope: .full) else {
            throw CRLError(.noBaseCRL, "no complete CRL to base a delta on; generate one first (without --delta or --shards)")
        }
        let number = try store.reserveCRLNumbers(issuer: issuer.id)
        let nextUpdate = now.addingTimeInterval(policy.validity)
        let builder = try CRLBuilder(
            parameters: CRLParameters(number: number, thisUpdate: now, nextUpdate: nextUpdate, deltaBase: base.number),
            issuer: certificate, key: key)
        try store.forEachCertificate(issuer: issuer.id) { serial, record in
            switch record.status {
            case .revoked(let time, let reason, let invalidity):
                guard let changed = record.changedAt, changed >= base.thisUpdate else { return }
                try builder.add(CRLEntry(serialNumber: serial, revocationDate: time, reason: reason, invalidityDate: invalidity))
            case .good:
                guard let released = record.releasedFromHoldAt, released >= base.thisUpdate else { return }
                try builder.add(CRLEntry(serialNumber: serial, revocationDate: released, reason: .removeFromCRL))
            }
        }
        let crl = Self.stored(try builder.sign(), number: number, thisUpdate: now, nextUpdate: nextUpdate)
        try store.storeCRLs(issuer: issuer.id, [(.delta, crl)])
        return GeneratedCRL(scope: .delta, entries: builder.count, crl: crl)
    }

    /// The shard of a serial: the first 8 bytes of SHA-256 of its magnitude, big-endian, modulo
    /// `count`. Stable, so a CA can put the right shard URL in each certificate it issues.
    package static func shard(of serial: SerialNumber, count: Int) -> Int {
        let digest = sha256(serial.bytes)
        let value = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int(value % UInt64(count))
    }

    /// A signed CRL as the store keeps it, with its ETag (64 bits of its SHA-256).
    static func stored(_ der: [UInt8], number: UInt64, thisUpdate: Date, nextUpdate: Date) -> StoredCRL {
        StoredCRL(
            der: der, number: number, thisUpdate: thisUpdate, nextUpdate: nextUpdate,
            etag: etag(der))
    }

    /// A strong entity tag for published bytes (CRLs, filters): the first 64 bits of their SHA-256.
    static func etag(_ bytes: [UInt8]) -> UInt64 { sha256(bytes).prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }
}

/// A CRL just made.
package struct GeneratedCRL: Sendable {
    package var scope: CRLScope
    package var entries: Int
    package var crl: StoredCRL
}
