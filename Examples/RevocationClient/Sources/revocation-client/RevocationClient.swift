import Foundation
import OCSPCore
import OCSPStapling
import RevocationChecking

/// `revocation-client CERT ISSUER POLICY`: fetches and verifies the certificate's OCSP staple the
/// way a TLS server would, then decides about the certificate the way a relying party would,
/// handed that staple, under the policy in the YAML file. Exit status: 0 accepted, 1 rejected,
/// 2 usage or unreadable input.
@main
struct RevocationClient {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count == 3 else {
            fail("usage: revocation-client CERT.pem ISSUER.pem POLICY.yaml")
        }
        let leaf: Certificate
        let issuer: Certificate
        let policy: RevocationPolicy
        do {
            leaf = try Certificate.load(path: arguments[0])
            issuer = try Certificate.load(path: arguments[1])
            policy = try RevocationPolicy.load(path: arguments[2])
        } catch {
            fail("\(error)")
        }
        print("certificate: \(leaf.subject), serial \(leaf.serialNumber.hex)")
        print("issuer:      \(issuer.subject)")

        // 1. The server's side: fetch a staple from the responder named in the certificate's AIA,
        // verified against the issuer before it is used.
        let fetcher = StapleFetcher(options: StapleFetcher.Options(timeout: .seconds(5)))
        var staple: Staple?
        do {
            let url = try fetcher.responderURL(for: leaf)
            let fetched = try await fetcher.fetch(leaf: leaf, issuer: issuer)
            let verified = fetched.verified
            print("staple:      \(verified.status.name) from \(url), \(fetched.der.count) bytes")
            print("             signed by \(verified.signer.subject)")
            print("             thisUpdate \(verified.thisUpdate), nextUpdate \(verified.nextUpdate)")
            let refresh = RefreshPolicy().nextRefresh(
                thisUpdate: verified.thisUpdate, nextUpdate: verified.nextUpdate, now: Date(), jitter: 0)
            print("             refresh at \(refresh)")
            staple = fetched
        } catch let error as StaplingError {
            // A server keeps its last good staple; this client goes on without one.
            print("staple:      none (\(error.message))")
        } catch {
            print("staple:      none (\(error))")
        }

        // 2. The client's side: the peer presented `leaf`, issued by `issuer`, and stapled `staple`.
        let checker = RevocationChecker(policy: policy)
        let decision = await checker.check(chain: [leaf, issuer], staple: staple?.der)
        print("policy:      method \(policy.method.rawValue), fallback \(policy.fallback.rawValue), soft_fail \(policy.softFail)")
        print("decision:    \(decision.verdict.rawValue.uppercased()): \(decision.reason)")
        for attempt in decision.attempts {
            var line = "  \(attempt.source.rawValue)"
            if let url = attempt.url { line += " \(url)" }
            line += ": \(attempt.status ?? "no answer")"
            if let error = attempt.error { line += " (\(error))" }
            print(line + " in \(milliseconds(attempt.duration)) ms")
        }
        exit(decision.verdict == .accept ? 0 : 1)
    }

    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(2)
    }
}
