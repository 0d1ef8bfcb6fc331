internal import CLMDB
internal import Foundation

/// A named LMDB database handle, valid for the life of its environment.
package struct Database: Sendable {
    let dbi: MDB_dbi
}

/// An LMDB environment (an owned `MDB_env`), opened with `MDB_NOTLS` so read transactions are
/// not tied to threads.
///
/// `MDB_env` is thread-safe; transactions are scoped to the closures of ``read(_:)`` and
/// ``write(_:)`` and never escape them. Therefore Sendable.
package final class LMDBEnvironment: @unchecked Sendable {
    let env: OpaquePointer  // MDB_env*, owned
    /// The absolute path of the map file, as /proc/self/maps names it.
    private let dataFile: String?

    /// Opens (and with `create`, makes) the environment in directory `path`.
    package init(path: String, mapSize: Int, maxDatabases: UInt32, readOnly: Bool) throws {
        var env: OpaquePointer? = nil
        var rc = mdb_env_create(&env)
        guard rc == 0, let env else { throw StoreError.lmdb(rc, "cannot create an LMDB environment") }
        mdb_env_set_maxdbs(env, maxDatabases)
        mdb_env_set_mapsize(env, mapSize)
        mdb_env_set_maxreaders(env, 512)
        let flags = UInt32(MDB_NOTLS) | (readOnly ? UInt32(MDB_RDONLY) : 0)
        rc = mdb_env_open(env, path, flags, 0o600)
        guard rc == 0 else {
            mdb_env_close(env)
            throw StoreError.lmdb(rc, "cannot open the store at \(path)")
        }
        self.env = env
        dataFile = realpath(path, nil).map { resolved in
            defer { free(resolved) }
            return String(cString: resolved) + "/data.mdb"
        }
    }

    deinit { mdb_env_close(env) }

    /// Runs `body` in a read-only transaction: a consistent snapshot of the last commit.
    package func read<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        let txn = try begin(flags: UInt32(MDB_RDONLY))
        defer { mdb_txn_abort(txn) }
        return try body(Transaction(handle: txn))
    }

    /// Runs `body` in the (single, process-wide and cross-process) write transaction. Returning
    /// commits, durably (fsync) before this returns; throwing aborts and writes nothing.
    package func write<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        let txn = try begin(flags: 0)
        let result: R
        do {
            result = try body(Transaction(handle: txn))
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        let rc = mdb_txn_commit(txn)
        guard rc == 0 else { throw StoreError.lmdb(rc, "cannot commit") }
        return result
    }

    /// Opens (creating when `create`) a named database; the handle lasts as long as the environment.
    package func openDatabase(_ name: String, create: Bool) throws -> Database {
        let txn = try begin(flags: create ? 0 : UInt32(MDB_RDONLY))
        var dbi: MDB_dbi = 0
        let rc = mdb_dbi_open(txn, name, create ? UInt32(MDB_CREATE) : 0, &dbi)
        guard rc == 0 else {
            mdb_txn_abort(txn)
            if rc == MDB_NOTFOUND { throw StoreError(.noStore, "the store has no '\(name)' database") }
            throw StoreError.lmdb(rc, "cannot open database \(name)")
        }
        let commit = mdb_txn_commit(txn)
        guard commit == 0 else { throw StoreError.lmdb(commit, "cannot open database \(name)") }
        return Database(dbi: dbi)
    }

    /// The id of the last committed write transaction, by any process: a cheap change counter.
    ///
    /// > Warning: LMDB writes the meta page before it publishes the id to new readers, so for a
    /// > moment this can be ahead of what a read transaction begun now sees. Compare it with
    /// > ``Transaction/id`` before trusting a read as current.
    package var lastCommittedTransaction: Int {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        return info.me_last_txnid
    }

    /// Bytes of the data file in use (pages up to the last one written) and the map size (the
    /// most the store may grow to).
    package var usage: (usedBytes: Int, mapSize: Int) {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        var stat = MDB_stat()
        mdb_env_stat(env, &stat)
        return ((info.me_last_pgno + 1) * Int(stat.ms_psize), info.me_mapsize)
    }

    /// Unmaps, from this process only, the store pages it has touched (`madvise(MADV_DONTNEED)`).
    ///
    /// The map is shared and file-backed, so nothing is lost: the pages stay in the page cache and
    /// the next access maps them again. Bulk jobs that sweep the whole store (presign, import)
    /// call this between transactions so their resident set is their working set, not the store.
    package func releaseMappedPages() {
        // LMDB does not expose where it mapped the file (me_mapaddr is only set for MDB_FIXEDMAP);
        // the kernel's list of this process's mappings does.
        guard let file = dataFile, let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return }
        for line in maps.split(separator: "\n") where line.hasSuffix(" " + file) {
            let range = line.prefix(while: { $0 != " " }).split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                let base = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            _ = madvise(base, Int(end - start), MADV_DONTNEED)
        }
    }

    fileprivate func begin(flags: UInt32) throws -> OpaquePointer {
        var txn: OpaquePointer? = nil
        var rc = mdb_txn_begin(env, nil, flags, &txn)
        if rc == MDB_MAP_RESIZED {
            // Another process grew the map: adopt its size and retry once.
            mdb_env_set_mapsize(env, 0)
            rc = mdb_txn_begin(env, nil, flags, &txn)
        }
        guard rc == 0, let txn else { throw StoreError.lmdb(rc, "cannot begin a transaction") }
        return txn
    }
}

