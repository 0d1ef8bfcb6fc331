internal import COpenSSL
public import Foundation
internal import OCSPValues

/// One record of the store's audit log: who changed what, when, from what to what.
///
/// The log is append-only, densely numbered from 1, and hash-chained: each record carries the
/// SHA-256 of the record before it (as stored), so editing, deleting or reordering any record
/// breaks the chain at that point (``RevocationStore/verifyAudit(expecting:)``). Every change to
/// the store appends its records in the same write transaction as the change, so the log is also
/// the store's change feed: replaying it into an empty store (``RevocationStore/apply(_:)``)
/// reproduces every issuer and every certificate's status.
///
/// The encoding is one JSON object per record (the JSON Lines `ocspctl audit` prints), with its
/// fields in a fixed order and format version ``formatVersion``. Readers must ignore fields they
/// do not know; a new field never changes the meaning of an old one.
public struct AuditRecord: Sendable, Hashable {
    /// What was done.
    public struct Action: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// An issuer added; ``AuditRecord/issuerRecord`` holds it.
        public static let issuerAdd = Action(rawValue: "issuer.add")
        /// An issuer replaced by `issuer add --replace`; ``AuditRecord/issuerRecord`` holds the new one.
        public static let issuerReplace = Action(rawValue: "issuer.replace")
        /// A delegated responder rotated (a key rotation); ``AuditRecord/issuerRecord`` holds the new record.
        public static let issuerSetResponder = Action(rawValue: "issuer.set-responder")
        /// An issuer removed, with its certificates when forced.
        public static let issuerRemove = Action(rawValue: "issuer.remove")
        /// A certificate added as good.
        public static let certAdd = Action(rawValue: "cert.add")
        /// A certificate added or changed by an import of an `index.txt`.
        public static let certImport = Action(rawValue: "cert.import")
        /// Revoked.
        public static let certRevoke = Action(rawValue: "cert.revoke")
        /// Put on hold.
        public static let certHold = Action(rawValue: "cert.hold")
        /// Released from hold (or, forced, from a revocation).
        public static let certUnhold = Action(rawValue: "cert.unhold")
        /// CRL numbers reserved; ``AuditRecord/detail`` has `number` (the last reserved) and `count`.
        public static let crlNumber = Action(rawValue: "crl.number")
        /// The store's schema migrated; `detail` has `from` and `to`.
        public static let storeMigrate = Action(rawValue: "store.migrate")
        /// A record of the log kept before it was chained (schema 1); `detail.entry` holds it.
        public static let legacy = Action(rawValue: "legacy")
        /// The state of an issuer when the log started (a migration): replay needs it.
        public static let issuerBaseline = Action(rawValue: "issuer.baseline")
        /// The state of a certificate when the log started (a migration).
        public static let certBaseline = Action(rawValue: "cert.baseline")
    }

    /// A certificate's state before or after a change: everything ``CertificateRecord`` holds.
    public struct State: Sendable, Hashable, Codable {
        /// `good`, `revoked` or `hold` (revoked with reason certificateHold).
        public var status: String
        public var revocationTime: Date?
        public var reason: String?
        public var invalidityDate: Date?
        public var notAfter: Date?
        public var changedAt: Date?
        public var releasedFromHoldAt: Date?

        public init(_ record: CertificateRecord) {
            switch record.status {
            case .good:
                status = "good"
            case .revoked(let time, let reason, let invalidity):
                status = reason == .certificateHold ? "hold" : "revoked"
                revocationTime = time
                self.reason = reason?.name
                invalidityDate = invalidity
            }
            notAfter = record.notAfter
            changedAt = record.changedAt
            releasedFromHoldAt = record.releasedFromHoldAt
        }

        /// The record this state describes.
        public var record: CertificateRecord {
            get throws {
                let parsed: CertificateRecord.Status
                switch status {
                case "good": parsed = .good
                case "revoked", "hold":
                    guard let revocationTime else { throw StoreError(.corrupt, "a revoked state without revocationTime") }
                    var named: RevocationReason? = nil
                    if let reason {
                        guard let known = RevocationReason(name: reason) else {
                            throw StoreError(.corrupt, "unknown revocation reason '\(reason)'")
                        }
                        named = known
                    }
                    parsed = .revoked(time: revocationTime, reason: named, invalidityDate: invalidityDate)
                default: throw StoreError(.corrupt, "unknown status '\(status)'")
                }
                return CertificateRecord(
                    status: parsed, notAfter: notAfter, changedAt: changedAt, releasedFromHoldAt: releasedFromHoldAt)
            }
        }
    }

    /// The version of the record encoding, `v`.
    public static let formatVersion = 1
    /// `prev` of the first record: no record before it.
    public static let genesis = [UInt8](repeating: 0, count: 32)

    /// Dense, from 1.
    public var sequence: UInt64
    /// When the change committed (to the second).
    public var time: Date
    /// Who made it: `--actor`, `OCSPCTL_ACTOR`, or the OS user (`ocspd` for the responder's own).
    public var actor: String
    public var host: String
    public var action: Action
    /// The issuer id (SHA-256 of its certificate, hex), when the change concerns one.
    public var issuer: String?
    /// The certificate's serial (hex), when the change concerns one.
    public var serial: String?
    /// Whether `--force` overrode a rule (a revocation changed or undone, an issuer removed with
    /// its certificates).
    public var forced: Bool
    /// The certificate's state before (nil: it was not in the store) and after (nil: removed).
    public var before: State?
    public var after: State?
    /// For issuer changes: the issuer's record as the store keeps it (JSON).
    public var issuerRecord: [UInt8]?
    /// Anything else the action names (CRL numbers, counts, subjects), as strings.
    public var detail: [String: String]
    /// SHA-256 of the previous record's encoding (``genesis`` for the first).
    public var previous: [UInt8]

    public init(
        sequence: UInt64 = 0, time: Date, actor: String, host: String, action: Action, issuer: String? = nil,
        serial: String? = nil, forced: Bool = false, before: State? = nil, after: State? = nil,
        issuerRecord: [UInt8]? = nil, detail: [String: String] = [:], previous: [UInt8] = genesis
    ) {
        self.sequence = sequence
        self.time = time
        self.actor = actor
        self.host = host
        self.action = action
        self.issuer = issuer
        self.serial = serial
        self.forced = forced
        self.before = before
        self.after = after
        self.issuerRecord = issuerRecord
        self.detail = detail
        self.previous = previous
    }
}

