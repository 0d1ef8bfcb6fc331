import OCSPStapling
import Operations
@testable import RevocationChecking
import Settings
import Testing

/// One grammar: the same duration strings read the same through all three configurations
/// (ocspd's, the stapler's and the checker's policy), and are refused alike.
@Suite struct DurationGrammarTests {
    static let valid: [(text: String, seconds: Double)] = [
        ("500ms", 0.5), ("1.5s", 1.5), ("90", 90), ("90s", 90), ("10m", 600), ("1.5h", 5400), ("12h", 43_200), ("1d", 86_400),
        ("7d", 604_800), ("0.25", 0.25), (" 2s ", 2),
    ]
    static let invalid = ["-1s", "1w", "soon", "5 s", "1e3", "inf", "nan", "0x10", "", "s", "1.2.3s", "+5s", "5sec"]

    @Test(arguments: valid)
    func theGrammarReads(text: String, seconds: Double) {
        #expect(DurationText.seconds(text) == seconds)
        #expect(DurationText.parse(text) == .milliseconds(Int64(seconds * 1000)))
    }

    @Test(arguments: invalid)
    func theGrammarRefuses(text: String) {
        #expect(DurationText.seconds(text) == nil)
    }

    /// ocspd's `filter.coverage-margin`, the stapler's `refresh.margin` and the policy's
    /// `cache_ttl` each accept 0 to at least 31 days: every valid string reads the same in each.
    @Test(arguments: valid)
    func everyConfigurationReadsTheSameDuration(text: String, seconds: Double) async throws {
        let ocspd = try await OCSPDConfiguration.load(
            flags: ["store": "/s", "filter.coverage-margin": text], environment: [:])
        #expect(ocspd.filter.coverageMargin == seconds)
        let stapler = try StaplerConfiguration.parse("refresh:\n  margin: '\(text)'\n")
        #expect(stapler.policy.margin == .milliseconds(Int64(seconds * 1000)))
        let policy = try RevocationPolicy.parse("cache_ttl: '\(text)'\n")
        #expect(policy.cacheTTL == .milliseconds(Int64(seconds * 1000)))
    }

    @Test(arguments: invalid)
    func everyConfigurationRefusesTheSameWay(text: String) async throws {
        var messages: [String] = []
        do {
            _ = try await OCSPDConfiguration.load(flags: ["store": "/s", "filter.coverage-margin": text], environment: [:])
        } catch { messages.append("\(error)") }
        do {
            _ = try StaplerConfiguration.parse("refresh:\n  margin: '\(text)'\n", source: "s.yaml")
        } catch { messages.append("\(error)") }
        do {
            _ = try RevocationPolicy.parse("cache_ttl: '\(text)'\n", source: "p.yaml")
        } catch { messages.append("\(error)") }
        #expect(messages.count == 3)
        for message in messages {
            #expect(message.contains("\"\(text)\" is not valid; expected a duration from 0s to "), "\(message)")
            #expect(message.hasSuffix("such as \(DurationText.examples)"), "\(message)")
            #expect(!message.contains("\n"))
        }
        #expect(messages[0].hasPrefix("configuration key filter.coverage-margin (from flag --filter-coverage-margin): "))
        #expect(messages[1].hasPrefix("configuration key refresh.margin (from file s.yaml): "))
        #expect(messages[2].hasPrefix("configuration key cache_ttl (from file p.yaml): "))
    }

    @Test func durationsAreWrittenInTheGrammar() {
        for (seconds, text) in [(3600.0, "1h"), (90, "90s"), (0.25, "250ms"), (604_800, "7d"), (0, "0s"), (5400, "90m")] {
            #expect(DurationText.format(seconds: seconds) == text)
            #expect(DurationText.seconds(text) == seconds)
        }
    }

    @Test func sizes() {
        for (text, bytes) in [("65536", 65536), ("512k", 512 << 10), ("512K", 512 << 10), ("64M", 64 << 20), ("1G", 1 << 30)] {
            #expect(SizeText.parse(text) == bytes)
        }
        for text in ["", "k", "-1", "1.5M", "1T", "lots", "99999999999999999999G"] {
            #expect(SizeText.parse(text) == nil, "\(text)")
        }
    }
}
