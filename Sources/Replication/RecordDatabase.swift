public import Foundation
public import Logging
internal import NIOCore
internal import NIOSSL
internal import OCSPValues
internal import PostgresNIO
public import RevocationStore

/// Where the system of record is: a `postgres://user:password@host:port/database` URL, with
/// libpq's `sslmode` (`disable`, the default; `prefer`; `require`; `verify-ca`; `verify-full`) and
/// `sslrootcert` (the CA file to verify the server with) in its query. Without a password in the
/// URL, `PGPASSWORD` is used when set.
public struct DatabaseLocation: Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let user: String
    let password: String?
    public let database: String
    let sslMode: String
    let sslRootCertificate: String?

    /// Parses a `postgres://` (or `postgresql://`) URL; the port defaults to 5432, the user to
    /// `postgres`, the database to the user's name.
    /// - Throws: ``ReplicationError/Code/configuration`` in one line saying what is wrong.
    public init(url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            ["postgres", "postgresql"].contains(scheme), let host = components.host, !host.isEmpty
        else {
            throw ReplicationError(.configuration, "'\(Self.redacted(url))' is not a database URL (expected postgres://USER@HOST:PORT/DATABASE)")
        }
        self.host = host
        port = components.port ?? 5432
        user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        password = components.password.flatMap { $0.removingPercentEncoding } ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : path
        var sslMode = "disable"
        var rootCertificate: String? = nil
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, ["disable", "prefer", "require", "verify-ca", "verify-full"].contains(value) else {
                    throw ReplicationError(
                        .configuration, "sslmode=\(item.value ?? "") in the database URL: expected disable, prefer, require, verify-ca or verify-full")
                }
                sslMode = value
            case "sslrootcert":
                rootCertificate = item.value
            default:
                throw ReplicationError(.configuration, "\(item.name)= in the database URL is not understood (known: sslmode, sslrootcert)")
            }
        }
        self.sslMode = sslMode
        sslRootCertificate = rootCertificate
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        "postgres://\(user)@\(host):\(port)/\(database)" + (sslMode == "disable" ? "" : "?sslmode=\(sslMode)")
    }

    private static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "the URL"
    }

    func configuration() throws -> PostgresConnection.Configuration {
        guard sslMode != "disable" else {
            return PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case "verify-full": tls.certificateVerification = .fullVerification
        case "verify-ca": tls.certificateVerification = .noHostnameVerification
        default: tls.certificateVerification = sslRootCertificate == nil ? .none : .noHostnameVerification
        }
        if let sslRootCertificate { tls.trustRoots = .file(sslRootCertificate) }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw ReplicationError(.configuration, "TLS for \(self): \(error)")
        }
        return PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database,
            tls: sslMode == "prefer" ? .prefer(context) : .require(context))
    }
}

