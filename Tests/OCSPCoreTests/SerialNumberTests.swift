import OCSPCore
import OCSPValues
import Testing

@Suite struct SerialNumberTests {
    @Test(arguments: [("1A2B3C", "1A2B3C"), ("0x00ff", "FF"), ("a:b:c", "0ABC"), ("0", "00"), ("  7f\n", "7F")])
    func parsesHex(input: String, canonical: String) throws {
        #expect(try SerialNumber(hex: input).hex == canonical)
    }

    @Test(arguments: ["", "XYZ", "12 34", "0x", "-5"])
    func rejectsNonHex(input: String) {
        #expect(throws: OCSPError(.invalidSerial, "")) { try SerialNumber(hex: input) }
    }

    @Test func rejectsMoreThanTwentyOctets() throws {
        #expect(try SerialNumber(hex: String(repeating: "AB", count: 20)).bytes.count == 20)
        #expect(throws: OCSPError(.invalidSerial, "")) { try SerialNumber(hex: String(repeating: "AB", count: 21)) }
    }

    @Test func leadingZerosDoNotChangeIdentity() {
        #expect(SerialNumber(bytes: [0, 0, 1, 2]) == SerialNumber(bytes: [1, 2]))
        #expect(SerialNumber(bytes: []).bytes == [0])
    }

    @Test func randomSerialsArePositiveSixteenOctets() {
        let a = SerialNumber.random()
        let b = SerialNumber.random()
        #expect(a.bytes.count == 16 && a.bytes[0] & 0x80 == 0)
        #expect(a != b)
    }
}