/// A read-only transaction that one thread keeps and reuses: renewed (`mdb_txn_renew`) for each
/// ``read(_:)`` and reset (`mdb_txn_reset`) after it, so a read costs no allocation and the
/// thread holds no snapshot between reads (an idle reader would keep LMDB from reusing pages).
///
/// Not thread-safe: one per thread (the environment is opened with `MDB_NOTLS`, so the thread
/// that uses it need not be the one that created it).
package final class ReusableReadTransaction {
    private let environment: LMDBEnvironment
    private var handle: OpaquePointer?  // MDB_txn*, owned; reset between reads

    package init(environment: LMDBEnvironment) {
        self.environment = environment
    }

    deinit { handle.map { mdb_txn_abort($0) } }

    /// Runs `body` in a snapshot of the last commit.
    package func read<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        let txn: OpaquePointer
        if let handle, mdb_txn_renew(handle) == 0 {
            txn = handle
        } else {
            // The first read, or a renew that failed (MDB_MAP_RESIZED: another process grew the
            // map): a new transaction, which adopts the new size.
            handle.map { mdb_txn_abort($0) }
            handle = nil
            txn = try environment.begin(flags: UInt32(MDB_RDONLY))
            handle = txn
        }
        defer { mdb_txn_reset(txn) }
        return try body(Transaction(handle: txn))
    }
}