// MARK: - Encoding

extension AuditRecord {
    /// The record as stored and exported: one line of JSON, no newline. Fields in a fixed order,
    /// absent ones left out, times RFC 3339 UTC to the second, bytes as lower-case hex (the issuer
    /// record as base64).
    public var encoded: [UInt8] {
        var json = JSONLine()
        json.number("v", UInt64(Self.formatVersion))
        json.number("seq", sequence)
        json.string("time", AuditTime.format(time))
        json.string("actor", actor)
        json.string("host", host)
        json.string("action", action.rawValue)
        if let issuer { json.string("issuer", issuer) }
        if let serial { json.string("serial", serial) }
        if forced { json.raw("forced", "true") }
        if let before { json.object("before", Self.stateFields(before)) }
        if let after { json.object("after", Self.stateFields(after)) }
        if let issuerRecord { json.string("issuerRecord", Data(issuerRecord).base64EncodedString()) }
        if !detail.isEmpty { json.object("detail", detail.sorted { $0.key < $1.key }) }
        json.string("prev", previous.hexString)
        return json.finish()
    }

    private static func stateFields(_ state: State) -> [(String, String)] {
        var fields = [("status", state.status)]
        if let time = state.revocationTime { fields.append(("revocationTime", AuditTime.format(time))) }
        if let reason = state.reason { fields.append(("reason", reason)) }
        if let date = state.invalidityDate { fields.append(("invalidityDate", AuditTime.format(date))) }
        if let date = state.notAfter { fields.append(("notAfter", AuditTime.format(date))) }
        if let date = state.changedAt { fields.append(("changedAt", AuditTime.format(date))) }
        if let date = state.releasedFromHoldAt { fields.append(("releasedFromHoldAt", AuditTime.format(date))) }
        return fields
    }

    /// The JSON fields, as `Codable` reads them.
    private struct Fields: Decodable {
        var v: Int
        var seq: UInt64
        var time: String
        var actor: String
        var host: String
        var action: String
        var issuer: String?
        var serial: String?
        var forced: Bool?
        var before: StateFields?
        var after: StateFields?
        var issuerRecord: String?
        var detail: [String: String]?
        var prev: String
    }

