internal import Foundation
public import OCSPValues

extension RevocationStore {
    /// Adds an issuer and its CertID index entries (one per hash in ``IssuerRecord/certIDHashes``).
    /// - Throws: ``StoreError/Code/issuerExists`` if it is already there (use `replace` to update).
    public func addIssuer(_ record: IssuerRecord, replace: Bool = false) throws {
        let encoded = try checkedEncoding(record)
        try environment.write { txn in
            let exists = try txn.get(issuers, record.id.bytes) != nil
            if !replace, exists {
                throw StoreError(.issuerExists, "issuer \(record.subject) is already in the store")
            }
            try putIssuer(txn, record, encoded: encoded)
            try auditIssuer(txn, exists ? .issuerReplace : .issuerAdd, record, encoded: encoded)
        }
    }

    /// Replaces an issuer's delegated responder (certificate and key file): a key rotation.
    /// Responses signed by the old responder stay valid until their nextUpdate; a running ocspd
    /// signs with the new one from the change feed's next look (a second), and `presign` re-signs
    /// the cached responses now. The caller checks the certificate and key belong together.
    /// - Returns: the record as it was.
    @discardableResult
    public func setResponder(issuer: IssuerID, certificateDER: [UInt8], keyPath: String) throws -> IssuerRecord {
        try environment.write { txn in
            guard let stored = try txn.get(issuers, issuer.bytes) else {
                throw StoreError(.unknownIssuer, "issuer \(issuer) is not in the store")
            }
            let previous = try IssuerRecord(id: issuer, encoded: stored)
            var updated = previous
            updated.responderCertificateDER = certificateDER
            updated.responderKeyPath = keyPath
            let encoded = try checkedEncoding(updated)
            try putIssuer(txn, updated, encoded: encoded)
            try auditIssuer(txn, .issuerSetResponder, updated, encoded: encoded)
            return previous
        }
    }

    /// Removes an issuer: its record, CertID index, certificates, cached responses, CRLs and
    /// counters, in one transaction, with one audit record (that names how many certificates went).
    /// - Parameter force: remove it even though certificates remain (recorded as forced).
    /// - Returns: how many certificates were removed with it.
    /// - Throws: ``StoreError/Code/refused`` while certificates remain and not `force`.
    @discardableResult
    public func removeIssuer(_ issuer: IssuerID, force: Bool = false) throws -> Int {
        try environment.write { txn in
            guard let stored = try txn.get(issuers, issuer.bytes) else {
                throw StoreError(.unknownIssuer, "issuer \(issuer) is not in the store")
            }
            let record = try IssuerRecord(id: issuer, encoded: stored)
            var count = 0
            try txn.forEach(certs, prefix: issuer.bytes) { _, _ in
                count += 1
                return true
            }
            if count > 0, !force {
                throw StoreError(
                    .refused, "issuer \(record.subject) still has \(count) certificates; remove them with it with --force (recorded)")
            }
            _ = try removeIssuerData(txn, issuer)
            try auditIssuer(txn, .issuerRemove, record, encoded: nil, forced: count > 0, detail: ["certificates": String(count)])
            return count
        }
    }

    /// Puts an issuer's record and its CertID index entries, and notes the change.
    func putIssuer(_ txn: borrowing Transaction, _ record: IssuerRecord, encoded: [UInt8]) throws {
        try txn.put(issuers, record.id.bytes, encoded)
        for hashes in record.certIDHashes { try txn.put(issuerIndex, hashes.indexKey, record.id.bytes) }
        // Whatever was answered for this issuer (its signer, its validity) may change.
        try recordChange(txn, issuer: record.id, serial: nil)
    }

    /// Deletes everything the store keeps for an issuer. Returns how many certificates it held.
    func removeIssuerData(_ txn: borrowing Transaction, _ issuer: IssuerID) throws -> Int {
        guard let stored = try txn.get(issuers, issuer.bytes) else { return 0 }
        let record = try IssuerRecord(id: issuer, encoded: stored)
        var certificateKeys: [[UInt8]] = []
        try txn.forEach(certs, prefix: issuer.bytes) { key, _ in
            certificateKeys.append(Array(key))
            return true
        }
        for key in certificateKeys { try txn.delete(certs, key) }
        var responseKeys: [ResponseKey] = []
        try txn.forEach(responses, prefix: issuer.bytes) { key, _ in
            if let parsed = ResponseKey(bytes: key) { responseKeys.append(parsed) }
            return true
        }
        for key in responseKeys { try deleteResponse(txn, key) }
        var crlKeys: [[UInt8]] = []
        try txn.forEach(crls, prefix: Array(issuer.slug.utf8)) { key, _ in
            crlKeys.append(Array(key))
            return true
        }
        for key in crlKeys { try txn.delete(crls, key) }
        for hashes in record.certIDHashes { try txn.delete(issuerIndex, hashes.indexKey) }
        try txn.delete(meta, Array("crl_number:".utf8) + issuer.bytes)
        try txn.delete(meta, Array("revocation_seq:".utf8) + issuer.bytes)
        try txn.delete(issuers, issuer.bytes)
        try recordChange(txn, issuer: issuer, serial: nil)
        return certificateKeys.count
    }

    private func checkedEncoding(_ record: IssuerRecord) throws -> [UInt8] {
        guard !record.certIDHashes.isEmpty, record.id.bytes.count == IssuerID.byteCount else {
            throw StoreError(.corrupt, "issuer \(record.subject): a record needs its id and CertID hashes")
        }
        return try record.encoded()
    }

    /// The issuer with this id, or nil.
    public func issuer(id: IssuerID) throws -> IssuerRecord? {
        guard let json = try environment.read({ txn in try txn.get(issuers, id.bytes) }) else { return nil }
        return try IssuerRecord(id: id, encoded: json)
    }

    /// All issuers, in id order.
    public func allIssuers() throws -> [IssuerRecord] {
        var stored: [(IssuerID, [UInt8])] = []
        try environment.read { txn in
            try txn.forEach(issuers) { key, value in
                stored.append((IssuerID(bytes: Array(key)), Array(value)))
                return true
            }
        }
        return try stored.map { try IssuerRecord(id: $0, encoded: $1) }
    }

    /// The issuer id that a CertID's (hash algorithm, issuerNameHash, issuerKeyHash) names, or nil.
    public func issuerID(for certID: CertID) throws -> IssuerID? {
        try environment.read { txn in try txn.get(issuerIndex, certID.issuer.indexKey) }.map(IssuerID.init(bytes:))
    }
}
