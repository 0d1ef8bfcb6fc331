internal import COpenSSL
internal import Foundation

/// A certificate serial number, held as its unsigned big-endian magnitude without leading zeros.
///
/// RFC 5280 §4.1.2.2 allows up to 20 octets; this type enforces that bound.
public struct SerialNumber: Hashable, Sendable, CustomStringConvertible {
    /// Big-endian magnitude, no leading zero bytes (zero is `[0]`).
    public let bytes: [UInt8]

    /// Wraps magnitude bytes, dropping leading zeros.
    public init(bytes: some Collection<UInt8>) {
        let trimmed = Array(bytes.drop(while: { $0 == 0 }))
        self.bytes = trimmed.isEmpty ? [0] : trimmed
    }

    /// Wraps magnitude bytes read from memory (a store key), dropping leading zeros: the fast
    /// path for bulk reads, free of generic collection machinery.
    public init(bytes raw: UnsafeRawBufferPointer) {
        var start = 0
        while start < raw.count - 1, raw[start] == 0 { start += 1 }
        bytes = raw.isEmpty ? [0] : Array(UnsafeRawBufferPointer(rebasing: raw[start...]))
    }

    /// Parses hexadecimal (`0x` prefix, `:` separators and either case accepted).
    /// - Throws: ``OCSPError/Code/invalidSerial`` for anything else or more than 20 octets.
    public init(hex: String) throws {
        var text = Substring(hex.trimmingCharacters(in: .whitespacesAndNewlines))
        if text.hasPrefix("0x") || text.hasPrefix("0X") { text = text.dropFirst(2) }
        let digits = text.filter { $0 != ":" }
        guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else {
            throw OCSPError(.invalidSerial, "serial '\(hex)' is not hexadecimal (example: --serial 1A2B3C)")
        }
        let padded = digits.count % 2 == 1 ? "0" + digits : String(digits)
        var bytes: [UInt8] = []
        var index = padded.startIndex
        while index < padded.endIndex {
            let next = padded.index(index, offsetBy: 2)
            bytes.append(UInt8(padded[index..<next], radix: 16)!)
            index = next
        }
        self.init(bytes: bytes)
        guard self.bytes.count <= 20 else {
            throw OCSPError(.invalidSerial, "serial '\(hex)' is longer than the 20 octets RFC 5280 allows")
        }
    }

    /// Upper-case hexadecimal with an even number of digits, as `openssl x509 -serial` prints it.
    public var hex: String { bytes.hexString }
    public var description: String { hex }

    /// Reads an `ASN1_INTEGER` (its magnitude; the sign of a non-conforming negative serial is dropped).
    init(asn1 integer: UnsafePointer<ASN1_INTEGER>) {
        let length = Int(ASN1_STRING_length(integer))
        if let data = ASN1_STRING_get0_data(integer), length > 0 {
            self.init(bytes: UnsafeBufferPointer(start: data, count: length))
        } else {
            self.init(bytes: [0])
        }
    }

    /// A new `ASN1_INTEGER`, owned by the caller.
    func makeASN1Integer() throws -> UnsafeMutablePointer<ASN1_INTEGER> {
        let bignum = bytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        guard let bignum else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
        defer { BN_free(bignum) }
        guard let integer = BN_to_ASN1_INTEGER(bignum, nil) else {
            throw OCSPError.openSSL(.encodeFailed, "could not encode serial \(hex)")
        }
        return integer
    }

    /// Overwrites an existing `ASN1_INTEGER` (a CertID's or CRL entry's, reused across many
    /// signatures) with this serial. OpenSSL keeps the magnitude and the sign apart, so the bytes
    /// are set as they are. Returns false if OpenSSL could not grow its buffer.
    func write(into integer: UnsafeMutablePointer<ASN1_INTEGER>) -> Bool {
        integer.pointee.type = V_ASN1_INTEGER
        return bytes.withUnsafeBytes { ASN1_STRING_set(integer, $0.baseAddress, Int32($0.count)) } == 1
    }

    /// A random positive 16-octet serial (RFC 5280: at most 20 octets, unpredictable for CAs).
    public static func random() -> SerialNumber {
        var bytes = [UInt8](repeating: 0, count: 16)
        _ = RAND_bytes(&bytes, Int32(bytes.count))
        bytes[0] = (bytes[0] & 0x7F) | 0x40  // positive, full length
        return SerialNumber(bytes: bytes)
    }
}
