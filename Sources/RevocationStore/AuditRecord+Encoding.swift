internal import COpenSSL
internal import Foundation
internal import OCSPValues

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
