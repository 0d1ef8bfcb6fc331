/// What the load generator keeps of one HTTP response.
struct HTTPResponseSummary {
    /// Bytes of the body kept for ``ocspStatus``: enough for `30 83 xx xx xx 0A 01 ss`.
    static let prefixCapacity = 8

    var status = 0
    /// Whether the connection may carry another request.
    var keepAlive = true
    var bodyLength = 0
    /// The first bytes of the body, big-endian in the low bytes.
    private(set) var bodyPrefix: UInt64 = 0
    private(set) var bodyPrefixCount = 0
    /// The whole body, when it was asked for (sampled responses).
    var body: [UInt8]? = nil

    mutating func appendPrefix(_ byte: UInt8) {
        bodyPrefix = bodyPrefix << 8 | UInt64(byte)
        bodyPrefixCount += 1
    }

    /// The `responseStatus` of an OCSPResponse body, read from its first bytes without decoding:
    ///
    ///     OCSPResponse ::= SEQUENCE { responseStatus OCSPResponseStatus (ENUMERATED), … }
    ///
    /// nil when the body does not start like a DER OCSPResponse.
    var ocspStatus: Int? {
        guard bodyPrefixCount >= 5 else { return nil }
        func byte(_ index: Int) -> UInt8? {
            guard index < bodyPrefixCount else { return nil }
            return UInt8(truncatingIfNeeded: bodyPrefix >> (8 * UInt64(bodyPrefixCount - 1 - index)))
        }
        guard byte(0) == 0x30, let length = byte(1) else { return nil }
        let enumerated: Int
        switch length {
        case 0..<0x80: enumerated = 2
        case 0x81...0x83: enumerated = 2 + Int(length & 0x7F)
        default: return nil
        }
        guard byte(enumerated) == 0x0A, byte(enumerated + 1) == 0x01, let value = byte(enumerated + 2) else {
            return nil
        }
        return Int(value)
    }
}