/// A failure of the system of record, in one line.
public struct ReplicationError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// A URL or setting that cannot work as given.
        public static let configuration = Code("configuration")
        /// The database cannot be reached or refused the request.
        public static let unavailable = Code("unavailable")
        /// The database holds no schema of ours (run `ocspctl init --database`).
        public static let noSchema = Code("noSchema")
        /// The local store's log is not a prefix of the database's.
        public static let diverged = Code("diverged")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The PostgreSQL system of record: the audit log (the change feed: dense sequence, hash chain,
/// each record exactly as the LMDB stores encode it), its head, and the issuers and certificates
/// it makes, for SQL readers. One connection; not shared between tasks.
///
/// | table | what |
/// |---|---|
/// | `ocsp_audit` | sequence (dense from 1), the encoded record, when PostgreSQL committed it |
/// | `ocsp_head` | one row: the last sequence and its record's SHA-256 (writers lock it) |
/// | `ocsp_issuers` | issuer id (hex), subject, the issuer record as the stores keep it |
/// | `ocsp_certificates` | issuer id, serial (hex), status, revocation time and reason, notAfter |
///
/// Every append is one transaction that also sends `NOTIFY ocsp_audit, '<last sequence>'`.
public final class RecordDatabase: Sendable {
    /// The channel a commit notifies.
    public static let channel = "ocsp_audit"

    public let location: DatabaseLocation
    let connection: PostgresConnection
    let logger: Logger

    private init(location: DatabaseLocation, connection: PostgresConnection, logger: Logger) {
        self.location = location
        self.connection = connection
        self.logger = logger
    }

    /// Connects (waiting at most `timeout`).
    /// - Throws: ``ReplicationError/Code/unavailable`` naming the database.
    public static func connect(_ location: DatabaseLocation, timeout: Duration = .seconds(10), logger: Logger) async throws
        -> RecordDatabase
    {
        var configuration = try location.configuration()
        configuration.options.connectTimeout = TimeAmount.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
            return RecordDatabase(location: location, connection: connection, logger: logger)
        } catch {
            throw ReplicationError(.unavailable, "cannot connect to \(location): \(Self.describe(error))")
        }
    }

    public func close() async { try? await connection.close() }

    /// Creates the tables if they are not there (idempotent).
    public func createSchema() async throws {
        try await run {
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS ocsp_audit (
                    sequence BIGINT PRIMARY KEY, record BYTEA NOT NULL, committed_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS ocsp_head (id INT PRIMARY KEY CHECK (id = 1), sequence BIGINT NOT NULL, hash BYTEA NOT NULL)",
                logger: logger)
            let genesis = ByteBuffer(bytes: AuditRecord.genesis)
            try await connection.query(
                "INSERT INTO ocsp_head (id, sequence, hash) VALUES (1, 0, \(genesis)) ON CONFLICT (id) DO NOTHING", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS ocsp_issuers (
                    issuer TEXT PRIMARY KEY, subject TEXT NOT NULL, record BYTEA NOT NULL, sequence BIGINT NOT NULL)
                """, logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS ocsp_certificates (
                    issuer TEXT NOT NULL, serial TEXT NOT NULL, status TEXT NOT NULL, revocation_time TIMESTAMPTZ,
                    reason TEXT, not_after TIMESTAMPTZ, sequence BIGINT NOT NULL, PRIMARY KEY (issuer, serial))
                """, logger: logger)
        }
    }

    /// The log's head as committed now.
    /// - Throws: ``ReplicationError/Code/noSchema`` when the database holds none of our tables.
    public func head() async throws -> AuditHead {
        try await run { try await readHead(forUpdate: false) }
    }

    /// The head row (locked until the transaction ends when `forUpdate`).
    private func readHead(forUpdate: Bool) async throws -> AuditHead {
        let rows = try await connection.query(
            forUpdate ? "SELECT sequence, hash FROM ocsp_head WHERE id = 1 FOR UPDATE" : "SELECT sequence, hash FROM ocsp_head WHERE id = 1",
            logger: logger)
        for try await (sequence, hash) in rows.decode((Int64, ByteBuffer).self) {
            return AuditHead(sequence: UInt64(sequence), hash: Array(buffer: hash))
        }
        throw ReplicationError(.noSchema, "\(location) holds no head row; create the schema with: ocspctl init --database URL")
    }

    /// Up to `limit` records after `sequence`, in order, and when PostgreSQL committed each.
    public func records(after sequence: UInt64, limit: Int) async throws -> [(sequence: UInt64, encoded: [UInt8], committed: Date)] {
        try await run {
            var out: [(UInt64, [UInt8], Date)] = []
            let rows = try await connection.query(
                "SELECT sequence, record, committed_at FROM ocsp_audit WHERE sequence > \(Int64(sequence)) ORDER BY sequence LIMIT \(limit)",
                logger: logger)
            for try await (sequence, record, committed) in rows.decode((Int64, ByteBuffer, Date).self) {
                out.append((UInt64(sequence), Array(buffer: record), committed))
            }
            return out
        }
    }

    /// Runs `body` in a transaction that holds the head's row lock (one writer at a time, across
    /// every host), with the head as of the lock. Commits when `body` returns, rolls back when it
    /// throws.
    public func withWriteLock<Result: Sendable>(_ body: (AuditHead, Appender) async throws -> Result) async throws -> Result {
        try await run {
            try await connection.query("BEGIN", logger: logger)
            do {
                let head = try await readHead(forUpdate: true)
                let result = try await body(head, Appender(database: self, head: head))
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Appends records inside ``withWriteLock(_:)``.
    public struct Appender: Sendable {
        let database: RecordDatabase
        let head: AuditHead

        /// Appends `records` (encoded, each following the one before from the locked head), keeps
        /// the issuer and certificate tables in step, moves the head and notifies followers.
        /// - Throws: ``ReplicationError/Code/diverged`` if a record does not follow.
        public func append(_ records: [[UInt8]]) async throws {
            guard !records.isEmpty else { return }
            var head = self.head
            let connection = database.connection
            let logger = database.logger
            // In statements of up to 1000 records (a bulk revocation is one round trip per
            // thousand, not per record).
            var start = 0
            while start < records.count {
                let chunk = records[start..<min(records.count, start + 1000)]
                var decoded: [AuditRecord] = []
                for encoded in chunk {
                    let record = try AuditRecord(encoded: encoded)
                    guard record.sequence == head.sequence + 1, record.previous == head.hash else {
                        throw ReplicationError(
                            .diverged, "record \(record.sequence) does not follow the database's head \(head.sequence)")
                    }
                    decoded.append(record)
                    head = AuditHead(sequence: record.sequence, hash: AuditRecord.hash(encoded))
                }
                let sequences = decoded.map { Int64($0.sequence) }
                let bodies = chunk.map { ByteBuffer(bytes: $0) }
                try await connection.query(
                    "INSERT INTO ocsp_audit (sequence, record) SELECT * FROM unnest(\(sequences)::BIGINT[], \(bodies)::BYTEA[])",
                    logger: logger)
                try await database.materialize(decoded)
                start += chunk.count
            }
            try await connection.query(
                "UPDATE ocsp_head SET sequence = \(Int64(head.sequence)), hash = \(ByteBuffer(bytes: head.hash)) WHERE id = 1", logger: logger)
            try await connection.query("SELECT pg_notify(\(RecordDatabase.channel), \(String(head.sequence)))", logger: logger)
        }
    }

    /// A certificate's row in `ocsp_certificates` (times ISO 8601, "" for none).
    private struct CertificateRow {
        var issuer: String, serial: String, status: String, revocationTime: String, reason: String, notAfter: String
        var sequence: Int64
    }

    /// Keeps `ocsp_issuers` and `ocsp_certificates` in step with records, in order: certificate
    /// changes in one upsert per run (the last change of a certificate wins), anything else
    /// one statement each.
    private func materialize(_ records: [AuditRecord]) async throws {
        var pending: [String: CertificateRow] = [:]
        for record in records {
            guard let issuer = record.issuer else { continue }
            let sequence = Int64(record.sequence)
            switch record.action {
            case .issuerAdd, .issuerReplace, .issuerSetResponder, .issuerBaseline:
                guard let stored = record.issuerRecord else { continue }
                let subject = record.detail["subject"] ?? ""
                try await connection.query(
                    """
                    INSERT INTO ocsp_issuers (issuer, subject, record, sequence)
                    VALUES (\(issuer), \(subject), \(ByteBuffer(bytes: stored)), \(sequence))
                    ON CONFLICT (issuer) DO UPDATE SET subject = EXCLUDED.subject, record = EXCLUDED.record, sequence = EXCLUDED.sequence
                    """, logger: logger)
            case .issuerRemove:
                try await upsert(pending)
                pending = [:]
                try await connection.query("DELETE FROM ocsp_certificates WHERE issuer = \(issuer)", logger: logger)
                try await connection.query("DELETE FROM ocsp_issuers WHERE issuer = \(issuer)", logger: logger)
            default:
                guard let serial = record.serial else { continue }
                guard let after = record.after else {
                    try await upsert(pending)
                    pending = [:]
                    try await connection.query(
                        "DELETE FROM ocsp_certificates WHERE issuer = \(issuer) AND serial = \(serial)", logger: logger)
                    continue
                }
                let time = { (date: Date?) in date.map { $0.ISO8601Format() } ?? "" }
                pending[issuer + serial] = CertificateRow(
                    issuer: issuer, serial: serial, status: after.status, revocationTime: time(after.revocationTime),
                    reason: after.reason ?? "", notAfter: time(after.notAfter), sequence: sequence)
            }
        }
        try await upsert(pending)
    }

    private func upsert(_ rows: [String: CertificateRow]) async throws {
        guard !rows.isEmpty else { return }
        let values = Array(rows.values)
        try await connection.query(
            """
            INSERT INTO ocsp_certificates (issuer, serial, status, revocation_time, reason, not_after, sequence)
            SELECT i, s, st, NULLIF(rt, '')::TIMESTAMPTZ, NULLIF(r, ''), NULLIF(na, '')::TIMESTAMPTZ, q
            FROM unnest(\(values.map(\.issuer))::TEXT[], \(values.map(\.serial))::TEXT[], \(values.map(\.status))::TEXT[],
                        \(values.map(\.revocationTime))::TEXT[], \(values.map(\.reason))::TEXT[], \(values.map(\.notAfter))::TEXT[],
                        \(values.map(\.sequence))::BIGINT[]) AS t(i, s, st, rt, r, na, q)
            ON CONFLICT (issuer, serial) DO UPDATE SET status = EXCLUDED.status, revocation_time = EXCLUDED.revocation_time,
                reason = EXCLUDED.reason, not_after = EXCLUDED.not_after, sequence = EXCLUDED.sequence
            """, logger: logger)
    }

    /// Runs a database call, turning PostgresNIO's errors into one line.
    private func run<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as ReplicationError {
            throw error
        } catch {
            let text = Self.describe(error)
            if text.contains("ocsp_") && text.contains("does not exist") {
                throw ReplicationError(.noSchema, "\(location) holds no schema of ours; create it with: ocspctl init --database URL")
            }
            throw ReplicationError(.unavailable, "\(location): \(text)")
        }
    }

    /// One line for a PostgresNIO error (its description hides the server's message).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)"
        }
        return "\(error)"
    }
}
