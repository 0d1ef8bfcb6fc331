import ArgumentParser
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import Responder
import RevocationStore

struct ImportCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an OpenSSL CA database (index.txt) for one issuer: statuses, reasons, revocation times.",
        discussion: """
            Idempotent: certificates the store already holds as the index says are left alone, so \
            importing the same index again writes nothing and adds no audit record. Each certificate \
            added or changed gets its own audit record.
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

    static let batchSize = 50_000

    func run() throws {
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
