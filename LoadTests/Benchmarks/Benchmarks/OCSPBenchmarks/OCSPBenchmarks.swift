import Benchmark
import Foundation
import OCSPCore
import RevocationStore

/// The per-request work of the responder, piece by piece: decode the request, look the CertID up,
/// sign the answer (what a cache miss or a nonce costs).
let benchmarks: @Sendable () -> Void = {
    let quick = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions], maxDuration: .seconds(2),
        maxIterations: 1_000_000)
    let fixture = BenchmarkFixture.shared

    Benchmark("OCSPRequest(derEncoded:)", configuration: quick) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try OCSPRequest(derEncoded: fixture.request))
        }
    }

    Benchmark("OCSPRequest(derEncoded:) with nonce", configuration: quick) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try OCSPRequest(derEncoded: fixture.nonceRequest))
        }
    }

    Benchmark("RevocationStore.lookup (known serial)", configuration: quick) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try fixture.store.lookup(fixture.knownCertID))
        }
    }

    // Only with OCSP_BENCH_STORE and OCSP_BENCH_ISSUER set: a random certificate of a large store
    // per lookup, so most lookups touch B-tree pages the previous ones did not.
    if let large = try? LargeStore.fromEnvironment() {
        let count = (try? large.store.certificateCount()) ?? 0
        Benchmark("RevocationStore.lookup (\(count) certificates, random serial)", configuration: quick) { benchmark in
            var index = 0
            for _ in benchmark.scaledIterations {
                blackHole(try large.store.lookup(large.certIDs[index]))
                index = index + 1 == large.certIDs.count ? 0 : index + 1
            }
        }
    }

    Benchmark("RevocationStore.lookup (unknown serial)", configuration: quick) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try fixture.store.lookup(fixture.unknownCertID))
        }
    }

    let now = Date()
    let ecResponse = [
        SingleResponse(
            certID: fixture.knownCertID, status: .good, thisUpdate: now,
            nextUpdate: now.addingTimeInterval(86400))
    ]
    let rsaResponse = [
        SingleResponse(
            certID: fixture.rsaCertID, status: .good, thisUpdate: now,
            nextUpdate: now.addingTimeInterval(86400))
    ]

    Benchmark("OCSPResponseSigner.sign (EC P-256)", configuration: quick) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try fixture.ecSigner.sign(ecResponse))
        }
    }

    // The live path for a nonce request: the CertID as received (its DER compared with the
    // template's), the nonce copied in and taken out again.
    let nonceRequest = try! OCSPRequest(derEncoded: fixture.nonceRequest)
    let nonceResponse = [
        SingleResponse(
            certID: nonceRequest.certIDs[0]!, status: .good, thisUpdate: now, nextUpdate: now.addingTimeInterval(86400))
    ]
    Benchmark("OCSPResponseSigner.sign with nonce (EC P-256)", configuration: quick) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try fixture.ecSigner.sign(nonceResponse, nonceFrom: nonceRequest))
        }
    }

    Benchmark("OCSPResponseSigner.sign (RSA-2048)", configuration: quick) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try fixture.rsaSigner.sign(rsaResponse))
        }
    }
}
