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

    @Test(arguments: ["/", "/!!!!", "/%zz", "/%4", "/A", "/AAAAA", "/AA===", "/QQ==QQ=="])
    func rejectsNonBase64(path: String) {
        #expect(GETRequestPath.decode(Array(path.utf8)) == nil)
    }

    @Test func parsesDurations() {
        #expect(Durations.parse("3600") == 3600)
        #expect(Durations.parse("90m") == 5400)
        #expect(Durations.parse("12h") == 43200)
        #expect(Durations.parse("7d") == 604800)
        #expect(Durations.parse("0") == nil)
        #expect(Durations.parse("1w") == nil)
        #expect(Durations.parse("-5s") == nil)
    }
}
