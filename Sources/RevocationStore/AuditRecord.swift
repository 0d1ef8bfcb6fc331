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
