import Benchmark
import Foundation
import OCSPCore
import OCSPValues
import Responder
import RevocationStore

/// The per-request work of the responder, piece by piece: decode the request, look the CertID up,
/// sign the answer (what a cache miss or a nonce costs).
let benchmarks: @Sendable () -> Void = {
    let quick = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions], maxDuration: .seconds(2),
        maxIterations: 1_000_000)
    // A thousand operations a sample, so the harness's own allocations per sample (about 16,
    // measured with an empty loop) do not hide in the per-operation counts.
    let perOperation = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions], scalingFactor: .kilo,
        maxDuration: .seconds(2), maxIterations: 100_000)
    let fixture = BenchmarkFixture.shared

    Benchmark("(empty loop: the harness alone)", configuration: perOperation) { benchmark in
        for index in benchmark.scaledIterations { blackHole(index) }
    }

    // The signing benchmarks run one operation a sample: subtract this from their malloc counts.
    Benchmark("(empty loop, one a sample: the harness alone)", configuration: quick) { benchmark in
        for index in benchmark.scaledIterations { blackHole(index) }
    }

    // The store path, piece by piece and whole: what a front-cache miss costs before the HTTP
    // front copies the answer into a libmicrohttpd response.
    Benchmark("GETRequestPath.decode (url-safe path, into a buffer)", configuration: perOperation) { benchmark in
        let path = fixture.getPaths[0]
        var output = [UInt8](repeating: 0, count: GETRequestPath.decodedCapacity(path.count))
        let slash: [UInt8] = [UInt8(ascii: "/")]
        path.withUnsafeBytes { path in
            slash.withUnsafeBytes { prefix in
                output.withUnsafeMutableBytes { output in
                    for _ in benchmark.scaledIterations {
                        blackHole(GETRequestPath.decode(path, prefix: prefix, into: output))
                    }
                }
            }
        }
    }

    Benchmark("SimpleOCSPRequest(der:)", configuration: perOperation) { benchmark in
        fixture.request.withUnsafeBytes { der in
            for _ in benchmark.scaledIterations {
                blackHole(SimpleOCSPRequest(der: der))
            }
        }
    }

    // The whole store path of a GET on a front-cache miss: decode the path on the stack, find the
    // CertID, look the response up through the thread's reused read transaction, and copy what
    // the HTTP front copies (the DER; the header values are handed over as pointers).
    Benchmark("Store path: GET path → cached answer (\(BenchmarkFixture.certificateCount) certificates)", configuration: perOperation) {
        benchmark in
        let reader = try OCSPResponder.Reader(responder: fixture.responder)
        let now = Int64(Date().timeIntervalSince1970)
        var copy = [UInt8](repeating: 0, count: 4096)
        var index = 0
        let slash: [UInt8] = [UInt8(ascii: "/")]
        for _ in benchmark.scaledIterations {
            let answered = try fixture.getPaths[index].withUnsafeBytes { path in
                try slash.withUnsafeBytes { prefix in
                    try withUnsafeTemporaryAllocation(byteCount: GETRequestPath.decodedCapacity(path.count), alignment: 1) {
                        buffer -> Bool? in
                        guard let count = GETRequestPath.decode(path, prefix: prefix, into: buffer) else { return nil }
                        return try reader.withCachedAnswer(
                            toRequest: UnsafeRawBufferPointer(rebasing: buffer[..<count]), now: now
                        ) { answer in
                            copy.withUnsafeMutableBytes { $0.copyMemory(from: answer.response.der) }
                            blackHole(answer.response.etagHeader)
                            return true
                        }
                    }
                }
            }
            precondition(answered == true, "every request is answered from the signature cache")
            index = index + 1 == fixture.getPaths.count ? 0 : index + 1
        }
    }

    Benchmark("OCSPRequest(derEncoded:)", configuration: perOperation) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try OCSPRequest(derEncoded: fixture.request))
        }
    }

    Benchmark("OCSPRequest(derEncoded:) with nonce", configuration: perOperation) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try OCSPRequest(derEncoded: fixture.nonceRequest))
        }
    }

    Benchmark("RevocationStore.lookup (known serial)", configuration: perOperation) { benchmark in
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

    Benchmark("RevocationStore.lookup (unknown serial)", configuration: perOperation) { benchmark in
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
