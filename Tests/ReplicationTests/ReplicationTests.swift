import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
@testable import Replication
import RevocationStore
import Testing

/// What `Replication` decides without a database: how records are checked and batched for
/// PostgreSQL, whether a store may follow a log, the lag and the reconnect schedule, and how a
/// connection string is read and shown (never with its password).
@Suite struct RecordBatchingTests {
    let pki: TestPKI
    let issuer: IssuerID
    let serials: [SerialNumber]

    init() throws {
        pki = try TestPKI()
        issuer = IssuerID(certificate: pki.rsaCA)
        serials = try ["0A", "0B", "0C"].map { try SerialNumber(hex: $0) }
        for serial in serials {
            try pki.store.addCertificate(issuer: issuer, serial: serial, notAfter: Date(timeIntervalSince1970: 2_000_000_000))
        }
        try pki.store.revoke(issuer: issuer, serials: Array(serials.prefix(2)), time: Date(timeIntervalSince1970: 1_800_000_000), reason: .keyCompromise)
    }

    func log() throws -> [[UInt8]] {
        try pki.store.auditEntries(after: 0, limit: 1000).map(\.encoded)
    }

    @Test func aLogThatFollowsTheHeadIsTakenWhole() throws {
        let records = try log()
        var head = AuditHead(sequence: 0, hash: AuditRecord.genesis)
        let decoded = try RecordDatabase.Appender.chain(records, from: &head)
        #expect(decoded.map(\.sequence) == Array(1...UInt64(records.count)))
        #expect(head == (try pki.store.auditHead()))
    }

    @Test func aGapOrAnotherChainIsRefusedAsDiverged() throws {
        let records = try log()
        var head = AuditHead(sequence: 0, hash: AuditRecord.genesis)
        var gap = records
        gap.remove(at: 2)
        do {
            _ = try RecordDatabase.Appender.chain(gap, from: &head)
            Issue.record("a log with a gap was taken")
        } catch let error as ReplicationError {
            #expect(error.code == .diverged)
            #expect(error.message == "record 4 does not follow the database's head 2")
        }
        var foreign = AuditHead(sequence: 0, hash: [UInt8](repeating: 7, count: 32))
        #expect(throws: ReplicationError.self) { try RecordDatabase.Appender.chain(records, from: &foreign) }
    }

    @Test func eachCertificateGetsOneRowWithItsLastChange() throws {
        let decoded = try log().map { try AuditRecord(encoded: $0) }
        let steps = RecordDatabase.materialization(of: decoded)
        // Two issuers, then one run of certificate rows: three added, two of them then revoked.
        #expect(steps.count == 3)
        guard case .issuer(let first, _, _, 1) = steps[0], case .issuer(_, _, _, 2) = steps[1],
            case .certificates(let rows) = steps[2]
        else {
            Issue.record("unexpected steps: \(steps)")
            return
        }
        #expect(first == decoded[0].issuer)
        #expect(rows.map(\.serial) == serials.map(\.hex))
        #expect(rows.map(\.status) == ["revoked", "revoked", "good"])
        #expect(rows[0].reason == "keyCompromise" && rows[2].reason == nil)
        #expect(rows[0].revocationTime == Date(timeIntervalSince1970: 1_800_000_000).ISO8601Format())
        #expect(rows[0].sequence > rows[2].sequence)  // the revocation's record, not the addition's
    }

    @Test func anIssuerRemovedEndsTheRunBeforeIt() throws {
        _ = try pki.store.removeIssuer(issuer, force: true)
        let decoded = try log().map { try AuditRecord(encoded: $0) }
        let steps = RecordDatabase.materialization(of: decoded)
        guard case .certificates(let rows) = steps[2], case .removeIssuer(let removed) = steps[3] else {
            Issue.record("unexpected steps: \(steps)")
            return
        }
        #expect(rows.count == 3)
        #expect(removed == issuer.bytes.hexString)
        #expect(steps.count == 4)
    }

