import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore
import Synchronization
import Testing

@Suite final class DirectoryFollowerTests {
    let root = NSTemporaryDirectory() + "directory-follower-" + UUID().uuidString
    var directory: String { root + "/issued" }
    let store: RevocationStore
    let issuer: IssuerID
    let ca: Certificate
    let caKey: PrivateKey

    init() throws {
        try FileManager.default.createDirectory(atPath: root + "/issued", withIntermediateDirectories: true)
        (ca, caKey) = try TestCA.make("Directory Follow Test CA")
        (store, issuer) = try TestCA.store(at: root + "/store", issuer: ca)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// A leaf certificate with serial `serial`, issued by `ca` (this suite's CA by default).
    func leaf(_ serial: String, by ca: (certificate: Certificate, key: PrivateKey)? = nil) throws -> Certificate {
        var template = CertificateTemplate(
            subject: [("CN", "leaf \(serial)")], validity: 86400, extensions: [("basicConstraints", "CA:FALSE")])
        template.serialNumber = try SerialNumber(hex: serial)
        let (issuer, key) = ca ?? (self.ca, caKey)
        return try CertificateBuilder.issue(
            template, subjectKey: try PrivateKey.generateEC(), issuer: issuer, issuerKey: key)
    }

    func write(_ bytes: [UInt8], _ name: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name))
    }

    func append(_ bytes: [UInt8], _ name: String) throws {
        let handle = try #require(FileHandle(forWritingAtPath: directory + "/" + name))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
    }

    func holds(_ serial: String) throws -> Bool {
        try store.certificate(issuer: issuer, serial: try SerialNumber(hex: serial))?.status == .good
    }

    /// A signing that records which serials it signed, and makes a placeholder response.
    final class Signatures: Sendable {
        let signed = Mutex<[String]>([])

        func signing() -> ResponseSigning {
            { key, _ in
                self.signed.withLock { $0.append(key.serial.hex) }
                return CachedResponse(
                    der: [0x30, 0x03, 0x0A, 0x01, 0x00], kind: .good, thisUpdate: Date(), nextUpdate: Date() + 3600,
                    refreshAt: Date() + 1800, etag: 1)
            }
        }
    }

    @Test func filesPresentAtStartAreAddedOnceAndSignedAndARerunAddsNothing() throws {
        try write(Array(try leaf("0A").pemEncoded.utf8), "a.pem")
        try write(try leaf("0B").derEncoded, "b.der")
        try write(Array("not a certificate file".utf8), "notes.txt")
        let signatures = Signatures()
        var follower = DirectoryFollower(store: store, directory: directory) { [issuer] id in
            id == issuer ? signatures.signing() : nil
        }
        let first = try follower.apply()
        #expect(first.added.map(\.file) == ["a.pem", "b.der"])
        #expect(first.added.map(\.serial.hex) == ["0A", "0B"])
        #expect(first.added.allSatisfy { $0.issuer == issuer })
        #expect(first.present.isEmpty && first.skipped.isEmpty && first.waiting.isEmpty)
        #expect(signatures.signed.withLock { $0.sorted() } == ["0A", "0B"], "each response signed as it is added")
        #expect(try holds("0A") && holds("0B"))

        let head = try store.auditHead().sequence
        #expect(try follower.apply().isEmpty, "files already applied are not read again")
        var rerun = DirectoryFollower(store: store, directory: directory)
        let again = try rerun.apply()
        #expect(again.added.isEmpty && again.present.map(\.file) == ["a.pem", "b.der"])
        #expect(try store.auditHead().sequence == head, "a rerun writes nothing")
    }

    @Test func aFileWrittenInStepsIsAddedOnceItParses() throws {
        var follower = DirectoryFollower(store: store, directory: directory)
        let pem = Array(try leaf("1C").pemEncoded.utf8)
        try write(Array(pem[..<(pem.count / 2)]), "c.crt")
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let partial = try follower.apply(now: start)
        #expect(partial.isEmpty && partial.waiting == ["c.crt"], "not yet parsed: neither added nor reported")
        try append(Array(pem[(pem.count / 2)...(pem.count * 3 / 4)]), "c.crt")
        let more = try follower.apply(now: start + 5)
        #expect(more.isEmpty && more.waiting == ["c.crt"], "changed since: waiting again, not reported")
        try append(Array(pem[(pem.count * 3 / 4 + 1)...]), "c.crt")
        let whole = try follower.apply(now: start + 5.5)
        #expect(whole.added.map(\.serial.hex) == ["1C"] && whole.skipped.isEmpty && whole.waiting.isEmpty)
        #expect(try holds("1C"))
    }

    @Test func aFileStillBadAtTheNextLookIsReportedOnceThenReadAgainWhenItChanges() throws {
        var follower = DirectoryFollower(store: store, directory: directory)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        try write(Array("garbage".utf8), "bad.pem")
        #expect(try follower.apply(now: start).waiting == ["bad.pem"])
        let soon = try follower.apply(now: start + 0.5)
        #expect(soon.isEmpty && soon.waiting == ["bad.pem"], "a writer's pause: not reported yet")
        let second = try follower.apply(now: start + 1)
        #expect(second.skipped.map(\.file) == ["bad.pem"] && second.waiting.isEmpty)
        #expect(second.skipped.first?.reason.contains("not a PEM or DER certificate") == true)
        let third = try follower.apply(now: start + 2)
        #expect(third.isEmpty && third.waiting.isEmpty, "reported once, however often the directory is read")

        try write(Array(try leaf("2D").pemEncoded.utf8), "bad.pem")
        #expect(try follower.apply().added.map(\.serial.hex) == ["2D"], "a bad file fixed is read again")
    }

    @Test func aCertificateOfAnIssuerNotInTheStoreIsReportedOnceAndTheRestAdded() throws {
        let other = try TestCA.make("Another CA")
        try write(Array(try leaf("3E", by: other).pemEncoded.utf8), "other.pem")
        try write(Array(try leaf("3F").pemEncoded.utf8), "mine.pem")
        var follower = DirectoryFollower(store: store, directory: directory)
        let first = try follower.apply()
        #expect(first.added.map(\.file) == ["mine.pem"])
        #expect(first.skipped.map(\.file) == ["other.pem"])
        #expect(first.skipped.first?.reason.contains("no issuer in the store issued it") == true)
        #expect(try follower.apply().isEmpty, "reported once")
    }

    @Test func aRemovedFileChangesNothing() throws {
        try write(Array(try leaf("40").pemEncoded.utf8), "gone.pem")
        var follower = DirectoryFollower(store: store, directory: directory)
        #expect(try follower.apply().added.count == 1)
        try FileManager.default.removeItem(atPath: directory + "/gone.pem")
        #expect(try follower.apply().isEmpty)
        #expect(try holds("40"), "the certificate stays in the store")
    }

    /// What a follower reported, shared with the task that runs it.
    final class Events: Sendable {
        let list = Mutex<[DirectoryFollower.Event]>([])
    }

    @Test func aFileRenamedIntoTheDirectoryIsPickedUpByInotify() async throws {
        let events = Events()
        let (store, directory) = (store, directory)
        let task = Task {
            var follower = DirectoryFollower(store: store, directory: directory)
            follower.pollInterval = .seconds(3600)  // only inotify can see the new file
            follower.tick = .milliseconds(5)
            await follower.run { event in events.list.withLock { $0.append(event) } }
        }
        defer { task.cancel() }
        func added() -> [DirectoryFollower.Addition] {
            events.list.withLock {
                $0.flatMap { event -> [DirectoryFollower.Addition] in
                    if case .applied(let set) = event { set.added } else { [] }
                }
            }
        }
        func applications() -> Int {
            events.list.withLock { $0.filter { if case .applied = $0 { true } else { false } }.count }
        }
        // Bounded waits on what the follower reports, not on the clock's readings.
        for _ in 0..<2000 where applications() == 0 { try await Task.sleep(for: .milliseconds(5)) }
        try Data(try leaf("51").pemEncoded.utf8).write(to: URL(fileURLWithPath: root + "/new.pem"))
        #expect(rename(root + "/new.pem", directory + "/new.pem") == 0)
        for _ in 0..<2000 where added().isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        #expect(added().map(\.file) == ["new.pem"])
        task.cancel()
        await task.value
    }
}
