import Foundation

// What the read commands (list, stats, issuer show) print with: times as RFC 3339 UTC, JSON,
// and a buffered writer for listings of millions of lines.

/// `2026-01-02T03:04:05Z`: RFC 3339 in UTC, whole seconds (what ``parseTime(_:option:)`` reads).
func rfc3339(_ date: Date) -> String {
    var out: [UInt8] = []
    appendRFC3339(date, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Appends ``rfc3339(_:)`` of `date` to `out`. Computed from the day number (H. Hinnant's
/// civil-from-days), not with `ISO8601DateFormatter`, which costs microseconds a call: `list`
/// formats two or three times per certificate.
func appendRFC3339(_ date: Date, to out: inout [UInt8]) {
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

/// Prints `object` (dictionaries, arrays, strings, numbers) as one line of JSON, keys sorted.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

/// Standard output, written in large blocks: a listing builds its lines here and writes them
/// once a page (and whenever the buffer passes 256 KiB), so printing a million lines is a few
/// hundred `write` calls, not a million.
struct OutputBuffer {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(Self.limit + 4096) }

    private static let limit = 256 << 10

    mutating func append(_ text: String) { bytes += text.utf8 }
    mutating func append(_ byte: UInt8) { bytes.append(byte) }
    mutating func append(date: Date) { appendRFC3339(date, to: &bytes) }

    /// Writes what is buffered if it has grown past the limit.
    mutating func flushIfFull() throws { if bytes.count >= Self.limit { try flush() } }

    /// Writes everything buffered to standard output.
    mutating func flush() throws {
        var offset = 0
        try bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw CLIError("cannot write to standard output: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }
}
