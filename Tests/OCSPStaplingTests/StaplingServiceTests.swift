import Fetching
import Foundation
import Logging
import OCSPCore
import OCSPTestSupport
import OCSPValues
@testable import OCSPStapling
import Synchronization
import Testing

/// The daemon's loop on a manual clock, with a scripted responder: when it fetches again after a
/// good answer (half the validity) and after failures (backoff), and what its outputs are given.
@Suite struct StaplingServiceTests {
    let pki: TestPKI
    let leaf: Certificate
    let target: StapleTarget
    let recorder = RecordingOutput()
    let url = "http://ocsp.test/"

    init() throws {
        pki = try TestPKI()
        leaf = try pki.leaf("site.test", issuer: pki.root, key: pki.rootKey)
        let path = pki.directory + "/site.pem"
        try Data((leaf.pemEncoded + pki.root.pemEncoded).utf8).write(to: URL(fileURLWithPath: path))
        target = StapleTarget(certificatePath: path, outputPath: path + ".ocsp", responderURL: url, outputs: [recorder])
    }

    /// Runs the service over `target` on `clock` until `body` returns.
    func running(
        _ script: ScriptedFetcher, policy: RefreshPolicy, clock: ManualClock,
        _ body: (StaplingService) async throws -> Void
    ) async throws {
        let service = StaplingService(
            options: .init(policy: policy), fetcher: script, clock: clock, logger: Logger(label: "test"))
        let loop = Task { await service.run(targets: [target], watching: []) }
        defer { loop.cancel() }
        try await body(service)
        loop.cancel()
        await loop.value
    }

    /// The target's next fetch, once its loop sleeps (the other sleeper is the hourly rescan).
    func nextFetch(_ clock: ManualClock, _ script: ScriptedFetcher, after requests: Int) async throws -> Duration {
        try await waitUntil { script.requests.count == requests && clock.sleeping.count == 2 }
        return clock.sleeping[0]
    }

    @Test func aGoodStapleIsFetchedAgainAtHalfItsValidity() async throws {
        let answer = try pki.rootSignedResponse(for: leaf)  // valid for an hour
        let script = ScriptedFetcher([.rule(url, .answer(FetchResponse(status: 200, body: answer)))])
        let clock = ManualClock()
        try await running(script, policy: RefreshPolicy(jitterFraction: 0), clock: clock) { service in
            let first = try await nextFetch(clock, script, after: 1)
            #expect(first > .seconds(1790) && first <= .seconds(1800), "\(first)")
            #expect(StapleFile(path: target.outputPath).read() == answer)
            #expect(recorder.delivered == [answer], "an output is given the staple at start")
            clock.advance(by: .seconds(1799))
            #expect(script.requests.count == 1, "not before half the validity")
            clock.advance(by: first - .seconds(1799))
            _ = try await nextFetch(clock, script, after: 2)
            #expect(recorder.delivered == [answer], "the same bytes again: the output has them")
            #expect(service.states()[target.name]?.deliveries == ["recorder": 1])
        }
    }

    @Test func failuresAreRetriedWithExponentialBackoff() async throws {
        let script = ScriptedFetcher([.rule(url, .fail(FetchError(.refused, "\(url): Connection refused")))])
        let clock = ManualClock()
        let policy = RefreshPolicy(retryMinimum: .seconds(60), retryMaximum: .seconds(200))
        try await running(script, policy: policy, clock: clock) { service in
            var requests = 1
            // ±10 % jitter around 60, 120, then the 200 s cap.
            for expected in [60.0, 120, 200, 200] {
                let delay = try await nextFetch(clock, script, after: requests)
                #expect(delay >= .seconds(expected * 0.9) && delay <= .seconds(expected * 1.1), "\(delay) for \(expected)")
                clock.advance(by: delay)
                requests += 1
            }
            _ = try await nextFetch(clock, script, after: requests)
            #expect(service.states()[target.name]?.fetchFailures == requests)
            #expect(recorder.delivered.isEmpty, "nothing to deliver")
        }
    }

    @Test func anOutputThatFailedIsGivenTheStapleAgainOnTheRetrySchedule() async throws {
        let answer = try pki.rootSignedResponse(for: leaf)
        let script = ScriptedFetcher([.rule(url, .answer(FetchResponse(status: 200, body: answer)))])
        let clock = ManualClock()
        recorder.failures = 1
        try await running(script, policy: RefreshPolicy(jitterFraction: 0), clock: clock) { service in
            let retry = try await nextFetch(clock, script, after: 1)
            #expect(retry >= .seconds(54) && retry <= .seconds(66), "a retry, not half the validity: \(retry)")
            let state = service.states()[target.name]
            #expect(state?.deliveryFailures == ["recorder": 1] && state?.lastError == "refused")
            clock.advance(by: retry)
            let next = try await nextFetch(clock, script, after: 2)
            #expect(recorder.delivered == [answer], "unchanged, yet handed over: the output did not have it")
            #expect(next > .seconds(1790), "then half the validity: \(next)")
        }
    }

    @Test func theReloadCommandIsToldOfChangesOnly() async throws {
        let answer = try pki.rootSignedResponse(for: leaf)
        let script = ScriptedFetcher([.rule(url, .answer(FetchResponse(status: 200, body: answer)))])
        let clock = ManualClock()
        let changes = RecordingOutput(trigger: .onChange)
        let service = StaplingService(
            options: .init(policy: RefreshPolicy(jitterFraction: 0)), outputs: [changes], fetcher: script, clock: clock,
            logger: Logger(label: "test"))
        let loop = Task { await service.run(targets: [target], watching: []) }
        _ = try await nextFetch(clock, script, after: 1)
        #expect(changes.delivered == [answer], "the staple was written: a change")
        clock.advance(by: clock.sleeping[0])
        _ = try await nextFetch(clock, script, after: 2)
        #expect(changes.delivered == [answer], "the same bytes: no change, nothing told")
        loop.cancel()
        await loop.value
        #expect(changes.stopped)
        // A one-shot refresh tells no such output: its caller runs the command once.
        _ = await service.refreshAll([target])
        #expect(changes.delivered == [answer])
    }
}

/// An output that records what it is given, and fails when told to.
final class RecordingOutput: StapleOutput {
    let trigger: StapleOutputTrigger
    private let state = Mutex((delivered: [[UInt8]](), failures: 0, stopped: false))

    init(trigger: StapleOutputTrigger = .untilDelivered) { self.trigger = trigger }

    var name: String { "recorder" }
    var recipient: String { "the recorder" }
    var channel: String { "in memory" }
    var delivered: [[UInt8]] { state.withLock { $0.delivered } }
    var stopped: Bool { state.withLock { $0.stopped } }
    /// How many of the next deliveries fail.
    var failures: Int {
        get { state.withLock { $0.failures } }
        set { state.withLock { $0.failures = newValue } }
    }

    func deliver(_ staple: DeliveredStaple, for target: StapleTarget) async throws {
        try state.withLock { state in
            if state.failures > 0 {
                state.failures -= 1
                throw StaplingError(.serverUpdate, "refused")
            }
            state.delivered.append(staple.der)
        }
    }

    func stop() async { state.withLock { $0.stopped = true } }

    static func == (lhs: RecordingOutput, rhs: RecordingOutput) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
