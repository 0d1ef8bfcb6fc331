public import Foundation
public import OCSPCore
public import RevocationStore

/// Reads an OpenSSL CA database (`index.txt`, as `openssl ca` writes it): one certificate a
/// line, six tab-separated fields — status (`V` valid, `R` revoked, `E` expired), expiry,
/// revocation `time[,reason[,compromise time or hold instruction]]`, serial (hex), file name, subject.
public enum OpenSSLIndex {
    public struct Entry: Sendable {
        public var serial: SerialNumber
        public var record: CertificateRecord
    }

    /// Parses one line. Returns nil for blank lines.
    /// - Throws: ``StoreError/Code/corrupt`` naming the line.
    public static func parse(line: Substring, number: Int, now: Date = Date()) throws -> Entry? {
        if line.allSatisfy(\.isWhitespace) { return nil }
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
        func bad(_ why: String) -> StoreError { StoreError(.corrupt, "index line \(number): \(why)") }
        guard fields.count >= 4 else { throw bad("expected 6 tab-separated fields, found \(fields.count)") }
        guard let expiry = parseTime(fields[1]) else { throw bad("expiry '\(fields[1])' is not YYMMDDHHMMSSZ") }
        let serial: SerialNumber
        do { serial = try SerialNumber(hex: String(fields[3])) } catch { throw bad("serial '\(fields[3])' is not hex") }
        switch fields[0] {
        case "V", "E":
            return Entry(serial: serial, record: CertificateRecord(status: .good, notAfter: expiry, changedAt: now))
        case "R":
            let parts = fields[2].split(separator: ",")
            guard let first = parts.first, let time = parseTime(first) else {
                throw bad("revocation '\(fields[2])' does not start with YYMMDDHHMMSSZ")
            }
            var reason: RevocationReason? = nil
            if parts.count > 1 {
                // openssl ca writes keyTime / CAkeyTime (compromise with a time) and holdInstruction.
                let aliases: [Substring: RevocationReason] = [
                    "keyTime": .keyCompromise, "CAkeyTime": .cACompromise, "holdInstruction": .certificateHold,
                ]
                guard let named = aliases[parts[1]] ?? RevocationReason(name: String(parts[1])) else {
                    throw bad("unknown reason '\(parts[1])'")
                }
                reason = named
            }
            // For keyTime/CAkeyTime the third part is the compromise (invalidity) time; for a hold, an OID.
            let invalidity = parts.count > 2 ? parseTime(parts[2]) : nil
            return Entry(
                serial: serial,
                record: CertificateRecord(
                    status: .revoked(time: time, reason: reason, invalidityDate: invalidity), notAfter: expiry, changedAt: now))
        default:
            throw bad("status '\(fields[0])' is not V, R or E")
        }
    }

    /// UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`.
    static func parseTime(_ text: Substring) -> Date? {
        let utf8 = Array(text.utf8)
        guard utf8.last == UInt8(ascii: "Z"), utf8.count == 13 || utf8.count == 15 else { return nil }
        var values: [Int32] = []
        var index = 0
        let digits = utf8.dropLast()
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        func number(_ count: Int) -> Int32 {
            defer { index += count }
            return digits[index..<index + count].reduce(0) { $0 * 10 + Int32($1 - UInt8(ascii: "0")) }
        }
        var year = utf8.count == 13 ? number(2) : number(4)
        if utf8.count == 13 { year += year >= 50 ? 1900 : 2000 }  // RFC 5280 §4.1.2.5.1
        for _ in 0..<5 { values.append(number(2)) }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = values[0] - 1
        parts.tm_mday = values[1]
        parts.tm_hour = values[2]
        parts.tm_min = values[3]
        parts.tm_sec = values[4]
        guard (0...11).contains(parts.tm_mon), (1...31).contains(parts.tm_mday) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
