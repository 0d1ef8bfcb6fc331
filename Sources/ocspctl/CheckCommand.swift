import ArgumentParser
import Foundation
import OCSPCore
import OCSPValues
import RevocationChecking

/// `ocspctl check`: what a relying party with this policy would decide about a certificate, and
/// the path it took (for an operator troubleshooting a peer that is refused, or accepted).
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Decide, as a relying party would, whether a certificate's revocation status lets it in.",
        discussion: """
            Applies a revocation policy (Config/revocation-policy.yaml: method, fallback, \
            must_staple, crl_fallback, soft_fail, cache_ttl, timeout, filter) to the certificate: \
            the revocation filters it names (offline), its staple (--staple), then OCSP to its AIA URL, then its CRL, as the policy says. Prints \
            the decision, and each source tried with its result and time. Exit status: 0 accepted, \
            1 rejected, 2 usage.
            """)

    @Option(help: "The certificate (PEM or DER); its issuer may follow it in the same file.")
    var cert: String?

    @Option(help: "The issuing CA certificate (default: the second certificate in --cert).")
    var issuer: String?

    @Option(help: "A stapled OCSP response (DER) to check first, as a TLS server would send it.")
    var staple: String?

    @Option(help: "The policy (YAML or JSON; default: staple, then OCSP, hard fail, 5 s).")
    var policy: String?

    @Option(help: "Ask this OCSP responder instead of the certificate's AIA URL.")
    var url: String?

    @Flag(help: "Print JSON: decision, status, source, reason, attempts.")
    var json = false

    @Flag(help: "Print the effective policy of --policy, with where each value came from, and exit (no --cert needed).")
    var checkConfig = false

    func validate() throws {
        if checkConfig {
            guard policy != nil else { throw ValidationError("--check-config checks a policy file: give --policy FILE") }
        } else if cert == nil {
            throw ValidationError("give the certificate to check: --cert CERT.pem (or --check-config with --policy FILE)")
        }
    }

    func run() async throws {
        if checkConfig, let path = policy {
            do {
                print(try RevocationPolicy.summary(path: path))
            } catch {
                throw ValidationError("\(error)")
            }
            return
        }
        guard let cert else { throw ValidationError("give the certificate to check: --cert CERT.pem") }
        var policy = RevocationPolicy()
        if let path = self.policy {
            do {
                policy = try RevocationPolicy.load(path: path)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        if let url { policy.ocspURL = url }
        let chain: [Certificate]
        do {
            let certificates = try Certificate.loadChain(path: cert)
            if let issuer {
                chain = [certificates[0], try Certificate.load(path: issuer)]
            } else {
                guard certificates.count > 1 else {
                    throw ValidationError("\(cert) holds no issuer after the certificate; give --issuer CA.pem")
                }
                chain = certificates
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
        var stapleDER: [UInt8]?
        if let staple {
            guard let data = FileManager.default.contents(atPath: staple) else {
                throw ValidationError("cannot read the staple \(staple)")
            }
            stapleDER = [UInt8](data)
        }

        let decision = await RevocationChecker(policy: policy).check(chain: chain, staple: stapleDER)
        if json {
            var fields: [String: Any] = [
                "decision": decision.verdict.rawValue, "source": decision.source.rawValue, "reason": decision.reason,
                "status": decision.status?.name ?? NSNull(),
                "attempts": decision.attempts.map { attempt -> [String: Any] in
                    var fields: [String: Any] = [
                        "source": attempt.source.rawValue, "milliseconds": Self.milliseconds(attempt.duration),
                    ]
                    if let url = attempt.url { fields["url"] = url }
                    if let status = attempt.status { fields["status"] = status }
                    if let error = attempt.error { fields["error"] = error }
                    return fields
                },
            ]
            if let nextUpdate = decision.nextUpdate { fields["nextUpdate"] = ISO8601DateFormatter().string(from: nextUpdate) }
            try printJSON(fields)
        } else {
            print("\(decision.verdict == .accept ? "ACCEPT" : "REJECT"): \(decision.reason)")
            for attempt in decision.attempts {
                var line = "  \(attempt.source.rawValue)"
                if let url = attempt.url { line += " \(url)" }
                line += ": " + (attempt.status ?? "no answer")
                if let error = attempt.error { line += " (\(error))" }
                print(line + " in \(Self.milliseconds(attempt.duration)) ms")
            }
        }
        if decision.verdict == .reject { throw ExitCode(1) }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
