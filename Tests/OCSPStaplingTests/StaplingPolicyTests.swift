import Foundation
import Logging
@testable import OCSPStapling
import Testing

@Suite struct RefreshPolicyTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aStapleIsRefreshedAtHalfItsWindowWithinTheJitter() {
        let policy = RefreshPolicy()
        let nextUpdate = start.addingTimeInterval(7200)
        let middle = policy.nextRefresh(thisUpdate: start, nextUpdate: nextUpdate, now: start, jitter: 0)
        #expect(middle == start.addingTimeInterval(3600))
        let early = policy.nextRefresh(thisUpdate: start, nextUpdate: nextUpdate, now: start, jitter: -1)
        let late = policy.nextRefresh(thisUpdate: start, nextUpdate: nextUpdate, now: start, jitter: 1)
        #expect(early == start.addingTimeInterval(3600 - 720))
        #expect(late == start.addingTimeInterval(3600 + 720))
    }

    @Test func neverLaterThanNextUpdateMinusTheMargin() {
        // Refresh late in the window (0.99, 72 s before): capped at nextUpdate - 5 min.
        let policy = RefreshPolicy(refreshFraction: 0.99, jitterFraction: 0)
        let nextUpdate = start.addingTimeInterval(7200)
        #expect(policy.nextRefresh(thisUpdate: start, nextUpdate: nextUpdate, now: start, jitter: 0) == nextUpdate - 300)
        // A short window (8 s): the margin is a quarter of it, not 5 minutes before thisUpdate.
        let short = start.addingTimeInterval(8)
        #expect(policy.nextRefresh(thisUpdate: start, nextUpdate: short, now: start, jitter: 0) == short - 2)
        // Already due (the responder answered with the same response again): not at once, which
        // would loop, but after the minimum retry delay (1 min) ...
        let due = start.addingTimeInterval(4000)
        #expect(RefreshPolicy().nextRefresh(thisUpdate: start, nextUpdate: nextUpdate, now: due, jitter: 0) == due + 60)
        // ... or halfway to the latest time when that is sooner (100 s left: in 50 s), and 1 s at least.
        let late = nextUpdate - 400
        #expect(RefreshPolicy().nextRefresh(thisUpdate: start, nextUpdate: nextUpdate, now: late, jitter: 0) == late + 50)
        let later = nextUpdate - 200
        #expect(RefreshPolicy().nextRefresh(thisUpdate: start, nextUpdate: nextUpdate, now: later, jitter: 0) == later + 1)
    }

    @Test func failuresBackOffExponentiallyUpToTheCap() {
        let policy = RefreshPolicy(retryMinimum: .seconds(60), retryMaximum: .seconds(600))
        let delays = (1...6).map { policy.retryDelay(failures: $0, validUntil: nil, now: start, jitter: 0) }
        #expect(delays == [60, 120, 240, 480, 600, 600])
        #expect(policy.retryDelay(failures: 1, validUntil: nil, now: start, jitter: 1) == 66)
        #expect(policy.retryDelay(failures: 1, validUntil: nil, now: start, jitter: -1) == 54)
    }

    @Test func aRetryComesBeforeTheStapleInPlaceExpiresButNotSoonerThanTheMinimum() {
        let policy = RefreshPolicy(retryMinimum: .seconds(60), retryMaximum: .seconds(3600))
        // 10 failures would wait an hour; the staple in place lasts 20 min: retry in 10.
        #expect(policy.retryDelay(failures: 10, validUntil: start + 1200, now: start, jitter: 0) == 600)
        // 30 s left: the minimum still holds, so many certificates cannot storm a dead responder.
        #expect(policy.retryDelay(failures: 10, validUntil: start + 30, now: start, jitter: 0) == 60)
    }

    @Test func settingsThatCannotWorkAreNamed() {
        #expect(RefreshPolicy().problems.isEmpty)
        #expect(!RefreshPolicy(refreshFraction: 1).problems.isEmpty)
        #expect(!RefreshPolicy(refreshFraction: 0.5, jitterFraction: 0.6).problems.isEmpty)
        #expect(!RefreshPolicy(retryMinimum: .seconds(10), retryMaximum: .seconds(5)).problems.isEmpty)
    }
}

