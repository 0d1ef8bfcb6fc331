internal import Foundation
internal import OCSPValues
internal import Responder
internal import RevocationStore
internal import Synchronization

/// The `status` label of `mtls_ocsp_requests_total`: the certificate status of a successful
/// answer, or the OCSP error status.
package enum OCSPStatusLabel: Int, CaseIterable, Sendable {
    case good, revoked, unknown, unauthorized, malformedRequest, tryLater, internalError

    package var name: String {
        switch self {
        case .good: "good"
        case .revoked: "revoked"
        case .unknown: "unknown"
        case .unauthorized: "unauthorized"
        case .malformedRequest: "malformedRequest"
        case .tryLater: "tryLater"
        case .internalError: "internalError"
        }
    }

    init(_ kind: CachedResponse.Kind) {
        switch kind {
        case .good: self = .good
        case .revoked: self = .revoked
        case .unknown: self = .unknown
        }
    }

    /// A successful answer for several certificates counts as its most severe status
    /// (revoked, then unknown, then good).
    init(_ result: OCSPResponder.Result) {
        switch result.status {
        case .successful:
            if result.certStatuses.contains(.revoked) {
                self = .revoked
            } else if result.certStatuses.contains(.unknown) || result.certStatuses.isEmpty {
                self = .unknown
            } else {
                self = .good
            }
        case .malformedRequest: self = .malformedRequest
        case .tryLater: self = .tryLater
        case .unauthorized, .sigRequired: self = .unauthorized
        case .internalError: self = .internalError
        }
    }
}

/// Bucket bounds of the two request histograms.
package enum RequestHistograms {
    /// `ocsp_request_duration_seconds`: from the whole request being in to its answer queued.
    package static let latencySeconds: [Double] = [
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
    ]
    /// `ocsp_response_age_seconds`: now − thisUpdate of each successful answer.
    package static let ageSeconds: [Double] = [60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 4 * 86400, 7 * 86400]

    fileprivate static let latencyNanoseconds: [UInt64] = latencySeconds.map { UInt64(($0 * 1e9).rounded()) }
    fileprivate static let ageWholeSeconds: [Int64] = ageSeconds.map { Int64($0) }
}

/// The request counters of all serving threads, summed when read (``HTTPServer/requestMetrics``).
package struct RequestMetrics: Sendable, Equatable {
    /// Answers by status label and whether a stored or front-cached response answered
    /// (`[label.rawValue][cacheHit ? 1 : 0]`).
    package var requests: [[Int]] = Array(repeating: [0, 0], count: OCSPStatusLabel.allCases.count)
    /// Per bucket of ``RequestHistograms/latencySeconds``, not cumulative; the last counts the rest.
    package var latencyBuckets = [Int](repeating: 0, count: RequestHistograms.latencySeconds.count + 1)
    package var latencySumSeconds = 0.0
    /// Per bucket of ``RequestHistograms/ageSeconds``, not cumulative; the last counts the rest.
    package var ageBuckets = [Int](repeating: 0, count: RequestHistograms.ageSeconds.count + 1)
    package var ageSumSeconds = 0.0
    /// Connections open now.
    package var openConnections = 0

    package init() {}

    package func count(_ label: OCSPStatusLabel, cacheHit: Bool) -> Int { requests[label.rawValue][cacheHit ? 1 : 0] }
}

/// One serving thread's request counters: written by that thread only (a plain load and store,
/// no locked instruction), read by a scrape. Fixed layout in one allocation:
/// `[requests: labels × 2][latency buckets + 1][latency sum, ns][age buckets + 1][age sum, s]`.
final class RequestCells: @unchecked Sendable {
    // @unchecked: the cells are atomics; the pointer to them is immutable and freed in deinit.
    // Literal offsets (computed ones would be lazily initialized globals, checked on every use);
    // init checks them against the labels and bounds.
    private static let latencyStart = 14  // after 7 labels × 2
    private static let latencySum = 28  // after 13 latency bounds + 1
    private static let ageStart = 29
    private static let ageSum = 40  // after 10 age bounds + 1
    private static let count = 41

    private let cells: UnsafeMutablePointer<Atomic<Int>>
    /// This thread's copies of the bucket bounds: plain memory the request path reads without a
    /// global's accessor or an array's reference counting.
    private let latencyBounds: UnsafeMutableBufferPointer<UInt64>
    private let ageBounds: UnsafeMutableBufferPointer<Int64>

    init() {
        precondition(
            Self.latencyStart == OCSPStatusLabel.allCases.count * 2
                && Self.latencySum == Self.latencyStart + RequestHistograms.latencySeconds.count + 1
                && Self.ageStart == Self.latencySum + 1
                && Self.ageSum == Self.ageStart + RequestHistograms.ageSeconds.count + 1 && Self.count == Self.ageSum + 1,
            "RequestCells offsets out of step with the labels or the bucket bounds")
        cells = .allocate(capacity: Self.count)
        for index in 0..<Self.count { (cells + index).initialize(to: Atomic(0)) }
        latencyBounds = .allocate(capacity: RequestHistograms.latencyNanoseconds.count)
        _ = latencyBounds.initialize(from: RequestHistograms.latencyNanoseconds)
        ageBounds = .allocate(capacity: RequestHistograms.ageWholeSeconds.count)
        _ = ageBounds.initialize(from: RequestHistograms.ageWholeSeconds)
    }

    deinit {
        cells.deinitialize(count: Self.count)
        cells.deallocate()
        latencyBounds.deallocate()
        ageBounds.deallocate()
    }

    private func add(_ index: Int, _ amount: Int) {
        cells[index].store(cells[index].load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Counts one answer.
    /// - Parameters:
    ///   - latency: nanoseconds from the request being in to its answer queued.
    ///   - age: seconds since the answer's thisUpdate, or nil for an unsigned (error) answer.
    func record(_ label: OCSPStatusLabel, cacheHit: Bool, latency: UInt64, age: Int64?) {
        add(label.rawValue * 2 + (cacheHit ? 1 : 0), 1)
        var bucket = 0
        while bucket < latencyBounds.count, latency > latencyBounds[bucket] { bucket += 1 }
        add(Self.latencyStart + bucket, 1)
        add(Self.latencySum, Int(truncatingIfNeeded: latency))
        guard let age else { return }
        bucket = 0
        while bucket < ageBounds.count, age > ageBounds[bucket] { bucket += 1 }
        add(Self.ageStart + bucket, 1)
        add(Self.ageSum, Int(truncatingIfNeeded: max(0, age)))
    }

    /// Adds this thread's counts to `metrics`.
    func read(into metrics: inout RequestMetrics) {
        for label in OCSPStatusLabel.allCases {
            for hit in 0..<2 { metrics.requests[label.rawValue][hit] += cells[label.rawValue * 2 + hit].load(ordering: .relaxed) }
        }
        for bucket in metrics.latencyBuckets.indices {
            metrics.latencyBuckets[bucket] += cells[Self.latencyStart + bucket].load(ordering: .relaxed)
        }
        metrics.latencySumSeconds += Double(cells[Self.latencySum].load(ordering: .relaxed)) / 1e9
        for bucket in metrics.ageBuckets.indices {
            metrics.ageBuckets[bucket] += cells[Self.ageStart + bucket].load(ordering: .relaxed)
        }
        metrics.ageSumSeconds += Double(cells[Self.ageSum].load(ordering: .relaxed))
    }
}
