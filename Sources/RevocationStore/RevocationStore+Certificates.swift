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
        issuer: IssuerID, serial: SerialNumber, notAfter: Date?, sign: ResponseSigning? = nil, now: Date = Date()
    ) throws -> Bool {
        try addCertificates(issuer: issuer, [(serial, notAfter)], sign: sign, now: now) == 1
    }

    /// Adds certificates as `good` in one transaction (signing their SHA-1 responses with `sign`),
    /// skipping serials already there, with an audit record for each one added. Returns how many
    /// it added.
    @discardableResult
    public func addCertificates(
        issuer: IssuerID, _ items: [(SerialNumber, Date?)], sign: ResponseSigning? = nil, now: Date = Date()
    ) throws -> Int {
        // Signed before the write transaction (see ``signAhead(issuer:_:sign:)``).
        var plans: [SerialNumber: PlannedChange] = [:]
        if sign != nil {
            try environment.read { txn in
                for (serial, notAfter) in items where try txn.get(certs, issuer.bytes + serial.bytes) == nil {
                    plans[serial] = PlannedChange(
                        serial: serial, previous: nil, updated: CertificateRecord(status: .good, notAfter: notAfter, changedAt: now))
                }
            }
        }
        let signed = try signAhead(issuer: issuer, Array(plans.values), sign: sign)
        return try environment.write { txn in
            try requireIssuer(txn, issuer)
            var added = 0
            var audits: [AuditRecord] = []
            for (serial, notAfter) in items {
                let key = issuer.bytes + serial.bytes
                if try txn.get(certs, key) != nil { continue }
                let record = CertificateRecord(status: .good, notAfter: notAfter, changedAt: now)
                try txn.put(certs, key, record.encoded)
                try replaceResponses(
                    txn, issuer: issuer, serial: serial,
                    signed: Self.signedAhead(signed, plans, serial: serial, replacing: nil, with: record))
                audits.append(certificateAudit(.certAdd, issuer: issuer, serial: serial, before: nil, after: record, now: now))
                // A serial answered `unknown` until now is `good` from this commit on.
                if items.count <= Self.changesPerSerialLimit { try recordChange(txn, issuer: issuer, serial: serial) }
                added += 1
            }
            if items.count > Self.changesPerSerialLimit, added > 0 { try recordChange(txn, issuer: issuer, serial: nil) }
            try appendAudit(txn, audits)
            return added
        }
    }

    /// Sets the status of `serial` under `issuer` (adding the serial if it was not there), durably,
    /// in one write transaction with its audit record and its cached responses: re-signed with
    /// `sign`, or dropped without it. No reader ever sees the new status with an old response.
    ///
    /// Revocation is permanent. Checked in the same transaction, so two operators cannot race past
    /// it; `force` overrides it, and the audit record says so:
    /// - revoking a certificate already revoked (other than on hold) is refused; forced, it changes
    ///   the reason, time or invalidity date;
    /// - holding a revoked certificate is refused; holding one on hold is refused too (nothing to do);
    /// - `good` releases a hold; releasing a revocation is refused unless forced; a certificate that
    ///   is good or absent has nothing to release.
    /// - Returns: the previous record.
    /// - Throws: ``StoreError/Code/refused`` naming the rule, ``StoreError/Code/notFound`` when
    ///   releasing a certificate the store does not hold.
    @discardableResult
    public func setStatus(
        issuer: IssuerID, serial: SerialNumber, _ status: CertificateRecord.Status, notAfter: Date? = nil,
        sign: ResponseSigning? = nil, force: Bool = false, now: Date = Date()
    ) throws -> CertificateRecord? {
        // Planned and signed without the write lock (see ``signAhead(issuer:_:sign:)``); checked
        // again, and written, in the transaction.
        var plans: [SerialNumber: PlannedChange] = [:]
        if sign != nil {
            let previous = try environment.read { txn in try record(txn, issuer: issuer, serial: serial) }
            if (try? Self.check(status, after: previous, serial: serial, force: force)) != nil {
                plans[serial] = PlannedChange(
                    serial: serial, previous: previous, updated: Self.updated(status, after: previous, notAfter: notAfter, now: now))
            }
        }
        let signed = try signAhead(issuer: issuer, Array(plans.values), sign: sign)
        return try environment.write { txn in
            try requireIssuer(txn, issuer)
            let previous = try record(txn, issuer: issuer, serial: serial)
            let (action, forced) = try Self.check(status, after: previous, serial: serial, force: force)
            let updated = Self.updated(status, after: previous, notAfter: notAfter, now: now)
            try txn.put(certs, issuer.bytes + serial.bytes, updated.encoded)
            try bumpRevocationSequence(txn, issuer: issuer)
            try replaceResponses(
                txn, issuer: issuer, serial: serial,
                signed: Self.signedAhead(signed, plans, serial: serial, replacing: previous, with: updated))
            try recordChange(txn, issuer: issuer, serial: serial)
            try appendAudit(
                txn,
                certificateAudit(action, issuer: issuer, serial: serial, before: previous, after: updated, forced: forced, now: now))
            return previous
        }
    }

    /// The record `status` makes of `previous`.
    static func updated(
        _ status: CertificateRecord.Status, after previous: CertificateRecord?, notAfter: Date?, now: Date
    ) -> CertificateRecord {
        let released = status == .good && previous?.status != .good
        return CertificateRecord(
            status: status, notAfter: notAfter ?? previous?.notAfter, changedAt: now,
            releasedFromHoldAt: released ? now : previous?.releasedFromHoldAt)
    }

    /// The record a batch revocation makes of `previous`, or nil when it is revoked already (a
    /// hold is revoked for good).
    static func revoked(
        _ previous: CertificateRecord?, time: Date, reason: RevocationReason?, invalidityDate: Date?, now: Date
    ) -> CertificateRecord? {
        if let previous, previous.status != .good, !previous.isOnHold { return nil }
        return CertificateRecord(
            status: .revoked(time: time, reason: reason, invalidityDate: invalidityDate), notAfter: previous?.notAfter,
            changedAt: now, releasedFromHoldAt: previous?.releasedFromHoldAt)
    }

    /// The audit action of a status change, and whether `force` overrode a rule to allow it.
    static func check(
        _ status: CertificateRecord.Status, after previous: CertificateRecord?, serial: SerialNumber, force: Bool
    ) throws -> (AuditRecord.Action, forced: Bool) {
        let current = previous.map { Self.describe($0) } ?? "absent"
        let wasRevoked = previous.map { !$0.isOnHold && $0.status != .good } ?? false
        switch status {
        case .revoked(_, .certificateHold, _):
            if previous?.isOnHold == true {
                throw StoreError(.refused, "\(serial.hex) is already on hold (\(current))")
            }
            if wasRevoked {
                guard force else {
                    throw StoreError(
                        .refused, "\(serial.hex) is revoked (\(current)); revocation is permanent, a revoked certificate cannot be put on hold (--force overrides, and is recorded)")
                }
                return (.certHold, true)
            }
            return (.certHold, false)
        case .revoked:
            if wasRevoked {
                guard force else {
                    throw StoreError(
                        .refused, "\(serial.hex) is already revoked (\(current)); revocation is permanent (--force changes its reason or time, and is recorded)")
                }
                return (.certRevoke, true)
            }
            return (.certRevoke, false)
        case .good:
            guard let previous else {
                throw StoreError(.notFound, "\(serial.hex) is not in the store; there is nothing to release")
            }
            if previous.isOnHold { return (.certUnhold, false) }
            guard wasRevoked else { throw StoreError(.refused, "\(serial.hex) is not on hold (\(current)); there is nothing to release") }
            guard force else {
                throw StoreError(
                    .refused, "\(serial.hex) is revoked (\(current)), not on hold; only a hold is released (--force unrevokes it, and is recorded)")
            }
            return (.certUnhold, true)
        }
    }

    /// A record in a few words, to follow its status: `good`, `since T` (a hold), `reason at T`.
    static func describe(_ record: CertificateRecord) -> String {
        switch record.status {
        case .good: return "good"
        case .revoked(let time, let reason, _):
            let at = AuditTime.format(time)
            if reason == .certificateHold { return "since \(at)" }
            return "\(reason?.name ?? "no reason") at \(at)"
        }
    }

    /// Revokes many certificates of one issuer in one transaction (an incident's batch), like
    /// ``setStatus(issuer:serial:_:notAfter:sign:force:now:)`` for each, skipping those already
    /// revoked (a hold is revoked for good), so running a list again changes nothing.
    /// - Returns: how many were revoked by this call.
    @discardableResult
    public func revoke(
        issuer: IssuerID, serials: [SerialNumber], time: Date, reason: RevocationReason?, invalidityDate: Date? = nil,
        sign: ResponseSigning? = nil, now: Date = Date()
    ) throws -> Int {
        // Planned and signed without the write lock (see ``signAhead(issuer:_:sign:)``).
        var plans: [SerialNumber: PlannedChange] = [:]
        if sign != nil {
            try environment.read { txn in
                for serial in serials {
                    let previous = try record(txn, issuer: issuer, serial: serial)
                    if let updated = Self.revoked(previous, time: time, reason: reason, invalidityDate: invalidityDate, now: now) {
                        plans[serial] = PlannedChange(serial: serial, previous: previous, updated: updated)
                    }
                }
            }
        }
        let signed = try signAhead(issuer: issuer, Array(plans.values), sign: sign)
        return try environment.write { txn in
            try requireIssuer(txn, issuer)
            var revoked = 0
            var audits: [AuditRecord] = []
            for serial in serials {
                let previous = try record(txn, issuer: issuer, serial: serial)
                guard let updated = Self.revoked(previous, time: time, reason: reason, invalidityDate: invalidityDate, now: now)
                else { continue }
                try txn.put(certs, issuer.bytes + serial.bytes, updated.encoded)
                try replaceResponses(
                    txn, issuer: issuer, serial: serial,
                    signed: Self.signedAhead(signed, plans, serial: serial, replacing: previous, with: updated))
                if serials.count <= Self.changesPerSerialLimit { try recordChange(txn, issuer: issuer, serial: serial) }
                audits.append(
                    certificateAudit(.certRevoke, issuer: issuer, serial: serial, before: previous, after: updated, now: now))
                revoked += 1
            }
            try appendAudit(txn, audits)
            if revoked > 0 {
                try bumpRevocationSequence(txn, issuer: issuer)
                if serials.count > Self.changesPerSerialLimit { try recordChange(txn, issuer: issuer, serial: nil) }
            }
            return revoked
        }
    }

    /// What an import did.
    public struct ImportReport: Sendable, Equatable {
        public var added = 0
        /// Records that differed (status, reason, times, expiry) and were replaced.
        public var changed = 0
        public var unchanged = 0
        /// Records revoked in the store that the import says are good, left revoked (with
        /// `keepRevocations` only).
        public var keptRevoked = 0
        public init() {}
    }

    /// Writes many certificate records at once (a bulk import), in one transaction: those not in
    /// the store are added, those that differ in status, reason, times or expiry are replaced,
    /// each with an audit record; those that do not differ are left alone, so importing the same
    /// list again writes nothing at all. The cached responses of a record added or replaced are
    /// re-signed with `sign` (before the write, like ``setStatus(issuer:serial:_:notAfter:sign:force:now:)``),
    /// or dropped without it (ocspd or `ocspctl presign` signs anew).
    /// - Parameter keepRevocations: leave a certificate revoked (other than on hold) when the
    ///   import says it is good, counting it in ``ImportReport/keptRevoked``: revocation is
    ///   permanent, and a followed feed must not undo an `ocspctl revoke` (false: the import's
    ///   record wins, as a one-shot import always did).
    @discardableResult
    public func importRecords(
        issuer: IssuerID, _ items: [(SerialNumber, CertificateRecord)], sign: ResponseSigning? = nil,
        keepRevocations: Bool = false, now: Date = Date()
    ) throws -> ImportReport {
        // Planned and signed without the write lock (see ``signAhead(issuer:_:sign:)``); only the
        // records that differ are signed, and the write uses a signature only if nothing moved meanwhile.
        var plans: [SerialNumber: PlannedChange] = [:]
        if sign != nil {
            try environment.read { txn in
                for (serial, imported) in items {
                    let previous = try record(txn, issuer: issuer, serial: serial)
                    if Self.importLeavesAlone(previous, imported)
                        || (keepRevocations && Self.importWouldRelease(previous, imported))
                    { continue }
                    plans[serial] = PlannedChange(
                        serial: serial, previous: previous, updated: Self.imported(imported, replacing: previous, now: now))
                }
            }
        }
        let signed = try signAhead(issuer: issuer, Array(plans.values), sign: sign)
        return try environment.write { txn in
            try requireIssuer(txn, issuer)
            var report = ImportReport()
            var audits: [AuditRecord] = []
            var written = 0
            for (serial, imported) in items {
                let previous = try record(txn, issuer: issuer, serial: serial)
                if Self.importLeavesAlone(previous, imported) {
                    report.unchanged += 1
                    continue
                }
                if keepRevocations && Self.importWouldRelease(previous, imported) {
                    report.keptRevoked += 1
                    continue
                }
                let updated = Self.imported(imported, replacing: previous, now: now)
                try txn.put(certs, issuer.bytes + serial.bytes, updated.encoded)
                try replaceResponses(
                    txn, issuer: issuer, serial: serial,
                    signed: Self.signedAhead(signed, plans, serial: serial, replacing: previous, with: updated))
                audits.append(
                    certificateAudit(.certImport, issuer: issuer, serial: serial, before: previous, after: updated, now: now))
                written += 1
                if previous == nil { report.added += 1 } else { report.changed += 1 }
            }
            try appendAudit(txn, audits)
            if written > 0 {
                try bumpRevocationSequence(txn, issuer: issuer)
                try recordChange(txn, issuer: issuer, serial: nil)
            }
            return report
        }
    }

    /// Whether an import leaves `previous` as it is: same status (reason, times) and expiry.
    static func importLeavesAlone(_ previous: CertificateRecord?, _ imported: CertificateRecord) -> Bool {
        guard let previous else { return false }
        return previous.status == imported.status && previous.notAfter == imported.notAfter
    }

    /// Whether `imported` would make good a certificate revoked for good (not on hold).
    static func importWouldRelease(_ previous: CertificateRecord?, _ imported: CertificateRecord) -> Bool {
        guard let previous, previous.status != .good, !previous.isOnHold else { return false }
        return imported.status == .good
    }

    /// The record an import writes over `previous`.
    static func imported(_ imported: CertificateRecord, replacing previous: CertificateRecord?, now: Date) -> CertificateRecord {
        var updated = imported
        updated.changedAt = now
        if previous?.isOnHold == true, imported.status == .good { updated.releasedFromHoldAt = now }
        return updated
    }

    /// Throws ``StoreError/Code/unknownIssuer`` unless `issuer` is in the store.
    func requireIssuer(_ txn: borrowing Transaction, _ issuer: IssuerID) throws {
        guard try txn.get(issuers, issuer.bytes) != nil else {
            throw StoreError(.unknownIssuer, "issuer \(issuer) is not in the store")
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