/// An LMDB transaction, lent to the closures of ``LMDBEnvironment/read(_:)`` and
/// ``LMDBEnvironment/write(_:)``. Values it returns by pointer are valid only inside the closure.
package struct Transaction: ~Copyable {
    let handle: OpaquePointer  // MDB_txn*, owned by the environment's closure

    /// Calls `body` with the value stored under `key`, or nil; the bytes are LMDB's, not copied.
    package func withValue<R>(
        _ db: Database, key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R
    ) throws -> R {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return try body(nil) }
        guard rc == 0 else { throw StoreError.lmdb(rc, "cannot read") }
        return try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// The id of the snapshot this transaction reads (for a read transaction: the last commit it sees).
    package var id: Int { mdb_txn_id(handle) }

    /// A copy of the value stored under `key`, or nil.
    package func get(_ db: Database, _ key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k in try withValue(db, key: k) { $0.map { Array($0) } } }
    }

    /// Stores `value` under `key`, replacing any value there.
    package func put(_ db: Database, _ key: [UInt8], _ value: [UInt8], flags: Int32 = 0) throws {
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
                var vv = MDB_val(mv_size: v.count, mv_data: UnsafeMutableRawPointer(mutating: v.baseAddress))
                let rc = mdb_put(handle, db.dbi, &kv, &vv, UInt32(flags))
                if rc == MDB_MAP_FULL {
                    throw StoreError(.lmdb, "the store is full; reopen it with a larger --map-size", lmdbCode: rc)
                }
                guard rc == 0 else { throw StoreError.lmdb(rc, "cannot write") }
            }
        }
    }

    /// Deletes `key`; returns whether it was there.
    @discardableResult
    package func delete(_ db: Database, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            let rc = mdb_del(handle, db.dbi, &kv, nil)
            if rc == MDB_NOTFOUND { return false }
            guard rc == 0 else { throw StoreError.lmdb(rc, "cannot delete") }
            return true
        }
    }

    /// Visits every entry whose key starts with `prefix`, in key order from `start` (or the first
    /// such key), until `body` returns false.
    package func forEach(
        _ db: Database, prefix: [UInt8] = [], from start: [UInt8]? = nil,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        let seek = start ?? prefix
        try prefix.withUnsafeBytes { prefix in
            try seek.withUnsafeBytes { seek in
                try forEach(db, startingAt: seek) { key, value in key.starts(with: prefix) ? try body(key, value) : false }
            }
        }
    }

    /// Visits the entries from the first key at or after `start` (from the first key when `start`
    /// is empty), in key order, until `body` returns false. Allocation-free: `start` is a caller's
    /// buffer.
    package func forEach(
        _ db: Database, startingAt start: UnsafeRawBufferPointer,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try withCursor(db) { cursor in
            var k = MDB_val(mv_size: start.count, mv_data: UnsafeMutableRawPointer(mutating: start.baseAddress))
            var v = MDB_val()
            var rc = mdb_cursor_get(cursor, &k, &v, start.isEmpty ? MDB_FIRST : MDB_SET_RANGE)
            while rc == 0 {
                let key = UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)
                guard try body(key, UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)) else { return }
                rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
            }
            guard rc == MDB_NOTFOUND else { throw StoreError.lmdb(rc, "cannot iterate") }
        }
    }

    /// Deletes the first entry of `db`; returns whether there was one.
    @discardableResult
    package func deleteFirst(_ db: Database) throws -> Bool {
        try withCursor(db) { cursor in
            guard try position(cursor, MDB_FIRST) != nil else { return false }
            let rc = mdb_cursor_del(cursor, 0)
            guard rc == 0 else { throw StoreError.lmdb(rc, "cannot delete") }
            return true
        }
    }

    /// The last key of `db`, or nil when empty.
    package func lastKey(_ db: Database) throws -> [UInt8]? {
        try withCursor(db) { cursor in try position(cursor, MDB_LAST).map { Array($0) } }
    }

    /// Runs `body` with a cursor on `db`, closed afterwards.
    private func withCursor<R>(_ db: Database, _ body: (OpaquePointer) throws -> R) throws -> R {
        var cursor: OpaquePointer? = nil
        let rc = mdb_cursor_open(handle, db.dbi, &cursor)
        guard rc == 0, let cursor else { throw StoreError.lmdb(rc, "cannot open a cursor") }
        defer { mdb_cursor_close(cursor) }
        return try body(cursor)
    }

    /// Moves `cursor` (`MDB_FIRST`, `MDB_LAST`) and returns the key there, or nil when `db` is empty.
    private func position(_ cursor: OpaquePointer, _ operation: MDB_cursor_op) throws -> UnsafeRawBufferPointer? {
        var k = MDB_val()
        var v = MDB_val()
        let rc = mdb_cursor_get(cursor, &k, &v, operation)
        if rc == MDB_NOTFOUND { return nil }
        guard rc == 0 else { throw StoreError.lmdb(rc, "cannot read") }
        return UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)
    }

    /// The number of entries in `db`.
    package func count(_ db: Database) throws -> Int {
        var stat = MDB_stat()
        let rc = mdb_stat(handle, db.dbi, &stat)
        guard rc == 0 else { throw StoreError.lmdb(rc, "cannot stat") }
        return stat.ms_entries
    }
}
