import ArgumentParser
import Foundation
import Logging
import OCSPAdmin
import OCSPCore
import OCSPValues
import Responder
import RevocationStore

struct ImportCommand: StoreCommand, AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an OpenSSL CA database (index.txt) for one issuer: statuses, reasons, revocation times.",
        discussion: """
            Idempotent: certificates the store already holds as the index says are left alone, so \
            importing the same index again writes nothing and adds no audit record. Each certificate \
            added or changed gets its own audit record.

            With --follow, the import keeps running and follows the index as `openssl ca` changes it \
            (inotify on its directory, and its size, inode and time compared every second as the safety \
            net): each change is applied the same idempotent way, the responses of the certificates it \
            changes re-signed in the same transaction (as `ocspctl revoke` does), so an ocspd on the same \
            store answers the new status at once. A line that does not parse is logged once, by number and \
            text, and the rest applied. A line that says good of a certificate the store holds as revoked \
            (an `ocspctl revoke`) leaves it revoked: revocation is permanent. It logs JSON lines to standard error (each change set with its \
            counts and its lag, from the file's modification to the commit) and exits 0 on SIGTERM or SIGINT.
            """)

    @OptionGroup var options: StoreOptions

    @Option(help: "The CA certificate the index belongs to.")
    var issuer: String

    @Option(help: "The OpenSSL index.txt.")
    var index: String

    @Flag(help: "Sign the imported certificates' responses afterwards (on every core).")
    var presign = false

    @Flag(help: "Import the lines that parse and list those that do not (default: a bad line stops the import before anything is written).")
    var skipBad = false

    @Flag(
        help: ArgumentHelp(
            "Keep running: apply the index again each time it changes (bad lines logged and skipped), until SIGTERM.",
            discussion: "Responses of changed certificates are re-signed as they change; --presign and --skip-bad do not apply."))
    var follow = false

    static let batchSize = 50_000

    func validate() throws {
        if follow && presign {
            throw ValidationError("--follow re-signs what changes as it changes; leave out --presign")
        }
        if follow && options.databaseURL != nil {
            throw ValidationError("--follow writes this store as the index changes; it does not run with --database")
        }
    }

    func run() async throws {
        if follow { return try await runFollowing() }
        let store = try options.open()
        let record = try store.issuer(certificate: Certificate.load(path: issuer))
        guard let data = FileManager.default.contents(atPath: index) else {
            throw CLIError("cannot read \(index)", .notFound)
        }
        // Parse everything first: a bad line stops the import before anything is written.
        let (parsed, skipped) = try OpenSSLIndex.parse(contents: [UInt8](data), skipBad: skipBad)
        for line in skipped { warn("skipped \(line)") }
        let entries = parsed.map { ($0.serial, $0.record) }
        var progress = Progress(total: entries.count, "lines")
        var report = RevocationStore.ImportReport()
        var done = 0
        for start in stride(from: 0, to: entries.count, by: Self.batchSize) {
            let batch = Array(entries[start..<min(entries.count, start + Self.batchSize)])
            let written = try store.importRecords(issuer: record.id, batch)
            report.added += written.added
            report.changed += written.changed
            report.unchanged += written.unchanged
            store.releaseMappedPages()
            done += batch.count
            progress.update(done)
        }
        _ = progress.finish()
        let revoked = entries.filter { if case .revoked = $0.1.status { true } else { false } }.count
        print(
            "imported \(entries.count) certificates (\(revoked) revoked): \(report.added) added, \(report.changed) changed, "
                + "\(report.unchanged) unchanged\(skipped.isEmpty ? "" : ", \(skipped.count) bad lines skipped") "
                + progress.summary(entries.count))
        if presign {
            let signed = try options.responder(store).presign(issuer: record.id)
            print("signed \(signed) responses")
        }
    }
}

extension ImportCommand {
    /// `--follow`: an ``IndexFollower`` under a service group (``FollowService``) until SIGTERM or SIGINT.
    func runFollowing() async throws {
        let store = try options.open()
        let record = try store.issuer(certificate: Certificate.load(path: issuer))
        guard FileManager.default.fileExists(atPath: index) else { throw CLIError("cannot read \(index)", .notFound) }
        let options = options
        let id = record.id
        try await FollowService.run(label: "ocspctl.import", following: ["index": "\(index)", "issuer": "\(id)"]) {
            [index] logger in
            var follower = IndexFollower(store: store, issuer: id, path: index) {
                responseSigning(store, issuer: id, options)
            }
            await follower.run { event in Self.log(event, logger) }
        }
    }

    /// Logs what an ``IndexFollower`` applies, as JSON lines.
    static func log(_ event: IndexFollower.Event, _ logger: Logger) {
        FollowService.log(event, logger, what: "index") { set in
            for line in set.newlyBad {
                logger.warning(
                    "bad index line skipped",
                    metadata: ["line": "\(line.number)", "text": "\(line.text)", "error": "\(line.reason)"])
            }
            var metadata: Logger.Metadata = [
                "added": "\(set.added)", "changed": "\(set.changed)", "unchanged": "\(set.unchanged)",
                "bad": "\(set.bad.count)", "kept_revoked": "\(set.keptRevoked)",
                "lag_ms": "\(Int((set.lag * 1000).rounded()))",
            ]
            if let modified = set.modified { metadata["modified"] = "\(modified.timeIntervalSince1970)" }
            logger.info(set.wroteAnything ? "applied" : "unchanged", metadata: metadata)
        }
    }
}
