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

    Benchmark("OCSPResponseSigner.sign (RSA-2048)", configuration: quick) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try fixture.rsaSigner.sign(rsaResponse))
        }
    }
}
