/// Writes one JSON object, fields in the order given.
struct JSONLine {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    init() { bytes.reserveCapacity(320) }

    mutating func string(_ key: String, _ value: String) {
        raw(key, "")
        Self.quote(value, into: &bytes)
    }

    mutating func number(_ key: String, _ value: UInt64) { raw(key, String(value)) }

    mutating func object(_ key: String, _ fields: [(String, String)]) {
        raw(key, "")
        var inner = JSONLine()
        for (name, value) in fields { inner.string(name, value) }
        bytes += inner.finish()
    }

    /// `"key":` and then `value` as is.
    mutating func raw(_ key: String, _ value: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        Self.quote(key, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
        bytes += value.utf8
    }

    func finish() -> [UInt8] { bytes + [UInt8(ascii: "}")] }

    private static func quote(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
