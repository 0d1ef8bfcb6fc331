package import Foundation

/// IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`: always 29 ASCII bytes.
package enum HTTPDate {
    package static let byteCount = 29

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].map { Array($0.utf8) }
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .map { Array($0.utf8) }

    /// The date `seconds` after 1970 (UTC), as the 29 bytes of an IMF-fixdate.
    package static func bytes(_ seconds: Int64) -> [UInt8] {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var out = days[Int(parts.tm_wday)] + Array(", ".utf8)
        append(Int(parts.tm_mday), digits: 2, to: &out)
        out += [UInt8(ascii: " ")] + months[Int(parts.tm_mon)] + [UInt8(ascii: " ")]
        append(Int(parts.tm_year) + 1900, digits: 4, to: &out)
        out.append(UInt8(ascii: " "))
        append(Int(parts.tm_hour), digits: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        append(Int(parts.tm_min), digits: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        append(Int(parts.tm_sec), digits: 2, to: &out)
        out += Array(" GMT".utf8)
        return out
    }

    package static func format(_ date: Date) -> String {
        String(decoding: bytes(Int64(date.timeIntervalSince1970.rounded(.down))), as: UTF8.self)
    }

    private static func append(_ value: Int, digits: Int, to out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<digits { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }
}
