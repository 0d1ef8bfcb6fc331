internal import Foundation
package import Logging
package import RevocationStore

/// `ocspctl --database`: every write goes to the system of record, through a local working copy
/// of the store (`--store`) that is itself a follower.
///
/// Under the database's write lock (one writer at a time, across hosts): the working copy
/// catches up with the database's log, the command runs against it exactly as it runs against a
/// store of its own (same rules, same audit records), and the records it added are appended to
/// the database in the same transaction. The write is acknowledged when PostgreSQL commits.
/// Records the command committed locally before it failed are appended too, as they would stay
/// in a store of its own. A working copy whose log is not a prefix of the database's (a commit
/// that failed after the local one) is rebuilt from the database.
package enum DatabaseWrites {
    /// What one session did, for the command's last line.
    package struct Outcome: Sendable {
        /// The records appended to the database.
        package var appended: Int
        /// The database's head after the commit.
        package var head: AuditHead
        /// Whether the working copy was rebuilt first.
        package var rebuilt: Bool
    }

    /// Runs `command` against the working copy at `storePath` inside one database transaction.
    /// The command opens the store itself (LMDB must not be opened twice in one process): no
    /// handle is kept open while it runs.
    /// - Returns: what was appended, and the command's error if it failed (after the commit of
    ///   what it had done).
    package static func run(
        _ location: DatabaseLocation, storePath: String, actor: AuditActor, logger: Logger, command: () async throws -> Void
    ) async throws -> (Outcome, (any Error)?) {
        let database = try await RecordDatabase.connect(location, logger: logger)
        do {
            let result = try await database.withWriteLock { head, appender -> (Outcome, ErrorBox?) in
                let rebuilt = try await catchUp(storePath: storePath, to: head, from: database, actor: actor, location: location)
                var failure: (any Error)? = nil
                do {
                    try await command()
                } catch {
                    failure = error
                }
                let added = try localRecords(storePath: storePath, after: head.sequence, actor: actor)
                try await appender.append(added)
                let newHead = added.isEmpty ? head : AuditHead(sequence: head.sequence + UInt64(added.count), hash: AuditRecord.hash(added.last!))
                return (Outcome(appended: added.count, head: newHead, rebuilt: rebuilt), failure.map(ErrorBox.init))
            }
            await database.close()
            return (result.0, result.1?.error)
        } catch {
            await database.close()
            throw error
        }
    }

    /// Creates the database's schema if it has none, and a working copy at `storePath` if there
    /// is none, caught up with the database. A store that is there already and whose log the
    /// empty database does not have yet is the embedded store moving to a database: its whole
    /// log is appended (the database starts as its copy), and it becomes the working copy.
    package static func initialize(_ location: DatabaseLocation, storePath: String, actor: AuditActor, logger: Logger) async throws
        -> Outcome
    {
        let database = try await RecordDatabase.connect(location, logger: logger)
        do {
            try await database.createSchema()
            let outcome = try await database.withWriteLock { head, appender -> Outcome in
                if head.sequence == 0, FileManager.default.fileExists(atPath: storePath + "/data.mdb"), !isWorkingCopy(storePath, of: location) {
                    let records = try localRecords(storePath: storePath, after: 0, actor: actor)
                    try await appender.append(records)
                    try markWorkingCopy(storePath, of: location)
                    let newHead = records.last.map { AuditHead(sequence: UInt64(records.count), hash: AuditRecord.hash($0)) } ?? head
                    return Outcome(appended: records.count, head: newHead, rebuilt: false)
                }
                return Outcome(appended: 0, head: head, rebuilt: try await catchUp(storePath: storePath, to: head, from: database, actor: actor, location: location))
            }
            await database.close()
            return outcome
        } catch {
            await database.close()
            throw error
        }
    }

    /// Brings the working copy to `head`, creating it when absent and rebuilding it when its
    /// log is not a prefix of the database's. Returns whether it was rebuilt. A store that is
    /// not this database's working copy is never removed: that is refused in one line.
    static func catchUp(
        storePath: String, to head: AuditHead, from database: RecordDatabase, actor: AuditActor, location: DatabaseLocation
    ) async throws -> Bool {
        if !FileManager.default.fileExists(atPath: storePath + "/data.mdb") {
            _ = try RevocationStore.create(at: storePath, actor: actor)
            try markWorkingCopy(storePath, of: location)
        }
        guard isWorkingCopy(storePath, of: location) else {
            throw ReplicationError(
                .diverged,
                "\(storePath) is not a working copy of \(location); give --store an empty directory, or move this store's log into an empty database with: ocspctl init --database URL --store \(storePath)")
        }
        do {
            try await Follower.apply(from: database, to: head, storePath: storePath, actor: actor)
            return false
        } catch let error as ReplicationError where error.code == .diverged {
            // The working copy is a cache of the database: start it again.
            try FileManager.default.removeItem(atPath: storePath)
            _ = try RevocationStore.create(at: storePath, actor: actor)
            try markWorkingCopy(storePath, of: location)
            try await Follower.apply(from: database, to: head, storePath: storePath, actor: actor)
            return true
        }
    }

    /// The file that marks a store as a database's working copy (and names the database).
    private static func markerPath(_ storePath: String) -> String { storePath + "/working-copy-of" }

    private static func markWorkingCopy(_ storePath: String, of location: DatabaseLocation) throws {
        try Data("\(location)\n".utf8).write(to: URL(fileURLWithPath: markerPath(storePath)))
    }

    private static func isWorkingCopy(_ storePath: String, of location: DatabaseLocation) -> Bool {
        guard let data = FileManager.default.contents(atPath: markerPath(storePath)) else { return false }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "\(location)"
    }

    /// The encoded records of the working copy after `sequence`.
    static func localRecords(storePath: String, after sequence: UInt64, actor: AuditActor) throws -> [[UInt8]] {
        let store = try RevocationStore.open(at: storePath, actor: actor)
        var out: [[UInt8]] = []
        var last = sequence
        while true {
            let page = try store.auditEntries(after: last, limit: 4096)
            guard let tail = page.last else { break }
            out += page.map(\.encoded)
            last = tail.sequence
        }
        return out
    }
}

/// An error carried out of a transaction closure that must commit anyway.
struct ErrorBox: @unchecked Sendable {
    // @unchecked: the error is only handed back to the caller, never shared.
    let error: any Error
}
