internal import Foundation

/// The revocation store: issuers, their CertID index, and certificate status, in one LMDB
/// environment that `ocspd` and `ocspctl` share (LMDB's lock file serialises writers).
///
/// | database | key | value |
/// |---|---|---|
/// | `issuers` | issuer id (SHA-256 of the CA certificate) | ``IssuerRecord`` as JSON |
/// | `issuer_index` | hash algorithm ‖ issuerNameHash ‖ issuerKeyHash | issuer id |
/// | `certs` | issuer id ‖ serial (magnitude bytes) | ``CertificateRecord`` |
/// | `meta` | `schema` | the schema version (``schemaVersion``) |
/// | `audit` | sequence (UInt64, big-endian), dense from 1 | ``AuditRecord``: one JSON line per change, hash-chained |
/// | `meta` also holds | `audit_head` | the chain's head: last sequence ‖ SHA-256 of that record |
/// | `responses` | issuer id ‖ hash algorithm ‖ serial | ``CachedResponse`` (signed DER + times + ETag) |
/// | `refresh_queue` | refreshAt (big-endian seconds) ‖ response key | empty: the refresher's work list |
/// | `crls` | issuer slug ‖ scope | ``StoredCRL``: the latest signed CRLs `ocspd` serves |
/// | `crls` also holds | issuer slug ‖ `F 0 0` | ``StoredFilter``: the latest revocation filter |
/// | `meta` also holds | `crl_number:`, `filter_seq:`, `revocation_seq:` ‖ issuer id | UInt64 counters |
/// | `changes` | sequence (UInt64, big-endian), dense | issuer id ‖ serial (or the issuer id alone: all of its certificates): what a status change makes stale, for in-process caches; the last ``changeRetention`` kept |
///
/// Every change is one write transaction, committed durably before the call returns.
public final class RevocationStore: Sendable {
    package let environment: LMDBEnvironment
    let issuers: Database
    let issuerIndex: Database
    let certs: Database
    let meta: Database
    let audit: Database
    let responses: Database
    let refreshQueue: Database
    let crls: Database
    let changes: Database
    /// How many entries this handle keeps in the change feed when it writes.
    public let changeRetention: Int
    /// Who the audit records this handle appends name.
    public let actor: AuditActor

    /// The schema this program reads and writes. 2: the audit log is chained ``AuditRecord``s.
    public static let schemaVersion = 2
    /// 16 GiB of address space by default: LMDB's file grows only as data is written.
    public static let defaultMapSize = 16 << 30

    private init(environment: LMDBEnvironment, create: Bool, changeRetention: Int, actor: AuditActor) throws {
        self.environment = environment
        self.changeRetention = max(1, changeRetention)
        self.actor = actor
        issuers = try environment.openDatabase("issuers", create: create)
        issuerIndex = try environment.openDatabase("issuer_index", create: create)
        certs = try environment.openDatabase("certs", create: create)
        meta = try environment.openDatabase("meta", create: create)
        audit = try environment.openDatabase("audit", create: create)
        responses = try environment.openDatabase("responses", create: create)
        refreshQueue = try environment.openDatabase("refresh_queue", create: create)
        crls = try environment.openDatabase("crls", create: create)
        // Added after the first release: a store made before it gets the database on first open.
        changes = try environment.openDatabase("changes", create: true)
    }

    /// A number that changes whenever any process commits a write to the store (LMDB's last
    /// transaction id, read from shared memory: a few nanoseconds). In-process caches look at the
    /// change feed (``Reader/Snapshot/changes(after:_:)``) only when it moved.
    public var changeCounter: Int { environment.lastCommittedTransaction }

    /// Lets go of this process's mapping of store pages it has read or written (they stay in the
    /// page cache): bulk jobs call it between batches so their RSS does not grow with the store.
    public func releaseMappedPages() { environment.releaseMappedPages() }

    /// Creates a new, empty store in directory `path` (created if needed).
    /// - Throws: ``StoreError/Code/storeExists`` if one is already there.
    /// - Parameters:
    ///   - changeRetention: how many entries of the change feed writes through this handle keep.
    ///   - actor: who the audit records of writes through this handle name.
    public static func create(
        at path: String, mapSize: Int = defaultMapSize, changeRetention: Int = defaultChangeRetention,
        actor: AuditActor = .currentUser
    ) throws -> RevocationStore {
        if FileManager.default.fileExists(atPath: path + "/data.mdb") {
            throw StoreError(.storeExists, "a store already exists at \(path)")
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreError(.io, "cannot create directory \(path): \(error.localizedDescription)")
        }
        let store = try RevocationStore(
            environment: LMDBEnvironment(path: path, mapSize: mapSize, maxDatabases: 16, readOnly: false),
            create: true, changeRetention: changeRetention, actor: actor)
        try store.environment.write { txn in try txn.put(store.meta, schemaKey, Self.encodeSchema(schemaVersion)) }
        return store
    }

    /// Opens an existing store.
    /// - Parameters:
    ///   - olderSchema: accept a store of an older schema (only ``migrate()`` should).
    /// - Throws: ``StoreError/Code/noStore`` if `path` holds none, saying how to make one;
    ///   ``StoreError/Code/schema`` if its schema is newer than this program's (upgrade the
    ///   program) or older (migrate it with `ocspctl migrate`).
    public static func open(
        at path: String, mapSize: Int = defaultMapSize, changeRetention: Int = defaultChangeRetention,
        actor: AuditActor = .currentUser, olderSchema: Bool = false
    ) throws -> RevocationStore {
        guard FileManager.default.fileExists(atPath: path + "/data.mdb") else {
            throw StoreError(.noStore, "no store at \(path); create one with: ocspctl init --store \(path)")
        }
        let store = try RevocationStore(
            environment: LMDBEnvironment(path: path, mapSize: mapSize, maxDatabases: 16, readOnly: false),
            create: false, changeRetention: changeRetention, actor: actor)
        let schema = try store.schema()
        if schema > schemaVersion {
            throw StoreError(
                .schema,
                "the store at \(path) has schema \(schema), newer than this program's (\(schemaVersion)); use the ocspctl and ocspd that wrote it, or newer")
        }
        if schema < schemaVersion, !olderSchema {
            throw StoreError(
                .schema, "the store at \(path) has schema \(schema), older than \(schemaVersion); migrate it with: ocspctl migrate --store \(path)")
        }
        return store
    }

    static let schemaKey = Array("schema".utf8)

    /// The store's schema version, as recorded in it.
    public func schema() throws -> Int {
        try environment.read { txn in try txn.get(meta, Self.schemaKey) }.map(Self.decodeSchema) ?? 1
    }

    /// Schema 1 was one byte; from 2 on, a big-endian UInt32.
    static func encodeSchema(_ version: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(version).bigEndian) { Array($0) } }

    static func decodeSchema(_ bytes: [UInt8]) -> Int {
        bytes.reduce(0) { $0 << 8 | Int($1) }
    }
}
