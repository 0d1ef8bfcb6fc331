package import Foundation

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