    private struct StateFields: Decodable {
        var status: String
        var revocationTime: String?
        var reason: String?
        var invalidityDate: String?
        var notAfter: String?
        var changedAt: String?
        var releasedFromHoldAt: String?
    }

    /// Decodes one stored or exported record.
    /// - Throws: ``StoreError/Code/corrupt`` saying what is wrong; ``StoreError/Code/schema`` for
    ///   a record of a newer format.
    public init(encoded bytes: [UInt8]) throws {
        let fields: Fields
        do {
            fields = try JSONDecoder().decode(Fields.self, from: Data(bytes))
        } catch {
            throw StoreError(.corrupt, "an audit record does not decode: \(Self.reason(error))")
        }
        guard fields.v <= Self.formatVersion else {
            throw StoreError(
                .schema, "audit record \(fields.seq) has format \(fields.v), newer than this program reads (\(Self.formatVersion))")
        }
        func date(_ text: String?, _ name: String) throws -> Date? {
            guard let text else { return nil }
            guard let date = AuditTime.parse(text) else {
                throw StoreError(.corrupt, "audit record \(fields.seq): \(name) '\(text)' is not an RFC 3339 UTC time")
            }
            return date
        }
        func state(_ state: StateFields?) throws -> State? {
            guard let state else { return nil }
            var result = State(CertificateRecord(status: .good, notAfter: nil))
            result.status = state.status
            result.revocationTime = try date(state.revocationTime, "revocationTime")
            result.reason = state.reason
            result.invalidityDate = try date(state.invalidityDate, "invalidityDate")
            result.notAfter = try date(state.notAfter, "notAfter")
            result.changedAt = try date(state.changedAt, "changedAt")
            result.releasedFromHoldAt = try date(state.releasedFromHoldAt, "releasedFromHoldAt")
            return result
        }
        guard let previous = [UInt8](hexString: fields.prev), previous.count == 32 else {
            throw StoreError(.corrupt, "audit record \(fields.seq): prev is not a SHA-256 in hex")
        }
        var issuerRecord: [UInt8]? = nil
        if let text = fields.issuerRecord {
            guard let data = Data(base64Encoded: text) else {
                throw StoreError(.corrupt, "audit record \(fields.seq): issuerRecord is not base64")
            }
            issuerRecord = [UInt8](data)
        }
        self.init(
            sequence: fields.seq, time: try date(fields.time, "time")!, actor: fields.actor, host: fields.host,
            action: Action(rawValue: fields.action), issuer: fields.issuer, serial: fields.serial,
            forced: fields.forced ?? false, before: try state(fields.before), after: try state(fields.after),
            issuerRecord: issuerRecord, detail: fields.detail ?? [:], previous: previous)
    }

    private static func reason(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.dataCorrupted(let context):
            context.codingPath.isEmpty
                ? "not a JSON object" : "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' is malformed"
        default: "\(error)"
        }
    }

    /// SHA-256 of an encoded record: what the next record's `prev` holds.
    public static func hash(_ encoded: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        encoded.withUnsafeBufferPointer { bytes in
            digest.withUnsafeMutableBufferPointer { out in _ = SHA256(bytes.baseAddress, bytes.count, out.baseAddress) }
        }
        return digest
    }
}

/// Who appends audit records through a store handle: recorded with each change.
public struct AuditActor: Sendable, Hashable {
    public var name: String
    public var host: String

    public init(name: String, host: String = AuditActor.hostName) {
        self.name = name
        self.host = host
    }

    /// The OS user running this process (by effective uid), on this host.
    public static var currentUser: AuditActor {
        AuditActor(name: ProcessInfo.processInfo.userName.isEmpty ? "uid \(geteuid())" : ProcessInfo.processInfo.userName)
    }

    public static var hostName: String { ProcessInfo.processInfo.hostName }
}

/// The head of the chain: the last record's sequence number and hash. A copy kept elsewhere
/// (`ocspctl audit head`) proves later that the log up to it was not rewritten.
public struct AuditHead: Sendable, Hashable, CustomStringConvertible {
    public var sequence: UInt64
    public var hash: [UInt8]

    public init(sequence: UInt64, hash: [UInt8]) {
        self.sequence = sequence
        self.hash = hash
    }

