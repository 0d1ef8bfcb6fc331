internal import Foundation
public import OCSPCore

extension RevocationStore {
    /// Adds an issuer and its CertID index entries (SHA-1, SHA-256, SHA-384, SHA-512).
    /// - Throws: ``StoreError/Code/issuerExists`` if it is already there (use `replace` to update).
    public func addIssuer(_ record: IssuerRecord, replace: Bool = false) throws {
        let certificate = try record.certificate()
        let id = record.id
        let json = try JSONEncoder().encode(record)
        let indexKeys = try HashAlgorithm.allCases.map { algorithm in
            let hashes = try certificate.issuerHashes(algorithm)
            return [algorithm.rawValue] + hashes.nameHash + hashes.keyHash
        }
        try environment.write { txn in
            if !replace, try txn.get(issuers, id.bytes) != nil {
                throw StoreError(.issuerExists, "issuer \(certificate.subject) is already in the store")
            }
            try txn.put(issuers, id.bytes, [UInt8](json))
            for key in indexKeys { try txn.put(issuerIndex, key, id.bytes) }
            try appendAudit(txn, ["action": replace ? "issuer.replace" : "issuer.add", "issuer": certificate.subject])
        }
    }

    /// The issuer with this id, or nil.
    public func issuer(id: IssuerID) throws -> IssuerRecord? {
        guard let json = try environment.read({ txn in try txn.get(issuers, id.bytes) }) else { return nil }
        return try decodeIssuer(json)
    }

    /// The issuer whose certificate this is.
    /// - Throws: ``StoreError/Code/unknownIssuer`` if it is not in the store.
    public func issuer(certificate: Certificate) throws -> IssuerRecord {
        guard let record = try issuer(id: IssuerID(certificate: certificate)) else {
            throw StoreError(
                .unknownIssuer,
                "issuer \(certificate.subject) is not in the store; add it with: ocspctl issuer add --cert CA.pem --key CA.key")
        }
        return record
    }

    /// All issuers, in id order.
    public func allIssuers() throws -> [IssuerRecord] {
        var jsons: [[UInt8]] = []
        try environment.read { txn in
            try txn.forEach(issuers) { _, value in
                jsons.append(Array(value))
                return true
            }
        }
        return try jsons.map(decodeIssuer)
    }

    /// The issuer id that a CertID's (hash algorithm, issuerNameHash, issuerKeyHash) names, or nil.
    public func issuerID(for certID: CertID) throws -> IssuerID? {
        let key = [certID.hashAlgorithm.rawValue] + certID.issuerNameHash + certID.issuerKeyHash
        return try environment.read { txn in try txn.get(issuerIndex, key) }.map(IssuerID.init(bytes:))
    }

    /// The issuer in the store that issued `certificate` (signature checked), or nil.
    public func findIssuer(of certificate: Certificate) throws -> (IssuerRecord, Certificate)? {
        for record in try allIssuers() {
            let issuerCertificate = try record.certificate()
            if certificate.isIssued(by: issuerCertificate) { return (record, issuerCertificate) }
        }
        return nil
    }

    private func decodeIssuer(_ json: [UInt8]) throws -> IssuerRecord {
        do {
            return try JSONDecoder().decode(IssuerRecord.self, from: Data(json))
        } catch {
            throw StoreError(.corrupt, "an issuer record does not decode: \(error)")
        }
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