    @Test func arraysGoInPostgreSQLsBinaryFormat() {
        guard case .bytes(let bigints) = PostgresConnection.Value.array([1, -2]) else {
            Issue.record("not sent in binary")
            return
        }
        // 1 dimension, no NULL, int8 (OID 20), 2 elements from index 1; each: length 8, value.
        #expect(bigints == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 1]
            + [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])
        guard case .bytes(let texts) = PostgresConnection.Value.array([Array("ab".utf8), nil], of: .text) else {
            Issue.record("not sent in binary")
            return
        }
        // A NULL sets the flag and is length -1.
        #expect(texts == [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 25, 0, 0, 0, 2, 0, 0, 0, 1] + [0, 0, 0, 2, 0x61, 0x62] + [0xFF, 0xFF, 0xFF, 0xFF])
    }

    @Test func certificateRowsBecomeSevenColumnArrays() throws {
        let rows = [
            RecordDatabase.CertificateRow(issuer: "aa", serial: "0A", status: "revoked", revocationTime: "2027-01-15T08:00:00Z", reason: "keyCompromise", notAfter: nil, sequence: 9),
            RecordDatabase.CertificateRow(issuer: "aa", serial: "0B", status: "good", revocationTime: nil, reason: nil, notAfter: nil, sequence: 10),
        ]
        let columns = RecordDatabase.CertificateRow.columns(rows)
        #expect(columns.count == 7)
        guard case .bytes(let reasons) = columns[4] else {
            Issue.record("not sent in binary")
            return
        }
        #expect(reasons.suffix(4) == [0xFF, 0xFF, 0xFF, 0xFF])  // the second row's reason: NULL
        #expect(reasons[7] == 1)  // the null flag
    }

    @Test func binaryColumnsAreReadBigEndian() throws {
        #expect(try RecordDatabase.int64([[0, 0, 0, 0, 0, 0, 1, 2]], 0) == 258)
        #expect(try RecordDatabase.int64([[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]], 0) == -1)
        let bits = (1_733_600_000.25).bitPattern
        let bytes = (0..<8).map { UInt8(truncatingIfNeeded: bits >> (56 - 8 * $0)) }
        #expect(try RecordDatabase.float64([bytes], 0) == 1_733_600_000.25)
        #expect(try RecordDatabase.int64([nil], 0) == nil)
        #expect(throws: ReplicationError.self) { try RecordDatabase.int64([[1, 2, 3]], 0) }
    }
}

@Suite struct FollowerArithmeticTests {
    let genesis = AuditHead(sequence: 0, hash: AuditRecord.genesis)

    @Test func aStoreMayFollowALogItIsAPrefixOf() {
        let head = AuditHead(sequence: 5, hash: [UInt8](repeating: 1, count: 32))
        #expect(Follower.mayFollow(genesis, head))
        #expect(Follower.mayFollow(AuditHead(sequence: 3, hash: [UInt8](repeating: 9, count: 32)), head))  // a gap shows when records do not chain
        #expect(Follower.mayFollow(head, head))
        #expect(!Follower.mayFollow(AuditHead(sequence: 5, hash: [UInt8](repeating: 2, count: 32)), head))  // same length, apart
        #expect(!Follower.mayFollow(AuditHead(sequence: 6, hash: head.hash), head))  // ahead: written to locally
    }

    @Test func lagIsTheAgeOfTheOldestUnappliedRecordAndNeverNegative() {
        let committed = Date(timeIntervalSince1970: 1_000)
        #expect(Follower.lag(oldestUnapplied: committed, now: Date(timeIntervalSince1970: 1_002.5)) == 2.5)
        #expect(Follower.lag(oldestUnapplied: committed, now: Date(timeIntervalSince1970: 999)) == 0)
    }

    @Test func reconnectsBackOffToFiveSecondsAndStartOverAfterAConnection() {
        var backoff = Backoff()
        let failing = (0..<6).map { _ in backoff.next(afterConnecting: false) }
        #expect(failing == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5)])
        #expect(backoff.next(afterConnecting: true) == .milliseconds(500))
        #expect(backoff.next(afterConnecting: false) == .seconds(1))
    }

