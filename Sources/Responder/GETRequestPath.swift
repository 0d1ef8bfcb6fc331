/// Decodes the OCSP request carried in a GET path (RFC 6960 Appendix A.1, RFC 5019 §5):
/// `{url}/{url-encoding of base-64 encoding of the DER encoding of the OCSPRequest}`.
///
/// Tolerant of what real clients send: percent-encoding or none (so the base64 may contain `/`),
/// `+` left raw or turned into a space, the URL-safe alphabet, and missing padding.
public enum GETRequestPath {
    /// The DER request bytes in `path` after `prefix`, or nil if it is not base64 of anything.
    public static func decode(_ path: some Collection<UInt8>, prefix: [UInt8] = [UInt8(ascii: "/")]) -> [UInt8]? {
        guard path.starts(with: prefix) else { return nil }
        var text: [UInt8] = []
        text.reserveCapacity(path.count)
        var iterator = path.dropFirst(prefix.count).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                text.append(high << 4 | low)
            } else {
                text.append(byte)
            }
        }
        return base64Decode(text)
    }

    /// Standard or URL-safe base64, padding optional, `' '` read as `'+'`.
    static func base64Decode(_ text: [UInt8]) -> [UInt8]? {
        var end = text.count
        while end > 0, text[end - 1] == UInt8(ascii: "=") { end -= 1 }
        guard end > 0, text.count - end <= 2 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(end * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for index in 0..<end {
            guard let value = sextet(text[index]) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // A lone leftover sextet (length ≡ 1 mod 4) is not base64.
        guard bits < 6 else { return nil }
        return out
    }

    private static func sextet(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"), UInt8(ascii: " "), UInt8(ascii: "-"): 62
        case UInt8(ascii: "/"), UInt8(ascii: "_"): 63
        default: nil
        }
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
