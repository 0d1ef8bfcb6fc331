import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore
import Synchronization
import Testing

@Suite final class IndexFollowerTests {
    let directory = NSTemporaryDirectory() + "index-follower-" + UUID().uuidString
    let store: RevocationStore
    let issuer: IssuerID
    var index: String { directory + "/index.txt" }

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ca = try TestCA.make("Follow Test CA").certificate
        (store, issuer) = try TestCA.store(at: directory + "/store", issuer: ca)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static func valid(_ serial: String) -> String { "V\t361231235959Z\t\t\(serial)\tunknown\t/CN=\(serial)" }
    static func revoked(_ serial: String) -> String {
        "R\t361231235959Z\t260102030405Z,keyCompromise\t\(serial)\tunknown\t/CN=\(serial)"
    }

    func write(_ lines: [String], to path: String? = nil) throws {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path ?? index))
    }

    /// A signing that records which serials it signed, and makes a placeholder response.
    final class Signatures: Sendable {
        let signed = Mutex<[String]>([])

        func signing() -> ResponseSigning {
            { key, record in
                self.signed.withLock { $0.append(key.serial.hex) }
                let kind: CachedResponse.Kind = record?.status == .good ? .good : .revoked
                return CachedResponse(
                    der: [0x30, 0x03, 0x0A, 0x01, 0x00], kind: kind, thisUpdate: Date(), nextUpdate: Date() + 3600,
                    refreshAt: Date() + 1800, etag: 1)
            }
        }
    }

    @Test func aChangedFileAppliesOnlyTheChangedLines() throws {
        let signatures = Signatures()
        var follower = IndexFollower(store: store, issuer: issuer, path: index) { signatures.signing() }
        try write([Self.valid("01"), Self.valid("02"), Self.valid("03")])
        let first = try follower.apply()
        #expect((first.added, first.changed, first.unchanged) == (3, 0, 0))
        #expect(signatures.signed.withLock { $0.sorted() } == ["01", "02", "03"])

        let head = try store.auditHead().sequence
        signatures.signed.withLock { $0 = [] }
        try write([Self.valid("01"), Self.revoked("02"), Self.valid("03"), Self.valid("04")])
        let second = try follower.apply()
        #expect((second.added, second.changed, second.unchanged) == (1, 1, 2))
        #expect(second.bad.isEmpty && second.wroteAnything)
        #expect(try store.auditHead().sequence == head + 2, "one audit record for each line changed, none for the rest")
        #expect(signatures.signed.withLock { $0.sorted() } == ["02", "04"], "only the changed records are signed")
        let two = try SerialNumber(hex: "02")
        let response = try #require(try store.cachedResponse(ResponseKey(issuer: issuer, algorithm: .sha1, serial: two)))
        #expect(response.kind == .revoked, "the cached good answer was replaced in the same transaction")
        guard case .revoked(_, .keyCompromise, _) = try #require(try store.certificate(issuer: issuer, serial: two)).status else {
            Issue.record("02 should be revoked (keyCompromise)")
            return
        }

        let again = try follower.apply()
        #expect((again.added, again.changed, again.unchanged) == (0, 0, 4))
        #expect(try store.auditHead().sequence == head + 2, "the same file again writes nothing")
    }

    @Test func aGarbledLineIsReportedOnceAndSkippedAndTheRestApplied() throws {
        var follower = IndexFollower(store: store, issuer: issuer, path: index)
        try write([Self.valid("0A"), "V\t3612312359", Self.valid("0B")])
        let first = try follower.apply()
        #expect((first.added, first.changed) == (2, 0))
        #expect(first.bad.map(\.number) == [2])
        #expect(first.newlyBad.map(\.text) == ["V\t3612312359"])
        #expect(first.newlyBad.first?.reason.hasPrefix("index line 2:") == true)

        try write([Self.valid("0A"), "V\t3612312359", Self.valid("0B"), Self.revoked("0C")])
        let second = try follower.apply()
        #expect((second.added, second.changed, second.unchanged) == (1, 0, 2))
        #expect(second.bad.count == 1)
        #expect(second.newlyBad.isEmpty, "a bad line is reported once, not at every change")
        #expect(try store.certificate(issuer: issuer, serial: try SerialNumber(hex: "0C"))?.status != .good)
    }

    @Test func aRevocationMadeInTheStoreIsNotUndoneByTheIndex() throws {
        var follower = IndexFollower(store: store, issuer: issuer, path: index)
        try write([Self.valid("31")])
        _ = try follower.apply()
        try store.setStatus(
            issuer: issuer, serial: try SerialNumber(hex: "31"),
            .revoked(time: Date(), reason: .keyCompromise, invalidityDate: nil))
        try write([Self.valid("31"), Self.valid("32")])
        let set = try follower.apply()
        #expect((set.added, set.changed, set.unchanged, set.keptRevoked) == (1, 0, 0, 1))
        #expect(try store.certificate(issuer: issuer, serial: try SerialNumber(hex: "31"))?.status != .good)
    }

    /// What a follower reported, shared with the task that runs it.
    final class Events: Sendable {
        let list = Mutex<[IndexFollower.Event]>([])
    }

    @Test func aFileRenamedOverTheIndexIsPickedUp() async throws {
        try write([Self.valid("21")])
        let events = Events()
        let (store, issuer, index) = (store, issuer, index)
        let task = Task {
            var follower = IndexFollower(store: store, issuer: issuer, path: index)
            follower.pollInterval = .seconds(3600)  // only inotify can see the rename
            follower.tick = .milliseconds(5)
            await follower.run { event in events.list.withLock { $0.append(event) } }
        }
        defer { task.cancel() }
        func applied() -> [IndexFollower.ChangeSet] {
            events.list.withLock { $0.compactMap { if case .applied(let set) = $0 { set } else { nil } } }
        }
        // Bounded waits on what the follower reports, not on the clock's readings.
        for _ in 0..<2000 where applied().isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        #expect(applied().first?.added == 1)

        // What `openssl ca` does: write index.txt.new, then rename it over index.txt.
        try write([Self.revoked("21"), Self.valid("22")], to: index + ".new")
        #expect(rename(index + ".new", index) == 0)
        for _ in 0..<2000 where applied().count < 2 {
            try await Task.sleep(for: .milliseconds(5))
        }
        let change = try #require(applied().last)
        #expect((change.added, change.changed) == (1, 1))
        #expect(try store.certificate(issuer: issuer, serial: try SerialNumber(hex: "21"))?.status != .good)
        task.cancel()
        await task.value
    }
}