    /// `SEQ:HEX`, as `ocspctl audit head` prints and `audit verify --head` takes.
    public var description: String { "\(sequence):\(hash.hexString)" }

    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let sequence = UInt64(parts[0]), let hash = [UInt8](hexString: String(parts[1])), hash.count == 32
        else { return nil }
        self.init(sequence: sequence, hash: hash)
    }

    static let empty = AuditHead(sequence: 0, hash: AuditRecord.genesis)

    var encoded: [UInt8] { withUnsafeBytes(of: sequence.bigEndian) { Array($0) } + hash }

    init?(encoded bytes: [UInt8]) {
        guard bytes.count == 40 else { return nil }
        self.init(
            sequence: bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }, hash: Array(bytes[8...]))
    }
}

/// RFC 3339 UTC times to the second, without a formatter object per call (an import writes a
/// million records).
package enum AuditTime {
    package static func format(_ date: Date) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(20)
        append(date, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends ``format(_:)`` of `date` to `out`. Computed from the day number (H. Hinnant's
    /// civil-from-days), not with `ISO8601DateFormatter`, which costs microseconds a call: `list`
    /// formats two or three times per certificate, an import writes a record per certificate.
    package static func append(_ date: Date, to out: inout [UInt8]) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        var days = seconds / 86400
        var secondOfDay = seconds % 86400
        if secondOfDay < 0 {
            days -= 1
            secondOfDay += 86400
        }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        guard (0...9999).contains(year) else {
            out += Array(ISO8601DateFormatter().string(from: date).utf8)
            return
        }
        func twoDigits(_ value: Int64) {
            out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value / 10))
            out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10))
        }
        twoDigits(year / 100)
        twoDigits(year % 100)
        out.append(UInt8(ascii: "-"))
        twoDigits(month)
        out.append(UInt8(ascii: "-"))
        twoDigits(day)
        out.append(UInt8(ascii: "T"))
        twoDigits(secondOfDay / 3600)
        out.append(UInt8(ascii: ":"))
        twoDigits(secondOfDay / 60 % 60)
        out.append(UInt8(ascii: ":"))
        twoDigits(secondOfDay % 60)
        out.append(UInt8(ascii: "Z"))
    }

    /// The times ``format(_:)`` writes as four-digit years: 0000-01-01 to 9999-12-31T23:59:59Z.
    static let writable: ClosedRange<TimeInterval> = -62_167_219_200...253_402_300_799

    /// Parses what ``format(_:)`` writes without a formatter (building one costs more than
    /// decoding a whole record); anything else RFC 3339 allows goes to `ISO8601DateFormatter`.
    /// Nil for a time outside years 0 to 9999, so what is read can be written back as it was.
    package static func parse(_ text: String) -> Date? {
        guard let date = parseAny(text), writable.contains(date.timeIntervalSince1970) else { return nil }
        return date
    }

    private static func parseAny(_ text: String) -> Date? {
        let utf8 = Array(text.utf8)
        if utf8.count == 20, utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"), utf8[10] == UInt8(ascii: "T"),
            utf8[13] == UInt8(ascii: ":"), utf8[16] == UInt8(ascii: ":"), utf8[19] == UInt8(ascii: "Z")
        {
            func number(_ range: Range<Int>) -> Int32? {
                var value: Int32 = 0
                for index in range {
                    let digit = utf8[index] &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int32(digit)
                }
                return value
            }
            if let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
                let minute = number(14..<16), let second = number(17..<19), (1...12).contains(month),
                (1...31).contains(day), hour < 24, minute < 60, second < 61
            {
                var parts = tm()
                parts.tm_year = year - 1900
                parts.tm_mon = month - 1
                parts.tm_mday = day
                parts.tm_hour = hour
                parts.tm_min = minute
                parts.tm_sec = second
                return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
            }
            return nil
        }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}

/// Writes one JSON object, fields in the order given.
private struct JSONLine {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    init() { bytes.reserveCapacity(320) }

    mutating func string(_ key: String, _ value: String) {
        raw(key, "")
        Self.quote(value, into: &bytes)
    }

    mutating func number(_ key: String, _ value: UInt64) { raw(key, String(value)) }

    mutating func object(_ key: String, _ fields: [(String, String)]) {
        raw(key, "")
        var inner = JSONLine()
        for (name, value) in fields { inner.string(name, value) }
        bytes += inner.finish()
    }

    /// `"key":` and then `value` as is.
    mutating func raw(_ key: String, _ value: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        Self.quote(key, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
        bytes += value.utf8
    }

    func finish() -> [UInt8] { bytes + [UInt8(ascii: "}")] }

    private static func quote(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
