internal import CLMDB
public import Foundation
internal import OCSPValues

extension RevocationStore {
    static let auditHeadKey = Array("audit_head".utf8)

    // MARK: Appending (in the change's own write transaction)

    /// The chain's head as of `txn`.
    func auditHead(_ txn: borrowing Transaction) throws -> AuditHead {
        guard let bytes = try txn.get(meta, Self.auditHeadKey) else { return .empty }
        guard let head = AuditHead(encoded: bytes) else { throw StoreError(.corrupt, "the audit log's head does not decode") }
        return head
    }

    /// Appends `records` to the audit log in the caller's write transaction, in order: each
    /// numbered after the head, chained to the one before, stamped with this handle's actor and
    /// host. They commit with the change. (A bulk write passes its records at once: the head is
    /// read and written once, not per record.)
    func appendAudit(_ txn: borrowing Transaction, _ records: [AuditRecord]) throws {
        guard !records.isEmpty else { return }
        var head = try auditHead(txn)
        for var record in records {
            record.sequence = head.sequence + 1
            record.previous = head.hash
            record.actor = actor.name
            record.host = actor.host
            head = try putRecord(txn, record.encoded, sequence: record.sequence)
        }
        try txn.put(meta, Self.auditHeadKey, head.encoded)
    }

    func appendAudit(_ txn: borrowing Transaction, _ record: AuditRecord) throws { try appendAudit(txn, [record]) }

    /// Puts an encoded record at `sequence` (after the last); returns the head it makes.
    private func putRecord(_ txn: borrowing Transaction, _ encoded: [UInt8], sequence: UInt64) throws -> AuditHead {
        try txn.put(audit, withUnsafeBytes(of: sequence.bigEndian) { Array($0) }, encoded, flags: Int32(MDB_APPEND))
        return AuditHead(sequence: sequence, hash: AuditRecord.hash(encoded))
    }

    /// The record of one certificate's change (actor, host and chain filled in when appended).
    func certificateAudit(
        _ action: AuditRecord.Action, issuer: IssuerID, serial: SerialNumber, before: CertificateRecord?,
        after: CertificateRecord?, forced: Bool = false, now: Date
    ) -> AuditRecord {
        AuditRecord(
            time: now, actor: "", host: "", action: action, issuer: issuer.description, serial: serial.hex, forced: forced,
            before: before.map(AuditRecord.State.init), after: after.map(AuditRecord.State.init))
    }

    /// Appends the record of an issuer's change, with its record as stored (replay needs it).
    func auditIssuer(
        _ txn: borrowing Transaction, _ action: AuditRecord.Action, _ record: IssuerRecord, encoded: [UInt8]?,
        forced: Bool = false, detail: [String: String] = [:], now: Date = Date()
    ) throws {
        var detail = detail
        detail["subject"] = record.subject
        try appendAudit(
            txn,
            AuditRecord(
                time: now, actor: "", host: "", action: action, issuer: record.id.description, forced: forced,
                issuerRecord: encoded, detail: detail))
    }

    // MARK: Reading: the log as a change feed

    /// The chain's head: the last record's sequence and hash (sequence 0 when the log is empty).
    public func auditHead() throws -> AuditHead { try environment.read { txn in try auditHead(txn) } }

    /// Up to `limit` records after `sequence`, in order, as stored (the encoding the chain hashes).
    /// What a follower or an export reads: call again with the last sequence returned until the
    /// result is empty. Each call is one short read transaction.
    public func auditEntries(after sequence: UInt64, limit: Int) throws -> [(sequence: UInt64, encoded: [UInt8])] {
        var entries: [(UInt64, [UInt8])] = []
        let start = withUnsafeBytes(of: (sequence + 1).bigEndian) { Array($0) }
        try environment.read { txn in
            try txn.forEach(audit, from: start) { key, value in
                guard entries.count < limit else { return false }
                guard key.count == 8 else { return true }
                entries.append((UInt64(bigEndian: key.loadUnaligned(as: UInt64.self)), Array(value)))
                return true
            }
        }
        return entries
    }

    /// The first sequence whose record's time is at or after `time` (the log is in commit order,
    /// so its times do not go back except by a clock step), or nil when none is.
    public func firstAuditSequence(notBefore time: Date) throws -> UInt64? {
        var position: UInt64 = 0
        while true {
            let page = try auditEntries(after: position, limit: 4096)
            guard let last = page.last else { return nil }
            for (sequence, encoded) in page where try AuditRecord(encoded: encoded).time >= time { return sequence }
            position = last.sequence
        }
    }

    // MARK: Verification

