// The code of Sources/OCSPStapling/Docs.docc/FetchingAStaple.md, block for block (check_snippets.py keeps
// the two the same). Compiled, never run.
import Foundation
import OCSPCore
import OCSPStapling

func fetchStaple(certificatePath: String, issuerPath: String) async throws -> Staple {
    let leaf = try Certificate.load(path: certificatePath)
    let issuer = try Certificate.load(path: issuerPath)
    let fetcher = StapleFetcher(options: StapleFetcher.Options(timeout: .seconds(5)))
    let staple = try await fetcher.fetch(leaf: leaf, issuer: issuer)
    print("\(staple.verified.status.name) until \(staple.verified.nextUpdate): \(staple.der.count) bytes")
    return staple
}

func internalFetcher() -> StapleFetcher {
    var options = StapleFetcher.Options()
    options.responderURL = "http://ocsp.internal.example:8080/"
    options.timeout = .seconds(2)
    options.method = .post
    return StapleFetcher(options: options)
}

func stapleOrNil(_ fetcher: StapleFetcher, leaf: Certificate, issuer: Certificate) async -> Staple? {
    do {
        return try await fetcher.fetch(leaf: leaf, issuer: issuer)
    } catch let error as StaplingError {
        print("no staple: \(error.message)")
        return nil
    } catch {
        print("no staple: \(error)")
        return nil
    }
}

func keepStapleCurrent(leaf: Certificate, issuer: Certificate, stapleFile: String) async {
    let stapler = Stapler(fetcher: StapleFetcher())
    let policy = RefreshPolicy()
    var failures = 0
    while !Task.isCancelled {
        let outcome = await stapler.refresh(leaf: leaf, issuer: issuer, file: StapleFile(path: stapleFile))
        let now = Date()
        let delay: TimeInterval
        if outcome.status != .failed, let staple = outcome.staple {
            failures = 0
            let next = policy.nextRefresh(
                thisUpdate: staple.verified.thisUpdate, nextUpdate: staple.verified.nextUpdate, now: now,
                jitter: Double.random(in: -1...1))
            delay = next.timeIntervalSince(now)
        } else {
            failures += 1
            print("refresh failed: \(outcome.error?.message ?? "?"); the file \(outcome.fileIsValid ? "keeps its staple" : "holds none")")
            delay = policy.retryDelay(failures: failures, validUntil: outcome.fileNextUpdate, now: now, jitter: Double.random(in: -1...1))
        }
        try? await Task.sleep(for: .seconds(delay))
    }
}
