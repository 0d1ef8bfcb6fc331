internal import Foundation
public import OCSPValues

extension RevocationStore {
    /// Adds an issuer and its CertID index entries (one per hash in ``IssuerRecord/certIDHashes``).
    /// - Throws: ``StoreError/Code/issuerExists`` if it is already there (use `replace` to update).
    public func addIssuer(_ record: IssuerRecord, replace: Bool = false) throws {
        guard !record.certIDHashes.isEmpty, record.id.bytes.count == IssuerID.byteCount else {
            throw StoreError(.corrupt, "issuer \(record.subject): a record needs its id and CertID hashes")
        }
        let encoded = try record.encoded()
        try environment.write { txn in
            if !replace, try txn.get(issuers, record.id.bytes) != nil {
                throw StoreError(.issuerExists, "issuer \(record.subject) is already in the store")
            }
            try txn.put(issuers, record.id.bytes, encoded)
            for hashes in record.certIDHashes { try txn.put(issuerIndex, hashes.indexKey, record.id.bytes) }
            // Whatever was answered for this issuer (its signer, its validity) may change.
            try recordChange(txn, issuer: record.id, serial: nil)
            try appendAudit(txn, ["action": replace ? "issuer.replace" : "issuer.add", "issuer": record.subject])
        }
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

    /// Appends one line to the audit log, in the caller's write transaction.
    func appendAudit(_ txn: borrowing Transaction, _ fields: [String: String]) throws {
        let last = try txn.lastKey(audit)
        var sequence: UInt64 = 0
        if let last, last.count == 8 {
            sequence = last.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) } + 1
        }
        var entry = fields
        entry["time"] = ISO8601DateFormatter().string(from: Date())
        entry["pid"] = String(ProcessInfo.processInfo.processIdentifier)
        let json = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
        let key = withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
        try txn.put(audit, key, [UInt8](json))
    }
}
