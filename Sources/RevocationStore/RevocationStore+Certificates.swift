public import Foundation
public import OCSPValues

extension RevocationStore {
    /// Beyond this many certificates in one transaction, the change feed gets one entry for the
    /// whole issuer instead of one per serial (a bulk add or import).
    static let changesPerSerialLimit = 1024

    /// The result of looking up a CertID.
    public enum Lookup: Sendable {
        /// No issuer in the store matches the CertID's issuer hashes.
        case unknownIssuer
        /// The issuer is known; `record` is nil when the serial is not in the store.
        case known(issuer: IssuerID, record: CertificateRecord?)
    }

    /// Looks up a CertID in one read transaction.
    public func lookup(_ certID: CertID) throws -> Lookup {
        let indexKey = certID.issuer.indexKey
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

    /// Adds a certificate as `good`, and with `sign` its SHA-1 response, in one transaction.
    /// Returns false (and changes nothing) if the serial is already there.
    @discardableResult
    public func addCertificate(
        issuer: IssuerID, serial: SerialNumber, notAfter: Date?, sign: ResponseSigning? = nil
    ) throws -> Bool {
        try addCertificates(issuer: issuer, [(serial, notAfter)], sign: sign) == 1
    }

    /// Adds certificates as `good` in one transaction (signing their SHA-1 responses with `sign`),
    /// skipping serials already there. Returns how many it added.
    @discardableResult
    public func addCertificates(
        issuer: IssuerID, _ items: [(SerialNumber, Date?)], sign: ResponseSigning? = nil
    ) throws -> Int {
        try environment.write { txn in
            guard try txn.get(issuers, issuer.bytes) != nil else {
                throw StoreError(.unknownIssuer, "issuer \(issuer) is not in the store")
            }
            var added = 0
            for (serial, notAfter) in items {
                let key = issuer.bytes + serial.bytes
                if try txn.get(certs, key) != nil { continue }
                let record = CertificateRecord(status: .good, notAfter: notAfter)
                try txn.put(certs, key, record.encoded)
                try replaceResponses(txn, issuer: issuer, serial: serial, record: record, sign: sign)
                try appendAudit(txn, ["action": "cert.add", "issuer": issuer.description, "serial": serial.hex])
                // A serial answered `unknown` until now is `good` from this commit on.
                if items.count <= Self.changesPerSerialLimit { try recordChange(txn, issuer: issuer, serial: serial) }
                added += 1
            }
            if items.count > Self.changesPerSerialLimit, added > 0 { try recordChange(txn, issuer: issuer, serial: nil) }
            return added
        }
    }

    /// Sets the status of `serial` under `issuer` (adding the serial if it was not there), durably,
    /// in one write transaction with its audit entry and its cached responses: re-signed with
    /// `sign`, or dropped without it. No reader ever sees the new status with an old response.
    /// Returns the previous record.
    @discardableResult
    public func setStatus(
        issuer: IssuerID, serial: SerialNumber, _ status: CertificateRecord.Status, notAfter: Date? = nil,
        sign: ResponseSigning? = nil, now: Date = Date()
    ) throws -> CertificateRecord? {
        try environment.write { txn in
            guard try txn.get(issuers, issuer.bytes) != nil else {
                throw StoreError(.unknownIssuer, "issuer \(issuer) is not in the store")
            }
            let previous = try record(txn, issuer: issuer, serial: serial)
            let released = status == .good && previous?.isOnHold == true
            let updated = CertificateRecord(
                status: status, notAfter: notAfter ?? previous?.notAfter, changedAt: now,
                releasedFromHoldAt: released ? now : previous?.releasedFromHoldAt)
            try txn.put(certs, issuer.bytes + serial.bytes, updated.encoded)
            try bumpRevocationSequence(txn, issuer: issuer)
            try replaceResponses(txn, issuer: issuer, serial: serial, record: updated, sign: sign)
            try recordChange(txn, issuer: issuer, serial: serial)
            try appendAudit(
                txn,
                [
                    "action": "cert.status", "issuer": issuer.description, "serial": serial.hex,
                    "before": previous.map { $0.certStatus.name } ?? "absent", "after": updated.certStatus.name,
                ])
            return previous
        }
    }

    /// Revokes many certificates of one issuer in one transaction (an incident's batch), like
    /// ``setStatus(issuer:serial:_:notAfter:sign:now:)`` for each, but skipping those already
    /// revoked (for any reason, hold included), so running a list again changes nothing.
    /// - Returns: how many were revoked by this call.
    @discardableResult
    public func revoke(
        issuer: IssuerID, serials: [SerialNumber], time: Date, reason: RevocationReason?, invalidityDate: Date? = nil,
        sign: ResponseSigning? = nil, now: Date = Date()
    ) throws -> Int {
        try environment.write { txn in
            guard try txn.get(issuers, issuer.bytes) != nil else {
                throw StoreError(.unknownIssuer, "issuer \(issuer) is not in the store")
            }
            var revoked = 0
            for serial in serials {
                let previous = try record(txn, issuer: issuer, serial: serial)
                if case .revoked = previous?.status { continue }
                let updated = CertificateRecord(
                    status: .revoked(time: time, reason: reason, invalidityDate: invalidityDate),
                    notAfter: previous?.notAfter, changedAt: now, releasedFromHoldAt: previous?.releasedFromHoldAt)
                try txn.put(certs, issuer.bytes + serial.bytes, updated.encoded)
                try replaceResponses(txn, issuer: issuer, serial: serial, record: updated, sign: sign)
                if serials.count <= Self.changesPerSerialLimit { try recordChange(txn, issuer: issuer, serial: serial) }
                try appendAudit(
                    txn,
                    [
                        "action": "cert.status", "issuer": issuer.description, "serial": serial.hex,
                        "before": previous.map { $0.certStatus.name } ?? "absent", "after": updated.certStatus.name,
                    ])
                revoked += 1
            }
            if revoked > 0 {
                try bumpRevocationSequence(txn, issuer: issuer)
                if serials.count > Self.changesPerSerialLimit { try recordChange(txn, issuer: issuer, serial: nil) }
            }
            return revoked
        }
    }

    /// Writes many certificate records at once (a bulk import), in one transaction: existing
    /// records are replaced and their cached responses dropped (ocspd or `ocspctl presign` signs
    /// anew). Returns how many records were written.
    @discardableResult
    public func importRecords(issuer: IssuerID, _ items: [(SerialNumber, CertificateRecord)]) throws -> Int {
        try environment.write { txn in
            guard try txn.get(issuers, issuer.bytes) != nil else {
                throw StoreError(.unknownIssuer, "issuer \(issuer) is not in the store")
            }
            for (serial, record) in items {
                try txn.put(certs, issuer.bytes + serial.bytes, record.encoded)
                try replaceResponses(txn, issuer: issuer, serial: serial, record: record, sign: nil)
            }
            try bumpRevocationSequence(txn, issuer: issuer)
            try recordChange(txn, issuer: issuer, serial: nil)
            try appendAudit(txn, ["action": "cert.import", "issuer": issuer.description, "count": String(items.count)])
            return items.count
        }
    }

    /// How many certificates the store holds, across issuers.
    public func certificateCount() throws -> Int {
        try environment.read { txn in try txn.count(certs) }
    }

    /// Up to `limit` certificates after `cursor` (issuer id ‖ serial bytes; nil: from the start),
    /// across issuers in key order, with the cursor to pass next (nil at the end). Of `issuer` only, if given.
    public func certificatesPage(issuer: IssuerID? = nil, after cursor: [UInt8]?, limit: Int) throws
        -> (items: [(IssuerID, SerialNumber, CertificateRecord)], next: [UInt8]?)
    {
        var items: [(IssuerID, SerialNumber, CertificateRecord)] = []
        var last: [UInt8]? = nil
        try environment.read { txn in
            try txn.forEach(certs, prefix: issuer?.bytes ?? [], from: cursor) { key, value in
                if let cursor, key.elementsEqual(cursor) { return true }
                guard items.count < limit else { return false }
                guard key.count > 32 else { return true }
                items.append(
                    (IssuerID(bytes: Array(key[0..<32])), SerialNumber(bytes: UnsafeRawBufferPointer(rebasing: key[32...])),
                     try CertificateRecord(encoded: value)))
                last = Array(key)
                return true
            }
        }
        return (items, items.count == limit ? last : nil)
    }

    /// Visits the certificates of `issuer` in serial-bytes order.
    public func forEachCertificate(
        issuer: IssuerID, _ body: (SerialNumber, CertificateRecord) throws -> Void
    ) throws {
        try environment.read { txn in
            try txn.forEach(certs, prefix: issuer.bytes) { key, value in
                try body(
                    SerialNumber(bytes: UnsafeRawBufferPointer(rebasing: key[issuer.bytes.count...])),
                    CertificateRecord(encoded: value))
                return true
            }
        }
    }
}
