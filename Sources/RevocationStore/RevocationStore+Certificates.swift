public import Foundation
public import OCSPCore

extension RevocationStore {
    /// The result of looking up a CertID.
    public enum Lookup: Sendable {
        /// No issuer in the store matches the CertID's issuer hashes.
        case unknownIssuer
        /// The issuer is known; `record` is nil when the serial is not in the store.
        case known(issuer: IssuerID, record: CertificateRecord?)
    }

    /// Looks up a CertID in one read transaction.
    public func lookup(_ certID: CertID) throws -> Lookup {
        let indexKey = [certID.hashAlgorithm.rawValue] + certID.issuerNameHash + certID.issuerKeyHash
        return try environment.read { txn in
            guard let id = try txn.get(issuerIndex, indexKey) else { return .unknownIssuer }
            let key = id + certID.serialNumber.bytes
            let value = try key.withUnsafeBytes { k in
                try txn.withValue(certs, key: k) { try $0.map(CertificateRecord.init(encoded:)) }
            }
            return .known(issuer: IssuerID(bytes: id), record: value)
        }
    }

    /// The record of `serial` under `issuer`, or nil.
    public func certificate(issuer: IssuerID, serial: SerialNumber) throws -> CertificateRecord? {
        try environment.read { txn in
            let key = issuer.bytes + serial.bytes
            return try key.withUnsafeBytes { k in
                try txn.withValue(certs, key: k) { try $0.map(CertificateRecord.init(encoded:)) }
            }
        }
    }

    /// Adds a certificate as `good`. Returns false (and changes nothing) if the serial is already there.
    @discardableResult
    public func addCertificate(issuer: IssuerID, serial: SerialNumber, notAfter: Date?) throws -> Bool {
        try environment.write { txn in
            let key = issuer.bytes + serial.bytes
            guard try txn.get(issuers, issuer.bytes) != nil else {
                throw StoreError(.unknownIssuer, "issuer \(issuer) is not in the store")
            }
            if try txn.get(certs, key) != nil { return false }
            try txn.put(certs, key, CertificateRecord(status: .good, notAfter: notAfter).encoded)
            try appendAudit(txn, ["action": "cert.add", "issuer": issuer.description, "serial": serial.hex])
            return true
        }
    }

    /// Sets the status of `serial` under `issuer` (adding the serial if it was not there), durably,
    /// in one write transaction with its audit entry. Returns the previous record.
    @discardableResult
    public func setStatus(
        issuer: IssuerID, serial: SerialNumber, _ status: CertificateRecord.Status, notAfter: Date? = nil
    ) throws -> CertificateRecord? {
        try environment.write { txn in
            guard try txn.get(issuers, issuer.bytes) != nil else {
                throw StoreError(.unknownIssuer, "issuer \(issuer) is not in the store")
            }
            let key = issuer.bytes + serial.bytes
            let previous = try key.withUnsafeBytes { k in
                try txn.withValue(certs, key: k) { try $0.map(CertificateRecord.init(encoded:)) }
            }
            let record = CertificateRecord(status: status, notAfter: notAfter ?? previous?.notAfter)
            try txn.put(certs, key, record.encoded)
            try appendAudit(
                txn,
                [
                    "action": "cert.status", "issuer": issuer.description, "serial": serial.hex,
                    "before": previous.map { $0.certStatus.name } ?? "absent", "after": record.certStatus.name,
                ])
            return previous
        }
    }

    /// Visits the certificates of `issuer` in serial-bytes order.
    public func forEachCertificate(
        issuer: IssuerID, _ body: (SerialNumber, CertificateRecord) throws -> Void
    ) throws {
        try environment.read { txn in
            try txn.forEach(certs, prefix: issuer.bytes) { key, value in
                try body(SerialNumber(bytes: key.dropFirst(issuer.bytes.count)), CertificateRecord(encoded: value))
                return true
            }
        }
    }
}
