import Foundation
import Responder
import Testing

@Suite struct GETRequestPathTests {
    // Bytes whose base64 holds '+', '/' and padding: "+/+/MAE=".
    let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0x30, 0x01]

    var standard: String { Data(bytes).base64EncodedString() }

    @Test func decodesRawBase64WithSlashes() {
        #expect(standard.contains("/") && standard.contains("+"))
        #expect(GETRequestPath.decode(Array(("/" + standard).utf8)) == bytes)
    }

    @Test func decodesPercentEncoding() {
        let encoded = standard.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        #expect(encoded.contains("%2F") && encoded.contains("%2B"))
        #expect(GETRequestPath.decode(Array(("/" + encoded).utf8)) == bytes)
        #expect(GETRequestPath.decode(Array(("/" + encoded.replacingOccurrences(of: "%2F", with: "%2f")).utf8)) == bytes)
    }

    @Test func decodesURLSafeAlphabetSpaceForPlusAndMissingPadding() {
        let urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        #expect(GETRequestPath.decode(Array(("/" + urlSafe).utf8)) == bytes)
        #expect(GETRequestPath.decode(Array(("/" + standard.replacingOccurrences(of: "+", with: " ")).utf8)) == bytes)
        #expect(GETRequestPath.decode(Array(("/" + standard.trimmingCharacters(in: ["="])).utf8)) == bytes)
    }

    @Test func honoursAPrefix() {
        #expect(GETRequestPath.decode(Array(("/ocsp/" + standard).utf8), prefix: Array("/ocsp/".utf8)) == bytes)
        #expect(GETRequestPath.decode(Array(("/other/" + standard).utf8), prefix: Array("/ocsp/".utf8)) == nil)
    }

    /// Every encoding a client may send, of random bytes of every length up to 200: the
    /// four-at-a-time path and the byte-at-a-time path (after a `%XX`) must agree with Foundation.
    @Test func decodesWhatFoundationEncodes() {
        var generator = SystemRandomNumberGenerator()
        for length in 1...200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let standard = Data(bytes).base64EncodedString()
            let urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let percent = standard.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            // Percent-encode one symbol in the middle too, which shifts where the groups of four start.
            var mixed = Array(urlSafe)
            let middle = mixed.count / 2
            let escaped = "%" + String(format: "%02X", mixed[middle].asciiValue!)
            mixed.replaceSubrange(middle...middle, with: Array(escaped))
            for path in [standard, urlSafe, percent, String(mixed)] {
                #expect(GETRequestPath.decode(Array(("/" + path).utf8)) == bytes, "\(path)")
            }
        }
    }

    @Test(arguments: ["/", "/!!!!", "/%zz", "/%4", "/A", "/AAAAA", "/AA===", "/QQ==QQ==", "/QUJD=REVG", "/QUJDRA=E"])
    func rejectsNonBase64(path: String) {
        #expect(GETRequestPath.decode(Array(path.utf8)) == nil)
    }
}
