import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore
import Synchronization
import Testing

@Suite final class BulkRevocationTests {
    let directory = NSTemporaryDirectory() + "bulk-revocation-" + UUID().uuidString
    let store: RevocationStore
    let issuer: IssuerID
    let time = Date(timeIntervalSince1970: 1_767_323_045)

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ca = try TestCA.make("Bulk Test CA").certificate
        (store, issuer) = try TestCA.store(at: directory + "/store", issuer: ca)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func serials(_ count: Int, from first: UInt64 = 0x1000) -> [SerialNumber] {
        (0..<UInt64(count)).map { try! SerialNumber(hex: String(first + $0, radix: 16)) }
    }

    func revocation(rate: Double? = nil, batchSize: Int = BulkRevocation.defaultBatchSize, clock: BulkRevocation.Clock = .system)
        -> BulkRevocation
    {
        BulkRevocation(
            store: store, issuer: issuer, time: time, reason: .keyCompromise, rate: rate, batchSize: batchSize, clock: clock)
    }

    @Test func batchesSplitAtTheBatchSize() throws {
        let list = serials(7)
        var done: [Int] = []
        let before = try store.auditHead().sequence
        let outcome = try revocation(batchSize: 3).run(list) { done.append($0) }
        #expect(outcome == BulkRevocation.Outcome(listed: 7, revoked: 7))
        #expect(outcome.alreadyRevoked == 0)
        #expect(done == [3, 6, 7], "one progress report per transaction: 3 + 3 + 1")
        #expect(try store.auditHead().sequence == before + 7)
        for serial in list {
            let record = try #require(try store.certificate(issuer: issuer, serial: serial))
            #expect(record.status == .revoked(time: time, reason: .keyCompromise, invalidityDate: nil))
        }
    }

    @Test func aListShorterThanABatchIsOneTransaction() throws {
        var done: [Int] = []
        #expect(try revocation().run(serials(5)) { done.append($0) } == BulkRevocation.Outcome(listed: 5, revoked: 5))
        #expect(done == [5])
        #expect(try revocation().run([]) { done.append($0) } == BulkRevocation.Outcome(listed: 0, revoked: 0))
        #expect(done == [5], "an empty list writes no transaction")
    }

    @Test func alreadyRevokedAreCountedAndSkipped() throws {
        let list = serials(5)
        try store.revoke(issuer: issuer, serials: Array(list[1...2]), time: time.addingTimeInterval(-60), reason: .superseded)
        let outcome = try revocation(batchSize: 2).run(list)
        #expect(outcome.revoked == 3 && outcome.alreadyRevoked == 2 && outcome.listed == 5)
        let earlier = try #require(try store.certificate(issuer: issuer, serial: list[1]))
        #expect(
            earlier.status == .revoked(time: time.addingTimeInterval(-60), reason: .superseded, invalidityDate: nil),
            "a revocation already there is kept as it was")

        let again = try revocation().run(list)
        #expect(again == BulkRevocation.Outcome(listed: 5, revoked: 0))
        #expect(again.alreadyRevoked == 5, "running the same list again changes nothing")
    }

    @Test func aHoldIsRevokedForGood() throws {
        let list = serials(2)
        _ = try store.setStatus(
            issuer: issuer, serial: list[0], .revoked(time: time, reason: .certificateHold, invalidityDate: nil), notAfter: nil)
        #expect(try revocation().run(list) == BulkRevocation.Outcome(listed: 2, revoked: 2))
        let record = try #require(try store.certificate(issuer: issuer, serial: list[0]))
        #expect(record.status == .revoked(time: time, reason: .keyCompromise, invalidityDate: nil))
    }

    @Test func pacingKeepsTheScheduleFromTheStart() throws {
        let clock = ManualClock()
        var done: [Int] = []
        let outcome = try revocation(rate: 4, batchSize: 2, clock: clock.clock).run(serials(5)) { done.append($0) }
        #expect(outcome == BulkRevocation.Outcome(listed: 5, revoked: 5))
        #expect(done == [1, 2, 3, 4, 5], "paced: one transaction per certificate, whatever the batch size")
        // The first at once, then one every quarter second after the start.
        #expect(clock.sleeps == [0.25, 0.5, 0.75, 1.0].map { ManualClock.start.addingTimeInterval($0) })
    }

    @Test func pacingDoesNotSleepWhenWritesRunLate() throws {
        // Every look at the clock finds a second gone: each certificate is already due.
        let clock = ManualClock(tick: 1)
        #expect(try revocation(rate: 4, clock: clock.clock).run(serials(4)).revoked == 4)
        #expect(clock.sleeps.isEmpty)
    }

    @Test func unpacedRunsDoNotWait() throws {
        let clock = ManualClock()
        #expect(try revocation(batchSize: 2, clock: clock.clock).run(serials(5)).revoked == 5)
        #expect(clock.sleeps.isEmpty && clock.reads == 0)
    }

    @Test func aBadLineInTheListNamesItsLineAndNothingIsWritten() throws {
        let path = directory + "/serials.txt"
        try Data("# incident 42\n1000\n\n1001 # second\nnot-hex\n1002\n".utf8).write(to: URL(fileURLWithPath: path))
        let before = try store.auditHead()
        // As ocspctl revoke --serials does: the whole list is read before anything is written.
        do {
            _ = try revocation().run(try SerialList.read(path: path, name: "--serials \(path)"))
            Issue.record("a list with a bad line was accepted")
        } catch let error as StoreError {
            #expect(error.code == .corrupt)
            #expect(error.message.hasPrefix("--serials \(path) line 5: "), "\(error.message)")
        }
        #expect(try store.auditHead() == before)
        #expect(try store.certificate(issuer: issuer, serial: SerialNumber(hex: "1000")) == nil)
    }

    @Test func serialListsSkipBlankLinesAndComments() throws {
        let parsed = try SerialList.parse("# header\n0a\n  \n0B # note\n\t1F\t\n#\n", name: "list")
        #expect(parsed.map(\.hex) == ["0A", "0B", "1F"])
        #expect(try SerialList.parse("", name: "list").isEmpty)
        do {
            _ = try SerialList.read(path: directory + "/missing.txt")
            Issue.record("a missing file was read")
        } catch let error as StoreError {
            #expect(error.code == .io && error.message == "\(directory)/missing.txt: cannot read the file")
        }
    }
}

/// A clock that never waits: a sleep moves its time to the instant asked for, and each reading
/// of it moves it by `tick`.
final class ManualClock: Sendable {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    private let state = Mutex<(now: Date, sleeps: [Date], reads: Int)>((start, [], 0))
    private let tick: TimeInterval

    init(tick: TimeInterval = 0) { self.tick = tick }

    var sleeps: [Date] { state.withLock { $0.sleeps } }
    var reads: Int { state.withLock { $0.reads } }

    var clock: BulkRevocation.Clock {
        BulkRevocation.Clock(
            now: {
                self.state.withLock { state in
                    state.reads += 1
                    defer { state.now.addTimeInterval(self.tick) }
                    return state.now
                }
            },
            sleep: { due in
                self.state.withLock {
                    $0.sleeps.append(due)
                    $0.now = max($0.now, due)
                }
            })
    }
}