    @Test func aNewFollowerIsNotReadyUntilItHasCaughtUp() throws {
        let directory = NSTemporaryDirectory() + "follower-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try RevocationStore.create(at: directory)
        let location = try DatabaseLocation(url: "postgres://ocsp:secret@db1:5432,db2:5432/ocsp?target_session_attrs=read-write")
        let follower = Follower(store: store, configuration: Follower.Configuration(location: location), logger: .init(label: "test")) { _ in }
        let problem = try #require(follower.readinessProblem(now: Date().addingTimeInterval(3600)))
        #expect(problem == "follower has not reached postgres://ocsp@db1:5432,db2:5432/ocsp?target_session_attrs=read-write since it started")
        #expect(!problem.contains("secret"))
    }
}

@Suite struct DatabaseLocationTests {
    @Test func aURLIsShownWithoutItsPassword() throws {
        let location = try DatabaseLocation(url: "postgres://ocsp:s3cr%40t@db.example:5433/revocations?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(location.description == "postgres://ocsp@db.example:5433/revocations?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(location.hosts == ["db.example"])
        #expect(location.hidingSecrets("password s3cr%40t or s3cr@t rejected") == "password *** or *** rejected")
    }

    @Test func severalHostsAreKeptInOrderWithTheirPorts() throws {
        let location = try DatabaseLocation(url: "postgresql://ocsp@10.0.0.1:5432,10.0.0.2:5433,[::1]:5434/ocsp?target_session_attrs=read-write")
        #expect(location.hosts == ["10.0.0.1", "10.0.0.2", "::1"])
        #expect(location.description == "postgres://ocsp@10.0.0.1:5432,10.0.0.2:5433,[::1]:5434/ocsp?target_session_attrs=read-write")
    }

    @Test func libpqsKeyValueFormIsReadToo() throws {
        let location = try DatabaseLocation(
            url: "host=db1,db2 port=5432 dbname=ocsp user=writer password='two words' target_session_attrs=read-write connect_timeout=3")
        #expect(location.description == "postgres://writer@db1:5432,db2:5432/ocsp?target_session_attrs=read-write&connect_timeout=3")
        #expect(DatabaseLocation.password(in: "host=db1 password='two words'") == "two words")
        #expect(DatabaseLocation.password(in: "host=db1 password=plain dbname=x") == "plain")
        #expect(location.hidingSecrets("saw two words") == "saw ***")
    }

    @Test func whatIsNotAConnectionStringIsOneLineWithoutThePassword() {
        let cases: [(String, String)] = [
            ("mysql://root:hunter2@nowhere/", "is not a database URL"),
            ("postgres://u:hunter2@db/ocsp?bogus=1", "bogus"),
            ("host=db password=hunter2 nonsense", "is not a database URL"),
            ("postgres://u:hunter2@db/ocsp?sslmode=sometimes", "sslmode=sometimes"),
            ("  ", "is empty"),
        ]
        for (string, expected) in cases {
            do {
                _ = try DatabaseLocation(url: string)
                Issue.record("\(string) was taken")
            } catch let error as ReplicationError {
                #expect(error.code == .configuration)
                #expect(error.message.contains(expected), "\(error.message)")
                #expect(!error.message.contains("hunter2"), "\(error.message)")
                #expect(!error.message.contains("\n"))
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    @Test func connectionDefaultsComeBeforeTheStringSoItOverridesThem() {
        let defaults = RecordDatabase.connectionDefaults(connectTimeout: .seconds(1), application: "ocspd")
        #expect(defaults.first { $0.0 == "connect_timeout" }?.1 == "2")  // libpq's minimum
        #expect(defaults.contains { $0 == ("keepalives", "1") } && defaults.contains { $0 == ("tcp_user_timeout", "15000") })
        #expect(!defaults.contains { $0.0 == "dbname" })
    }
}