@Suite struct StaplerConfigurationTests {
    /// The example shipped in Config/ parses, with every section used.
    @Test func theShippedExampleParses() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/stapling/stapler.yaml").path
        let configuration = try StaplerConfiguration.load(path: path)
        #expect(configuration.targets.map(\.name) == ["www", "api"])
        #expect(configuration.targets[0].issuerPath == "/etc/nginx/tls/issuing-ca.pem")
        #expect(configuration.targets[0].responderURL == "http://ocsp.internal.example:8080/")
        #expect(configuration.targets[1].responderURL == "http://ocsp-b.internal.example:8080/")
        #expect(configuration.directories.map(\.path) == ["/etc/haproxy/certs"])
        #expect(configuration.directories[0].haproxySocket == "/run/haproxy/admin.sock")
        #expect(configuration.timeout == .seconds(5))
        #expect(configuration.policy.margin == .seconds(600))
        #expect(configuration.policy.retryMinimum == .seconds(60))
        #expect(configuration.policy.retryMaximum == .seconds(3600))
        #expect(configuration.reloadCommand == "nginx -s reload")
        #expect(configuration.reloadMinimumInterval == .seconds(30))
        #expect(configuration.metricsListen == "127.0.0.1:9406")
        #expect(configuration.logFormat == "json")
    }

    @Test func mistakesAreOneLineNamingTheKey() {
        func problem(_ yaml: String) -> String? {
            do {
                _ = try StaplerConfiguration.parse(yaml, source: "s.yaml")
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(problem("timeout: 5s\nhaproxy_sockett: /x\n")?.hasPrefix("unknown configuration key haproxy_sockett in s.yaml") == true)
        #expect(problem("certificates:\n  - cert: /a.pem\n")?.contains("configuration key certificates[0].out (from file s.yaml)") == true)
        #expect(
            problem("timeout: soon\n")
                == #"configuration key timeout (from file s.yaml): "soon" is not valid; expected a duration from 1ms to 1h, such as 500ms, 90s, 10m, 12h or 7d (a bare number is seconds)"#)
        #expect(problem("refresh:\n  fraction: 1.5\n")?.contains("configuration key refresh.fraction") == true)
        #expect(problem("refresh:\n  fraction: 0.3\n  jitter: 0.4\n")?.contains("the jitter must be") == true)
        #expect(problem("log_format: xml\n")?.contains(#"log_format (from file s.yaml): "xml" is not valid; expected one of text, json"#) == true)
        #expect(problem("certificates: [\n")?.hasPrefix("the configuration file s.yaml is not YAML") == true)
        #expect(
            problem("certificates:\n  - {cert: /a.pem, out: /a.ocsp}\n  - {cert: /a.pem, out: /b.ocsp}\n")?
                .contains("a name used once") == true)
        for problem in [problem("timeout: 5s\nhaproxy_sockett: /x\n"), problem("timeout: soon\n"), problem("certificates: [\n")] {
            #expect(problem?.contains("\n") == false)
        }
    }

    @Test func durationsTakeUnits() {
        #expect(Duration(configurationText: "5") == .seconds(5))
        #expect(Duration(configurationText: "250ms") == .milliseconds(250))
        #expect(Duration(configurationText: "10m") == .seconds(600))
        #expect(Duration(configurationText: "1h") == .seconds(3600))
        #expect(Duration(configurationText: "1.5s") == .milliseconds(1500))
        #expect(Duration(configurationText: "7d") == .seconds(604_800))
        #expect(Duration(configurationText: "-1s") == nil)
        #expect(Duration(configurationText: "soon") == nil)
    }
}

@Suite struct ReloadHookTests {
    /// Many changes inside the interval make one run now and one at its end, not one each: the
    /// schedule read off a manual clock, not raced against the machine.
    @Test func changesAreCoalescedAndRateLimited() async throws {
        let clock = ManualClock()
        let (runs, ran) = AsyncStream<Bool>.makeStream()
        var finished = runs.makeAsyncIterator()
        let hook = ReloadHook(
            command: "true", minimumInterval: .seconds(2), logger: Logger(label: "test"), clock: clock,
            onRun: { ran.yield($0) })
        await hook.stapleChanged()
        #expect(await finished.next() == true, "the first change runs the command at once")
        #expect(clock.sleeping.isEmpty)

        for _ in 0..<5 { await hook.stapleChanged() }
        try await waitUntil { clock.sleeping.count == 1 }
        #expect(clock.sleeping == [.seconds(2)], "one run, at the end of the interval")
        clock.advance(by: .milliseconds(1999))
        #expect(clock.sleeping == [.milliseconds(1)], "not again within the interval")
        #expect(await hook.isPending)
        clock.advance(by: .milliseconds(1))
        #expect(await finished.next() == true)
        #expect(await !hook.isPending, "five changes made one more run")
        #expect(clock.sleeping.isEmpty)

        // A change half a second after that run waits out the rest of its interval ...
        clock.advance(by: .milliseconds(500))
        await hook.stapleChanged()
        try await waitUntil { clock.sleeping.count == 1 }
        #expect(clock.sleeping == [.milliseconds(1500)])
        clock.advance(by: .milliseconds(1500))
        #expect(await finished.next() == true)
        // ... and one after a quiet interval runs at once.
        clock.advance(by: .seconds(5))
        await hook.stapleChanged()
        #expect(await finished.next() == true)
        #expect(clock.sleeping.isEmpty)
    }

    @Test func aRunNotStartedIsCancelledAtShutdown() async throws {
        let clock = ManualClock()
        let hook = ReloadHook(command: "true", minimumInterval: .seconds(30), logger: Logger(label: "test"), clock: clock)
        _ = await hook.run()
        await hook.stapleChanged()
        try await waitUntil { clock.sleeping.count == 1 }
        await hook.stop()
        try await waitUntil { clock.sleeping.isEmpty }
        #expect(await !hook.isPending)
    }

    @Test func aFailingOrHangingCommandIsReported() async throws {
        let (status, output) = await ReloadHook.execute("echo broken >&2; exit 7", timeout: .seconds(10))
        #expect(status == 7 && output == "broken")
        // The timeout on a manual clock: the command is killed when it passes, not before.
        let clock = ManualClock()
        let hanging = Task { await ReloadHook.execute("sleep 30", timeout: .milliseconds(300), clock: StaplerClock(clock)) }
        try await waitUntil { clock.sleeping.count == 1 }
        #expect(clock.sleeping == [.milliseconds(300)])
        clock.advance(by: .milliseconds(300))
        let (killed, _) = await hanging.value
        #expect(killed == -1)
    }
}

/// Waits (polling, ten seconds at most) for other tasks to reach a state, such as a sleep on a
/// manual clock: the wait bounds a test that would otherwise hang, and asserts no timing.
func waitUntil(_ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while await !condition() {
        #expect(ContinuousClock.now < deadline, "waited ten seconds")
        if ContinuousClock.now >= deadline { return }
        try await Task.sleep(for: .milliseconds(5))
    }
}