    /// What ``verifyAudit(expecting:)`` found.
    public struct AuditVerification: Sendable {
        /// How many records were checked.
        public var records: UInt64
        /// The head the chain ends at.
        public var head: AuditHead
        /// The first record that breaks the chain, and why; nil when the log is whole.
        public var firstBad: (sequence: UInt64, reason: String)?
    }

    /// Recomputes the chain from the first record: every sequence follows the one before, every
    /// record decodes and carries the hash of the one before, and the last is the head the store
    /// records. With `expecting` (a head exported earlier), its record must still have that hash.
    /// Reads in pages, each its own transaction (the log may be long); a write meanwhile only
    /// appends.
    public func verifyAudit(expecting exported: AuditHead? = nil) throws -> AuditVerification {
        var expected = AuditHead.empty
        var checked: UInt64 = 0
        func bad(_ sequence: UInt64, _ reason: String) -> AuditVerification {
            AuditVerification(records: checked, head: expected, firstBad: (sequence, reason))
        }
        let stored = try auditHead()
        while expected.sequence < stored.sequence {
            let page = try auditEntries(after: expected.sequence, limit: 4096)
            if page.isEmpty { break }
            for (sequence, encoded) in page {
                if sequence > stored.sequence { break }
                guard sequence == expected.sequence + 1 else {
                    return bad(expected.sequence + 1, "record \(expected.sequence + 1) is missing (the next is \(sequence))")
                }
                let record: AuditRecord
                do {
                    record = try AuditRecord(encoded: encoded)
                } catch {
                    return bad(sequence, "record \(sequence) does not decode: \(error)")
                }
                guard record.sequence == sequence else {
                    return bad(sequence, "record \(sequence) says it is record \(record.sequence) (moved)")
                }
                guard record.previous == expected.hash else {
                    return bad(
                        sequence,
                        sequence == 1
                            ? "record 1 does not start the chain"
                            : "record \(sequence) does not carry the hash of record \(sequence - 1): record \(sequence - 1) was altered, or records were removed or reordered")
                }
                expected = AuditHead(sequence: sequence, hash: AuditRecord.hash(encoded))
                checked += 1
                if let exported, exported.sequence == sequence, exported.hash != expected.hash {
                    return bad(sequence, "record \(sequence) is not the one exported as the head then: the log was rewritten")
                }
            }
        }
        guard expected.sequence == stored.sequence else {
            return bad(expected.sequence + 1, "the log ends at record \(expected.sequence), but its head names record \(stored.sequence): records were removed")
        }
        guard expected.hash == stored.hash else {
            return bad(stored.sequence, "record \(stored.sequence) is not the record the head was computed from: it was altered")
        }
        if let exported, exported.sequence > stored.sequence {
            return bad(stored.sequence + 1, "the exported head names record \(exported.sequence), but the log ends at \(stored.sequence): records were removed")
        }
        return AuditVerification(records: checked, head: expected, firstBad: nil)
    }

    // MARK: Replay

    /// Applies records exported from another store's log (``auditEntries(after:limit:)``, `ocspctl
    /// audit --json`) in one write transaction: each must follow this log's head (next sequence,
    /// `prev` = the head's hash), its change is made, and the record itself is appended as it was,
    /// so this log and its head become the source's. Replaying a whole log into an empty store
    /// reproduces every issuer and every certificate's status (not the signed responses: ocspd or
    /// `ocspctl presign` signs them). Nothing is applied if any record fails.
    /// - Returns: the new head.
    @discardableResult
    public func apply(_ encodedRecords: [[UInt8]]) throws -> AuditHead {
        try environment.write { txn in
            var head = try auditHead(txn)
            for encoded in encodedRecords {
                let record = try AuditRecord(encoded: encoded)
                guard record.sequence == head.sequence + 1 else {
                    throw StoreError(
                        .corrupt, "record \(record.sequence) does not follow record \(head.sequence): the log must be replayed in order, without gaps")
                }
                guard record.previous == head.hash else {
                    throw StoreError(
                        .corrupt, "record \(record.sequence) does not carry the hash of record \(head.sequence): the log was altered")
                }
                do {
                    try applyChange(txn, record)
                } catch let error as StoreError {
                    throw StoreError(error.code, "record \(record.sequence): \(error.message)", lmdbCode: error.lmdbCode)
                }
                head = try putRecord(txn, encoded, sequence: record.sequence)
            }
            try txn.put(meta, Self.auditHeadKey, head.encoded)
            return head
        }
    }

