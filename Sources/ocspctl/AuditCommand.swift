import ArgumentParser
import Foundation
import OCSPValues
import RevocationStore

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show, verify, export and replay the store's audit log.",
        discussion: """
            Every change to the store appends a record in the same transaction: a dense sequence \
            number, the time, the actor and host, the action, the issuer and serial, the state \
            before and after, and the SHA-256 of the record before it, so an edit, a deletion or a \
            reordering breaks the chain. `audit --json` prints the records exactly as stored (JSON \
            Lines): the export that `audit replay` reads and a follower applies.
            """,
        subcommands: [Show.self, Verify.self, Head.self, Replay.self], defaultSubcommand: Show.self)

    struct Show: StoreCommand {
        static let configuration = CommandConfiguration(abstract: "Print the log (the default).")

        @OptionGroup var options: StoreOptions

        @Option(help: ArgumentHelp("From this record on: a sequence number, or a UTC time (RFC 3339).", valueName: "seq|time"))
        var since: String?

        @Flag(help: "Print the records as stored: JSON Lines, the chained encoding.")
        var json = false

        @Flag(help: "Keep printing new records as they commit (until interrupted).")
        var follow = false

        func run() throws {
            let store = try options.open()
            var position: UInt64 = 0
            if let since {
                if let sequence = UInt64(since) {
                    position = sequence > 0 ? sequence - 1 : 0
                } else {
                    let time = try parseTime(since, option: "--since")
                    guard let first = try store.firstAuditSequence(notBefore: time) else {
                        // Nothing yet: with --follow, wait for what comes.
                        position = try store.auditHead().sequence
                        if !follow { return }
                        return try emit(store, after: position)
                    }
                    position = first - 1
                }
            }
            try emit(store, after: position)
        }

        private func emit(_ store: RevocationStore, after start: UInt64) throws {
            var position = start
            while true {
                let page = try store.auditEntries(after: position, limit: 4096)
                for (sequence, encoded) in page {
                    let line = json ? encoded : Array(try Self.text(AuditRecord(encoded: encoded)).utf8)
                    FileHandle.standardOutput.write(Data(line + [UInt8(ascii: "\n")]))
                    position = sequence
                }
                if page.isEmpty {
                    guard follow else { return }
                    Thread.sleep(forTimeInterval: 0.2)
                }
            }
        }

        /// One line: sequence, time, actor@host, action, issuer, serial, before → after.
        static func text(_ record: AuditRecord) -> String {
            var fields = [
                String(record.sequence), AuditTime.format(record.time), "\(record.actor)@\(record.host)",
                record.action.rawValue,
            ]
            if let issuer = record.issuer { fields.append("issuer " + String(issuer.prefix(16)).lowercased()) }
            if let serial = record.serial { fields.append("serial " + serial) }
            if record.before != nil || record.after != nil {
                fields.append("\(describe(record.before)) -> \(describe(record.after))")
            }
            for (key, value) in record.detail.sorted(by: { $0.key < $1.key }) where key != "entry" {
                fields.append("\(key)=\(value)")
            }
            if record.forced { fields.append("FORCED") }
            return fields.joined(separator: "\t")
        }

        private static func describe(_ state: AuditRecord.State?) -> String {
            guard let state else { return "absent" }
            guard state.status != "good" else { return "good" }
            return state.status + (state.reason.map { "(\($0))" } ?? "")
        }
    }

    struct Verify: StoreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the hash chain; name the first record that breaks it (exit 1).")

        @OptionGroup var options: StoreOptions

        @Option(help: ArgumentHelp("A head exported earlier (`audit head`): its record must be unchanged.", valueName: "seq:sha256"))
        var head: String?

        func validate() throws {
            if let head, AuditHead(head) == nil {
                throw ValidationError("--head \(head): expected SEQ:SHA256 as `ocspctl audit head` prints it")
            }
        }

        @Flag(help: "Print the result as JSON (the exit status still says whether the log is whole).")
        var json = false

        func run() throws {
            let store = try options.open()
            let result = try store.verifyAudit(expecting: head.flatMap(AuditHead.init))
            if json {
                var fields: [String: Any] = [
                    "verified": result.firstBad == nil, "records": result.records, "head": result.head.description,
                ]
                if let bad = result.firstBad { fields["firstBad"] = ["sequence": bad.sequence, "reason": bad.reason] }
                try printJSON(fields)
                if result.firstBad != nil { throw ExitCode(CLIError.ExitStatus.failure.rawValue) }
                return
            }
            if let bad = result.firstBad {
                throw CLIError("audit log broken at record \(bad.sequence): \(bad.reason) (\(result.records) records before it verified)")
            }
            print("audit log verified: \(result.records) records, head \(result.head)")
        }
    }

    struct Head: StoreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the chain's head (SEQ:SHA256): keep a copy elsewhere, and `audit verify --head` proves the log was not rewritten.")

        @OptionGroup var options: StoreOptions

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let head = try options.open().auditHead()
            if json {
                print("{\"sequence\":\(head.sequence),\"sha256\":\"\(head.hash.hexString)\"}")
            } else {
                print(head)
            }
        }
    }

    struct Replay: StoreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply an exported log (`audit --json`) to a store: an empty one becomes a copy of the source's issuers and statuses.",
            discussion: """
                The store is created if it does not exist. Records must continue its log: the next \
                sequence number, chained to its head (records it already holds are skipped, so a \
                replay can be resumed). Every record is checked before it is applied, in \
                transactions of \(Self.batchSize); a broken chain stops the replay at that record. \
                Signed responses are not in the log: ocspd or `ocspctl presign` signs them.
                """)

        @OptionGroup var options: StoreOptions

        @Option(help: ArgumentHelp("The exported log (JSON Lines); - for standard input.", valueName: "file"))
        var from: String

        static let batchSize = 10_000

        func run() throws {
            let store: RevocationStore
            if FileManager.default.fileExists(atPath: options.store + "/data.mdb") {
                store = try options.open()
            } else {
                store = try RevocationStore.create(at: options.store, actor: options.auditActor)
            }
            guard let lines = LineReader(path: from) else { throw CLIError("--from \(from): cannot read the file", .notFound) }
            var head = try store.auditHead()
            let start = head.sequence
            var batch: [[UInt8]] = []
            var lineNumber = 0
            var applied = 0
            var progress = Progress(total: 0, "records")
            func flush() throws {
                guard !batch.isEmpty else { return }
                head = try store.apply(batch)
                applied += batch.count
                batch.removeAll(keepingCapacity: true)
                store.releaseMappedPages()
                progress.update(applied)
            }
            while let line = lines.next() {
                lineNumber += 1
                if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
                let record: AuditRecord
                do {
                    record = try AuditRecord(encoded: line)
                } catch {
                    throw CLIError("--from \(from) line \(lineNumber): \(error); nothing after record \(head.sequence) was applied")
                }
                // Already in this store: skip (a resumed replay), but only up to its head.
                if record.sequence <= start { continue }
                batch.append(line)
                if batch.count == Self.batchSize {
                    do { try flush() } catch { throw CLIError("\(error); records up to \(head.sequence) were applied") }
                }
            }
            do { try flush() } catch { throw CLIError("\(error); records up to \(head.sequence) were applied") }
            _ = progress.finish()
            print("replayed \(applied) records into \(options.store) " + progress.summary(applied) + "; head \(head)")
        }
    }
}

/// Reads a file (or standard input, for `-`) line by line without holding it whole.
final class LineReader {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<CChar>? = nil
    private var capacity = 0

    init?(path: String) {
        if path == "-" {
            guard let input = fdopen(dup(STDIN_FILENO), "r") else { return nil }
            file = input
        } else {
            guard let opened = fopen(path, "r") else { return nil }
            file = opened
        }
    }

    deinit {
        free(buffer)
        fclose(file)
    }

    /// The next line without its newline, or nil at the end.
    func next() -> [UInt8]? {
        let count = getline(&buffer, &capacity, file)
        guard count >= 0, let buffer else { return nil }
        var length = count
        if length > 0, buffer[length - 1] == 0x0A { length -= 1 }
        return buffer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
    }
}
