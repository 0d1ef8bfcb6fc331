internal import OCSPValues

/// Decodes the OCSP request carried in a GET path (RFC 6960 Appendix A.1, RFC 5019 §5):
/// `{url}/{url-encoding of base-64 encoding of the DER encoding of the OCSPRequest}`.
///
/// Tolerant of what real clients send: percent-encoding or none (so the base64 may contain `/`),
/// `+` left raw or turned into a space, the URL-safe alphabet, and missing padding.
public enum GETRequestPath {
    /// How many bytes ``decode(_:prefix:into:)`` may write for a path of `count` bytes.
    public static func decodedCapacity(_ count: Int) -> Int { count / 4 * 3 + 3 }

    /// Decodes the path after `prefix` into `output`, in one pass and without allocating.
    /// - Parameters:
    ///   - output: at least ``decodedCapacity(_:)`` of `path.count` bytes.
    /// - Returns: how many DER bytes were written, or nil if the path is not `prefix` followed by
    ///   the base64 of anything.
    public static func decode(
        _ path: UnsafeRawBufferPointer, prefix: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) -> Int? {
        guard path.count >= prefix.count, path.starts(with: prefix),
            output.count >= decodedCapacity(path.count)
        else { return nil }
        var written = 0
        var accumulator: UInt32 = 0
        var bits = 0
        var sextets = 0
        var padding = 0
        var index = prefix.count
        return symbols.withUnsafeBufferPointer { symbols -> Int? in
            while index < path.count {
                // Four plain base64 symbols at a sextet boundary (the usual case): three bytes at once.
                if bits == 0, padding == 0, index + 4 <= path.count {
                    let a = symbols[Int(path[index])]
                    let b = symbols[Int(path[index + 1])]
                    let c = symbols[Int(path[index + 2])]
                    let d = symbols[Int(path[index + 3])]
                    if a & b & c & d & Symbol.base64 != 0 {
                        let value =
                            UInt32(a >> 8 & 0x3F) << 18 | UInt32(b >> 8 & 0x3F) << 12 | UInt32(c >> 8 & 0x3F) << 6
                            | UInt32(d >> 8 & 0x3F)
                        output[written] = UInt8(truncatingIfNeeded: value >> 16)
                        output[written + 1] = UInt8(truncatingIfNeeded: value >> 8)
                        output[written + 2] = UInt8(truncatingIfNeeded: value)
                        written += 3
                        sextets += 4
                        index += 4
                        continue
                    }
                }
                var symbol = symbols[Int(path[index])]
                index += 1
                if symbol == Symbol.percent {
                    guard index + 1 < path.count else { return nil }
                    let high = symbols[Int(path[index])]
                    let low = symbols[Int(path[index + 1])]
                    guard high & Symbol.hexDigit != 0, low & Symbol.hexDigit != 0 else { return nil }
                    symbol = symbols[Int((high & Symbol.hexValue) << 4 | (low & Symbol.hexValue))]
                    index += 2
                }
                if symbol == Symbol.padding {
                    padding += 1
                    continue
                }
                // Padding only at the end, and a symbol after it is not base64.
                guard padding == 0, symbol & Symbol.base64 != 0 else { return nil }
                sextets += 1
                accumulator = accumulator << 6 | UInt32(symbol >> 8 & 0x3F)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    output[written] = UInt8(truncatingIfNeeded: accumulator >> UInt32(bits))
                    written += 1
                }
            }
            // Nothing, too much padding, or a lone leftover sextet (length ≡ 1 mod 4) is not base64.
            guard sextets > 0, padding <= 2, bits < 6 else { return nil }
            return written
        }
    }

    /// The DER request bytes in `path` after `prefix`, or nil if it is not base64 of anything.
    /// A convenience over ``decode(_:prefix:into:)``, inlined so it is specialised where it is called.
    @inlinable
    public static func decode(_ path: some Collection<UInt8>, prefix: [UInt8] = [UInt8(ascii: "/")]) -> [UInt8]? {
        let path = Array(path)
        var output = [UInt8](repeating: 0, count: decodedCapacity(path.count))
        let count = path.withUnsafeBytes { path in
            prefix.withUnsafeBytes { prefix in
                output.withUnsafeMutableBytes { decode(path, prefix: prefix, into: $0) }
            }
        }
        return count.map { Array(output.prefix($0)) }
    }

    /// What each byte means, in one table (a lookup per byte): bits 8…13 the base64 value,
    /// then flags; the low 4 bits a hex digit's value.
    private enum Symbol {
        static let base64: UInt16 = 0x4000
        static let hexDigit: UInt16 = 0x0010
        static let hexValue: UInt16 = 0x000F
        static let percent: UInt16 = 0x8000
        static let padding: UInt16 = 0x2000
    }

    private static let symbols: [UInt16] = (0...255).map { byte in
        let c = UInt8(byte)
        var symbol: UInt16 = 0
        if let value = sextet(c) { symbol |= Symbol.base64 | UInt16(value) << 8 }
        if let value = hexDigitValue(c) { symbol |= Symbol.hexDigit | UInt16(value) }
        if c == UInt8(ascii: "%") { symbol = Symbol.percent }
        if c == UInt8(ascii: "=") { symbol = Symbol.padding }
        return symbol
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
}
