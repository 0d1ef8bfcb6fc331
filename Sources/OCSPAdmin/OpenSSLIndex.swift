package import Foundation
internal import OCSPCore
package import OCSPValues
package import RevocationStore

/// Reads an OpenSSL CA database (`index.txt`, as `openssl ca` writes it): one certificate a
/// line, six tab-separated fields — status (`V` valid, `R` revoked, `E` expired), expiry,
/// revocation `time[,reason[,compromise time or hold instruction]]`, serial (hex), file name, subject.
package enum OpenSSLIndex {
    package struct Entry: Sendable {
        package var serial: SerialNumber
        package var record: CertificateRecord
    }

    /// Parses one line. Returns nil for blank lines.
    /// - Throws: ``StoreError/Code/corrupt`` naming the line.
    package static func parse(line: Substring, number: Int, now: Date = Date()) throws -> Entry? {
        try parse(line: Array(line.utf8)[...], number: number, now: now)
    }

    /// A line that does not parse: its number (from 1), its text, and why.
    package struct BadLine: Sendable, Hashable, CustomStringConvertible {
        package var number: Int
        package var text: String
        /// The parser's error, which names the line number.
        package var reason: String
        package var description: String { reason }
    }

    /// Parses every line of an index file's bytes.
    /// - Parameter skipBad: collect the lines that do not parse (their errors, naming each line)
    ///   instead of throwing at the first.
    package static func parse(contents: [UInt8], skipBad: Bool = false, now: Date = Date()) throws
        -> (entries: [Entry], skipped: [String])
    {
        if !skipBad { return (try parseStrictly(contents: contents, now: now), []) }
        let (entries, bad) = parseSkippingBad(contents: contents, now: now)
        return (entries, bad.map(\.reason))
    }

    /// Parses every line of an index file's bytes, collecting the lines that do not parse.
    package static func parseSkippingBad(contents: [UInt8], now: Date = Date()) -> (entries: [Entry], bad: [BadLine]) {
        var entries: [Entry] = []
        var bad: [BadLine] = []
        var number = 0
        for line in contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            do {
                if let entry = try parse(line: line, number: number, now: now) { entries.append(entry) }
            } catch {
                bad.append(BadLine(number: number, text: String(decoding: line, as: UTF8.self), reason: "\(error)"))
            }
        }
        return (entries, bad)
    }

    static func parseStrictly(contents: [UInt8], now: Date) throws -> [Entry] {
        var entries: [Entry] = []
        var number = 0
        for line in contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            if let entry = try parse(line: line, number: number, now: now) { entries.append(entry) }
        }
        return entries
    }

    static func parse(line: ArraySlice<UInt8>, number: Int, now: Date) throws -> Entry? {
        if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) { return nil }
        let fields = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
        func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
        func bad(_ why: String) -> StoreError { StoreError(.corrupt, "index line \(number): \(why)") }
        guard fields.count >= 4 else { throw bad("expected 6 tab-separated fields, found \(fields.count)") }
        guard let expiry = parseTime(fields[1]) else { throw bad("expiry '\(text(fields[1]))' is not YYMMDDHHMMSSZ") }
        guard let serial = parseSerial(fields[3]) else { throw bad("serial '\(text(fields[3]))' is not hex") }
        switch fields[0].first {
        case UInt8(ascii: "V"), UInt8(ascii: "E"):
            return Entry(serial: serial, record: CertificateRecord(status: .good, notAfter: expiry, changedAt: now))
        case UInt8(ascii: "R"):
            let parts = fields[2].split(separator: UInt8(ascii: ","))
            guard let first = parts.first, let time = parseTime(first) else {
                throw bad("revocation '\(text(fields[2]))' does not start with YYMMDDHHMMSSZ")
            }
            var reason: RevocationReason? = nil
            if parts.count > 1 {
                // openssl ca writes keyTime / CAkeyTime (compromise with a time) and holdInstruction.
                let name = text(parts[1])
                let aliases: [String: RevocationReason] = [
                    "keyTime": .keyCompromise, "CAkeyTime": .cACompromise, "holdInstruction": .certificateHold,
                ]
                guard let named = aliases[name] ?? RevocationReason(name: name) else { throw bad("unknown reason '\(name)'") }
                reason = named
            }
            // For keyTime/CAkeyTime the third part is the compromise (invalidity) time; for a hold, an OID.
            let invalidity = parts.count > 2 ? parseTime(parts[2]) : nil
            return Entry(
                serial: serial,
                record: CertificateRecord(
                    status: .revoked(time: time, reason: reason, invalidityDate: invalidity), notAfter: expiry, changedAt: now))
        default:
            throw bad("status '\(text(fields[0]))' is not V, R or E")
        }
    }

    /// Hexadecimal serial of at most 20 octets.
    static func parseSerial(_ hex: ArraySlice<UInt8>) -> SerialNumber? {
        guard !hex.isEmpty, hex.count <= 42 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2 + 1)
        var pending: UInt8? = hex.count % 2 == 1 ? 0 : nil
        for c in hex {
            let value: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let high = pending {
                bytes.append(high << 4 | value)
                pending = nil
            } else {
                pending = value
            }
        }
        let serial = SerialNumber(bytes: bytes)
        return serial.bytes.count <= 20 ? serial : nil
    }

    /// UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`.
    static func parseTime(_ text: ArraySlice<UInt8>) -> Date? {
        let utf8 = Array(text)
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
