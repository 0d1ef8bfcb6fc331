/// A certificate serial number, held as its unsigned big-endian magnitude without leading zeros.
///
/// RFC 5280 §4.1.2.2 allows up to 20 octets; ``init(hex:)`` enforces that bound.
public struct SerialNumber: Hashable, Sendable, CustomStringConvertible {
    /// Big-endian magnitude, no leading zero bytes (zero is `[0]`).
    public let bytes: [UInt8]

    /// Wraps magnitude bytes read from memory (a request, a store key), dropping leading zeros.
    /// The concrete form the request path and bulk reads call.
    public init(bytes raw: UnsafeRawBufferPointer) {
        var start = 0
        while start < raw.count - 1, raw[start] == 0 { start += 1 }
        bytes = raw.isEmpty ? [0] : Array(UnsafeRawBufferPointer(rebasing: raw[start...]))
    }

    /// Wraps magnitude bytes, dropping leading zeros. A forwarder to the concrete
    /// ``init(bytes:)-(UnsafeRawBufferPointer)``, inlined so it is specialised at the call site.
    @inlinable
    public init(bytes: some Collection<UInt8>) {
        self = Array(bytes).withUnsafeBytes { SerialNumber(bytes: $0) }
    }

    /// Parses hexadecimal (`0x` prefix, `:` separators and either case accepted).
    /// - Throws: ``OCSPError/Code/invalidSerial`` for anything else or more than 20 octets.
    public init(hex: String) throws {
        var text = Substring(hex)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        if text.hasPrefix("0x") || text.hasPrefix("0X") { text = text.dropFirst(2) }
        let digits = text.utf8.filter { $0 != UInt8(ascii: ":") }
        let values = digits.map(hexDigitValue)
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw OCSPError(.invalidSerial, "serial '\(hex)' is not hexadecimal (example: --serial 1A2B3C)")
        }
        var nibbles = values.map { $0! }
        if nibbles.count % 2 == 1 { nibbles.insert(0, at: 0) }
        let bytes = stride(from: 0, to: nibbles.count, by: 2).map { nibbles[$0] << 4 | nibbles[$0 + 1] }
        self.init(bytes: bytes)
        guard self.bytes.count <= 20 else {
            throw OCSPError(.invalidSerial, "serial '\(hex)' is longer than the 20 octets RFC 5280 allows")
        }
    }

    /// Upper-case hexadecimal with an even number of digits, as `openssl x509 -serial` prints it.
    public var hex: String { bytes.hexString }
    public var description: String { hex }

    /// A random positive 16-octet serial (RFC 5280: at most 20 octets, unpredictable for CAs),
    /// from the system's cryptographically secure generator.
    public static func random() -> SerialNumber {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = (bytes[0] & 0x7F) | 0x40  // positive, full length
        return SerialNumber(bytes: bytes)
    }
}

/// The value of a hexadecimal digit (either case), or nil.
package func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
