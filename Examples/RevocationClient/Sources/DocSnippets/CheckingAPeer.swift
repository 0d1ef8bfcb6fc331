// The code of Sources/RevocationChecking/Docs.docc/CheckingAPeer.md, block for block (check_snippets.py keeps
// the two the same). Compiled, never run.
import OCSPCore
import RevocationChecking

let seedsPolicyYAML = """
    revocation_checking:
      method: ocsp_stapling  # Server pre-fetches OCSP response
      fallback: ocsp         # Direct OCSP if stapling unavailable
      must_staple: true      # Require OCSP stapling extension
      crl_fallback: false    # CRLs too large for real-time
      soft_fail: false       # Hard-fail if OCSP unreachable (security > availability)
      cache_ttl: 3600        # Cache OCSP responses for 1 hour
      timeout: 5s            # OCSP responder timeout
    """

func seedsPolicy() throws -> RevocationPolicy {
    try RevocationPolicy.parse(seedsPolicyYAML, source: "seeds")
}

func internalPolicy(path: String) throws -> RevocationPolicy {
    var policy = try RevocationPolicy.load(path: path)
    policy.ocspURL = "http://ocsp.internal.example:8080/"
    policy.timeout = .seconds(2)
    return policy
}

func admit(chain: [Certificate], staple: [UInt8]?, checker: RevocationChecker) async -> Bool {
    let decision = await checker.check(chain: chain, staple: staple)
    guard decision.verdict == .accept else {
        print("refused: \(decision.reason)")
        return false
    }
    return true
}

func log(_ decision: RevocationDecision) {
    print("\(decision.verdict.rawValue) by \(decision.source.rawValue): \(decision.reason)")
    for attempt in decision.attempts {
        let said = attempt.status ?? "no answer (\(attempt.error ?? "?"))"
        print("  \(attempt.source.rawValue) \(attempt.url ?? ""): \(said) in \(attempt.duration)")
    }
}
