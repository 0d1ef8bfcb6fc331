package import Foundation
package import Logging
internal import OCSPValues
package import RevocationStore

/// The PostgreSQL system of record: the audit log (the change feed: dense sequence, hash chain,
/// each record exactly as the LMDB stores encode it), its head, and the issuers and certificates
/// it makes, for SQL readers. One libpq connection (``PostgresConnection``); not shared between
/// tasks.
///
/// | table | what |
/// |---|---|
/// | `ocsp_audit` | sequence (dense from 1), the encoded record, when PostgreSQL committed it |
/// | `ocsp_head` | one row: the last sequence and its record's SHA-256 (writers lock it) |
/// | `ocsp_issuers` | issuer id (hex), subject, the issuer record as the stores keep it |
/// | `ocsp_certificates` | issuer id, serial (hex), status, revocation time and reason, notAfter |
///
/// Every append is one transaction that also sends `NOTIFY ocsp_audit, '<last sequence>'`.
///
/// Every call has a deadline (``callTimeout``; waiting for another writer's lock,
/// ``lockTimeout``): a database that stops answering, or a link that goes silent, fails the
/// call instead of hanging it, and the connection is closed.
package final class RecordDatabase: Sendable {
    /// The channel a commit notifies.
    package static let channel = "ocsp_audit"

    package let location: DatabaseLocation
    let connection: PostgresConnection
    let logger: Logger
    /// How long any one call may take.
    let callTimeout: Duration
    /// How long a writer waits for the write lock another writer holds.
    let lockTimeout: Duration

    private init(location: DatabaseLocation, connection: PostgresConnection, logger: Logger, callTimeout: Duration) {
        self.location = location
        self.connection = connection
        self.logger = logger
        self.callTimeout = callTimeout
        lockTimeout = max(callTimeout, .seconds(120))
    }

    /// What a connection asks of libpq unless the connection string says otherwise: TCP
    /// keepalives and `tcp_user_timeout`, so that a dead peer is noticed by the kernel too, and
    /// a per-host `connect_timeout`.
    static func connectionDefaults(connectTimeout: Duration, application: String) -> [(String, String)] {
        [
            ("connect_timeout", "\(max(2, connectTimeout.components.seconds))"),
            ("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
            ("tcp_user_timeout", "15000"), ("fallback_application_name", application),
        ]
    }

    /// Connects: libpq tries the string's hosts in order, each for at most `timeout` (the whole
    /// attempt at most that per host).
    /// - Parameter callTimeout: the deadline of each call on this connection.
    /// - Throws: ``ReplicationError/Code/unavailable`` naming the database.
    package static func connect(
        _ location: DatabaseLocation, timeout: Duration = .seconds(10), callTimeout: Duration = .seconds(30), logger: Logger
    ) async throws -> RecordDatabase {
        do {
            let connection = try await PostgresConnection.connect(
                conninfo: location.conninfo,
                defaults: connectionDefaults(connectTimeout: timeout, application: ProcessInfo.processInfo.processName),
                timeout: timeout * max(1, location.hosts.count) + .seconds(1))
            logger.debug("connected", metadata: ["database": "\(location)", "server": "\(connection.server)"])
            return RecordDatabase(location: location, connection: connection, logger: logger, callTimeout: callTimeout)
        } catch let failure as PostgresConnection.Failure {
            throw ReplicationError(.unavailable, "cannot connect to \(location): \(location.hidingSecrets(failure.message))")
        }
    }

    /// The host and port this connection reached.
    package var server: String { connection.server }

    package func close() async { await connection.close() }

    /// Creates the tables if they are not there (idempotent).
    package func createSchema() async throws {
        try await execute(
            """
            CREATE TABLE IF NOT EXISTS ocsp_audit (
                sequence BIGINT PRIMARY KEY, record BYTEA NOT NULL, committed_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """)
        try await execute("CREATE TABLE IF NOT EXISTS ocsp_head (id INT PRIMARY KEY CHECK (id = 1), sequence BIGINT NOT NULL, hash BYTEA NOT NULL)")
        try await execute(
            "INSERT INTO ocsp_head (id, sequence, hash) VALUES (1, 0, $1::BYTEA) ON CONFLICT (id) DO NOTHING", [.bytes(AuditRecord.genesis)])
        try await execute(
            """
            CREATE TABLE IF NOT EXISTS ocsp_issuers (
                issuer TEXT PRIMARY KEY, subject TEXT NOT NULL, record BYTEA NOT NULL, sequence BIGINT NOT NULL)
            """)
        try await execute(
            """
            CREATE TABLE IF NOT EXISTS ocsp_certificates (
                issuer TEXT NOT NULL, serial TEXT NOT NULL, status TEXT NOT NULL, revocation_time TIMESTAMPTZ,
                reason TEXT, not_after TIMESTAMPTZ, sequence BIGINT NOT NULL, PRIMARY KEY (issuer, serial))
            """)
    }

    /// The log's head as committed now.
    /// - Throws: ``ReplicationError/Code/noSchema`` when the database holds none of our tables.
    package func head() async throws -> AuditHead {
        try await readHead(forUpdate: false)
    }

    /// The head row (locked until the transaction ends when `forUpdate`).
    private func readHead(forUpdate: Bool) async throws -> AuditHead {
        let rows = try await execute(
            "SELECT sequence, hash FROM ocsp_head WHERE id = 1" + (forUpdate ? " FOR UPDATE" : ""), timeout: forUpdate ? lockTimeout : callTimeout)
        guard let row = rows.first, let sequence = try Self.int64(row, 0), let hash = row[1] else {
            throw ReplicationError(.noSchema, "\(location) holds no head row; create the schema with: ocspctl init --database URL")
        }
        return AuditHead(sequence: UInt64(sequence), hash: hash)
    }

    /// Up to `limit` records after `sequence`, in order, and when PostgreSQL committed each.
    package func records(after sequence: UInt64, limit: Int) async throws -> [(sequence: UInt64, encoded: [UInt8], committed: Date)] {
        try await headAndRecords(after: sequence, limit: limit).1
    }

    /// The head, and up to `limit` records after `sequence`, in one statement (one snapshot, one
    /// round trip): what a follower asks each time it is woken.
    func headAndRecords(after sequence: UInt64, limit: Int) async throws
        -> (AuditHead, [(sequence: UInt64, encoded: [UInt8], committed: Date)])
    {
        let rows = try await execute(
            """
            SELECT h.sequence, h.hash, a.sequence, a.record, extract(epoch FROM a.committed_at)::FLOAT8
            FROM ocsp_head h LEFT JOIN LATERAL (
                SELECT sequence, record, committed_at FROM ocsp_audit WHERE sequence > $1::BIGINT ORDER BY sequence LIMIT $2::BIGINT
            ) a ON true
            WHERE h.id = 1
            """, [.text(String(sequence)), .text(String(limit))])
        guard let first = rows.first, let headSequence = try Self.int64(first, 0), let hash = first[1] else {
            throw ReplicationError(.noSchema, "\(location) holds no head row; create the schema with: ocspctl init --database URL")
        }
        let records = try rows.compactMap { row -> (UInt64, [UInt8], Date)? in
            guard let sequence = try Self.int64(row, 2) else { return nil }  // no record: the LEFT JOIN's empty row
            guard let record = row[3], let committed = try Self.float64(row, 4) else {
                throw ReplicationError(.unavailable, "\(location): a record row with an empty column")
            }
            return (UInt64(sequence), record, Date(timeIntervalSince1970: committed))
        }
        return (AuditHead(sequence: UInt64(headSequence), hash: hash), records)
    }

    /// Runs `body` in a transaction that holds the head's row lock (one writer at a time, across
    /// every host), with the head as of the lock. Commits when `body` returns, rolls back when it
    /// throws.
    ///
    /// When the connection fails at COMMIT (a failover), whether PostgreSQL committed is not
    /// known: the error says so, and the next command's catch-up finds out (the working copy is
    /// rebuilt when its log is not the database's).
    package func withWriteLock<Result: Sendable>(_ body: (AuditHead, Appender) async throws -> Result) async throws -> Result {
        try await execute("BEGIN")
        let result: Result
        do {
            let head = try await readHead(forUpdate: true)
            result = try await body(head, Appender(database: self, head: head))
        } catch {
            _ = try? await execute("ROLLBACK")
            throw error
        }
        do {
            try await execute("COMMIT")
        } catch let error as ReplicationError where error.code == .unavailable {
            throw ReplicationError(
                .unavailable, "\(error.message) (at COMMIT: the change may or may not be in the database; ocspctl status shows which)")
        }
        return result
    }

    /// Appends records inside ``withWriteLock(_:)``.
    package struct Appender: Sendable {
        let database: RecordDatabase
        let head: AuditHead

        /// Appends `records` (encoded, each following the one before from the locked head), keeps
        /// the issuer and certificate tables in step, moves the head and notifies followers.
        /// - Throws: ``ReplicationError/Code/diverged`` if a record does not follow.
        package func append(_ records: [[UInt8]]) async throws {
            guard !records.isEmpty else { return }
            var head = self.head
            // In statements of up to 1000 records (a bulk revocation is one round trip per
            // thousand, not per record).
            var start = 0
            while start < records.count {
                let chunk = Array(records[start..<min(records.count, start + 1000)])
                let decoded = try Self.chain(chunk, from: &head)
                try await database.execute(
                    "INSERT INTO ocsp_audit (sequence, record) SELECT * FROM unnest($1::BIGINT[], $2::BYTEA[])",
                    [.array(decoded.map { Int64($0.sequence) }), .array(chunk, of: .bytea)])
                try await database.materialize(decoded)
                start += chunk.count
            }
            try await database.execute(
                "UPDATE ocsp_head SET sequence = $1::BIGINT, hash = $2::BYTEA WHERE id = 1", [.text(String(head.sequence)), .bytes(head.hash)])
            try await database.execute("SELECT pg_notify($1, $2)", [.text(RecordDatabase.channel), .text(String(head.sequence))])
        }

        /// Decodes `chunk`, checking that each record follows `head` (which it moves along).
        /// - Throws: ``ReplicationError/Code/diverged`` at the first that does not.
        static func chain(_ chunk: [[UInt8]], from head: inout AuditHead) throws -> [AuditRecord] {
            var decoded: [AuditRecord] = []
            decoded.reserveCapacity(chunk.count)
            for encoded in chunk {
                let record = try AuditRecord(encoded: encoded)
                guard record.sequence == head.sequence + 1, record.previous == head.hash else {
                    throw ReplicationError(.diverged, "record \(record.sequence) does not follow the database's head \(head.sequence)")
                }
                decoded.append(record)
                head = AuditHead(sequence: record.sequence, hash: AuditRecord.hash(encoded))
            }
            return decoded
        }
    }

    /// A certificate's row in `ocsp_certificates` (times ISO 8601, nil for none).
    struct CertificateRow: Equatable {
        var issuer: String, serial: String, status: String, revocationTime: String?, reason: String?, notAfter: String?
        var sequence: Int64

        /// The rows as the seven arrays `unnest` takes, column by column.
        static func columns(_ rows: [CertificateRow]) -> [PostgresConnection.Value] {
            let text = { (column: (CertificateRow) -> String?) in PostgresConnection.Value.array(rows.map { column($0).map { Array($0.utf8) } }, of: .text) }
            return [
                text(\.issuer), text(\.serial), text(\.status), text(\.revocationTime), text(\.reason), text(\.notAfter),
                .array(rows.map(\.sequence)),
            ]
        }
    }

    /// What keeps `ocsp_issuers` and `ocsp_certificates` in step with records, in order.
    enum Materialization: Equatable {
        /// Upsert these certificate rows (the last change of each certificate in a run).
        case certificates([CertificateRow])
        /// Upsert an issuer's row.
        case issuer(issuer: String, subject: String, record: [UInt8], sequence: Int64)
        /// Delete an issuer and its certificates.
        case removeIssuer(String)
        /// Delete one certificate.
        case removeCertificate(issuer: String, serial: String)
    }

    /// The statements `records` need, in order: certificate changes gathered in runs (the last
    /// change of a certificate wins), anything else one step each, ending the run before it.
    static func materialization(of records: [AuditRecord]) -> [Materialization] {
        var steps: [Materialization] = []
        var pending: [String: CertificateRow] = [:]
        var order: [String] = []
        func flush() {
            if !order.isEmpty { steps.append(.certificates(order.map { pending[$0]! })) }
            pending = [:]
            order = []
        }
        for record in records {
            guard let issuer = record.issuer else { continue }
            let sequence = Int64(record.sequence)
            switch record.action {
            case .issuerAdd, .issuerReplace, .issuerSetResponder, .issuerBaseline:
                guard let stored = record.issuerRecord else { continue }
                steps.append(.issuer(issuer: issuer, subject: record.detail["subject"] ?? "", record: stored, sequence: sequence))
            case .issuerRemove:
                flush()
                steps.append(.removeIssuer(issuer))
            default:
                guard let serial = record.serial else { continue }
                guard let after = record.after else {
                    flush()
                    steps.append(.removeCertificate(issuer: issuer, serial: serial))
                    continue
                }
                let key = issuer + "/" + serial
                if pending[key] == nil { order.append(key) }
                pending[key] = CertificateRow(
                    issuer: issuer, serial: serial, status: after.status, revocationTime: after.revocationTime.map { $0.ISO8601Format() },
                    reason: after.reason, notAfter: after.notAfter.map { $0.ISO8601Format() }, sequence: sequence)
            }
        }
        flush()
        return steps
    }

    private func materialize(_ records: [AuditRecord]) async throws {
        for step in Self.materialization(of: records) {
            switch step {
            case .issuer(let issuer, let subject, let record, let sequence):
                try await execute(
                    """
                    INSERT INTO ocsp_issuers (issuer, subject, record, sequence) VALUES ($1, $2, $3::BYTEA, $4::BIGINT)
                    ON CONFLICT (issuer) DO UPDATE SET subject = EXCLUDED.subject, record = EXCLUDED.record, sequence = EXCLUDED.sequence
                    """, [.text(issuer), .text(subject), .bytes(record), .text(String(sequence))])
            case .removeIssuer(let issuer):
                try await execute("DELETE FROM ocsp_certificates WHERE issuer = $1", [.text(issuer)])
                try await execute("DELETE FROM ocsp_issuers WHERE issuer = $1", [.text(issuer)])
            case .removeCertificate(let issuer, let serial):
                try await execute("DELETE FROM ocsp_certificates WHERE issuer = $1 AND serial = $2", [.text(issuer), .text(serial)])
            case .certificates(let rows):
                try await execute(
                    """
                    INSERT INTO ocsp_certificates (issuer, serial, status, revocation_time, reason, not_after, sequence)
                    SELECT i, s, st, rt::TIMESTAMPTZ, r, na::TIMESTAMPTZ, q
                    FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BIGINT[]) AS t(i, s, st, rt, r, na, q)
                    ON CONFLICT (issuer, serial) DO UPDATE SET status = EXCLUDED.status, revocation_time = EXCLUDED.revocation_time,
                        reason = EXCLUDED.reason, not_after = EXCLUDED.not_after, sequence = EXCLUDED.sequence
                    """, CertificateRow.columns(rows))
            }
        }
    }

    // MARK: - Calls

    /// Runs one statement with this database's deadline, turning libpq's failures into one line.
    @discardableResult
    func execute(_ sql: String, _ parameters: [PostgresConnection.Value] = [], timeout: Duration? = nil) async throws -> [[[UInt8]?]] {
        do {
            return try await connection.execute(sql, parameters, timeout: timeout ?? callTimeout)
        } catch let failure as PostgresConnection.Failure {
            throw Self.replicationError(failure, location: location)
        }
    }

    /// One line for a libpq failure: an absent table means no schema of ours.
    static func replicationError(_ failure: PostgresConnection.Failure, location: DatabaseLocation) -> ReplicationError {
        // 42P01: undefined_table.
        if failure.kind == .server && failure.state == "42P01" {
            return ReplicationError(.noSchema, "\(location) holds no schema of ours; create it with: ocspctl init --database URL")
        }
        let reason: String
        switch failure.kind {
        case .timedOut: reason = "timed out (\(failure.message))"
        case .cancelled: reason = "cancelled"
        case .server, .connection: reason = location.hidingSecrets(failure.message)
        }
        return ReplicationError(.unavailable, "\(location): \(reason)")
    }

    /// A BIGINT column in binary format (8 bytes, big-endian).
    static func int64(_ row: [[UInt8]?], _ column: Int) throws -> Int64? {
        guard let bytes = row[column] else { return nil }
        guard bytes.count == 8 else { throw ReplicationError(.unavailable, "a BIGINT of \(bytes.count) bytes") }
        return Int64(bitPattern: bytes.reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// A FLOAT8 column in binary format (IEEE 754, big-endian).
    static func float64(_ row: [[UInt8]?], _ column: Int) throws -> Double? {
        guard let bytes = row[column] else { return nil }
        guard bytes.count == 8 else { throw ReplicationError(.unavailable, "a FLOAT8 of \(bytes.count) bytes") }
        return Double(bitPattern: bytes.reduce(0) { $0 << 8 | UInt64($1) })
    }
}

extension DatabaseLocation {
    /// `message` with any password of this connection string replaced.
    func hidingSecrets(_ message: String) -> String { Self.hidingSecrets(of: conninfo, in: message) }
}
