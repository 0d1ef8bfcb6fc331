import ArgumentParser
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import Responder
import RevocationStore

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an OpenSSL CA database (index.txt) for one issuer: statuses, reasons, revocation times.")

    @OptionGroup var options: StoreOptions

    @Option(help: "The CA certificate the index belongs to.")
    var issuer: String

    @Option(help: "The OpenSSL index.txt.")
    var index: String

    @Flag(help: "Sign the imported certificates' responses afterwards (on every core).")
    var presign = false

    func run() throws {
        let store = try options.open()
        let record = try store.issuer(certificate: Certificate.load(path: issuer))
        guard let data = FileManager.default.contents(atPath: index) else {
            throw CLIError("cannot read \(index)")
        }
        // Parse everything first: a bad line stops the import before anything is written.
        let entries = try OpenSSLIndex.parse(contents: [UInt8](data)).map { ($0.serial, $0.record) }
        let start = Date()
        var written = 0
        var batch = entries[...]
        while !batch.isEmpty {
            written += try store.importRecords(issuer: record.id, Array(batch.prefix(50_000)))
            store.releaseMappedPages()
            batch = batch.dropFirst(50_000)
        }
        let revoked = entries.filter { if case .revoked = $0.1.status { true } else { false } }.count
        print("imported \(written) certificates (\(revoked) revoked) in " + String(format: "%.2f", Date().timeIntervalSince(start)) + " s")
        if presign {
            let signed = try options.responder(store).presign(issuer: record.id)
            print("signed \(signed) responses")
        }
    }
}