    /// Makes the change a record describes.
    private func applyChange(_ txn: borrowing Transaction, _ record: AuditRecord) throws {
        func issuerID() throws -> IssuerID {
            guard let text = record.issuer, let bytes = [UInt8](hexString: text), bytes.count == IssuerID.byteCount else {
                throw StoreError(.corrupt, "record \(record.sequence) (\(record.action)) names no issuer")
            }
            return IssuerID(bytes: bytes)
        }
        switch record.action {
        case .issuerAdd, .issuerReplace, .issuerSetResponder, .issuerBaseline:
            guard let encoded = record.issuerRecord else {
                throw StoreError(.corrupt, "record \(record.sequence) (\(record.action)) holds no issuer record")
            }
            try putIssuer(txn, try IssuerRecord(id: try issuerID(), encoded: encoded), encoded: encoded)
        case .issuerRemove:
            _ = try removeIssuerData(txn, try issuerID())
        case .crlNumber:
            guard let number = record.detail["number"].flatMap(UInt64.init) else {
                throw StoreError(.corrupt, "record \(record.sequence) (crl.number) has no number")
            }
            try raiseCounter(txn, Array("crl_number:".utf8) + (try issuerID()).bytes, to: number)
        case .storeMigrate, .legacy:
            break
        default:
            // A certificate's change: its state after, as is.
            guard let serialText = record.serial else { return }
            let issuer = try issuerID()
            let serial = try SerialNumber(hex: serialText)
            if let after = record.after {
                let certificate = try after.record
                try txn.put(certs, issuer.bytes + serial.bytes, certificate.encoded)
                try replaceResponses(txn, issuer: issuer, serial: serial, signed: [:])
            } else {
                try txn.delete(certs, issuer.bytes + serial.bytes)
                try replaceResponses(txn, issuer: issuer, serial: serial, signed: [:])
            }
            try bumpRevocationSequence(txn, issuer: issuer)
            try recordChange(txn, issuer: issuer, serial: serial)
        }
    }

    // MARK: Migration

    /// Migrates a store of an older schema to ``schemaVersion`` in one write transaction. From
    /// schema 1: the unchained audit lines become `legacy` records at the start of the chain,
    /// followed by a baseline of every issuer, CRL counter and certificate as they are now (so a
    /// replay of the migrated log reproduces the store), and a `store.migrate` record.
    /// - Returns: the schema migrated from (``schemaVersion`` when there was nothing to do).
    @discardableResult
    public func migrate(now: Date = Date()) throws -> Int {
        try environment.write { txn in
            let from = try txn.get(meta, Self.schemaKey).map(Self.decodeSchema) ?? 1
            guard from < Self.schemaVersion else { return from }
            // Schema 1's log: JSON objects of strings under sequence numbers from 0, no chain.
            var legacy: [[UInt8]] = []
            var legacyKeys: [[UInt8]] = []
            try txn.forEach(audit) { key, value in
                legacyKeys.append(Array(key))
                legacy.append(Array(value))
                return true
            }
            for key in legacyKeys { try txn.delete(audit, key) }
            try txn.delete(meta, Self.auditHeadKey)
            try appendAudit(
                txn,
                legacy.map { entry in
                    AuditRecord(
                        time: now, actor: "", host: "", action: .legacy,
                        detail: ["entry": String(decoding: entry, as: UTF8.self)])
                })
            var issuers: [(IssuerID, [UInt8])] = []
            try txn.forEach(self.issuers) { key, value in
                issuers.append((IssuerID(bytes: Array(key)), Array(value)))
                return true
            }
            for (id, encoded) in issuers {
                try auditIssuer(txn, .issuerBaseline, try IssuerRecord(id: id, encoded: encoded), encoded: encoded, now: now)
                let crlNumber = try counter(txn, Array("crl_number:".utf8) + id.bytes)
                if crlNumber > 0 {
                    try appendAudit(
                        txn,
                        AuditRecord(
                            time: now, actor: "", host: "", action: .crlNumber, issuer: id.description,
                            detail: ["number": String(crlNumber), "count": "0"]))
                }
                var certificates: [(SerialNumber, CertificateRecord)] = []
                try txn.forEach(certs, prefix: id.bytes) { key, value in
                    certificates.append(
                        (SerialNumber(bytes: UnsafeRawBufferPointer(rebasing: key[IssuerID.byteCount...])),
                         try CertificateRecord(encoded: value)))
                    return true
                }
                try appendAudit(
                    txn,
                    certificates.map { serial, record in
                        certificateAudit(.certBaseline, issuer: id, serial: serial, before: nil, after: record, now: now)
                    })
            }
            try appendAudit(
                txn,
                AuditRecord(
                    time: now, actor: "", host: "", action: .storeMigrate,
                    detail: ["from": String(from), "to": String(Self.schemaVersion), "legacyRecords": String(legacy.count)]))
            try txn.put(meta, Self.schemaKey, Self.encodeSchema(Self.schemaVersion))
            return from
        }
    }
}
