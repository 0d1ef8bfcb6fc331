import ArgumentParser
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore

struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: "Manage certificates.", subcommands: [Add.self])

    struct Add: StoreCommand, AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add certificates as good: one (--cert, or --issuer/--serial), a directory of PEM files (--dir), or a list of serials (--issuer --serials).",
            discussion: """
                Idempotent: certificates already in the store are left as they are.

                With --dir DIR --follow, it keeps running and follows DIR as a CA (step-ca hooks, \
                cert-manager, a script) writes certificates into it (inotify on DIR, and DIR listed again \
                every second as the safety net): each new *.pem, *.crt or *.der file is added once, as good \
                under the issuer in the store that issued it, its response signed in the same transaction, \
                so an ocspd on the same store answers good at once. A file that does not parse yet (written \
                in several steps) is read again at its next change; one still bad a second later, or one no \
                issuer in the store issued, is logged once and skipped. Files already there are added at \
                start (none twice); files removed change nothing. It logs JSON lines to standard error (each \
                certificate added, with its file, issuer, serial and lag from the file's modification to the \
                commit; each file skipped, with the reason) and exits 0 on SIGTERM or SIGINT.
                """)

        @OptionGroup var options: StoreOptions
        @OptionGroup var selection: CertificateSelection

        @Option(help: ArgumentHelp("Add every certificate (*.pem, *.crt, *.der) in DIR; each one's issuer is found in the store.", valueName: "dir"))
        var dir: String?

        @Option(help: ArgumentHelp("With --issuer: add every serial listed in FILE (hexadecimal, one per line; # comments).", valueName: "file"))
        var serials: String?

        @Flag(
            help: ArgumentHelp(
                "With --dir: keep running, adding each certificate file written into DIR, until SIGTERM.",
                discussion: "Files that do not parse or whose issuer is not in the store are logged and skipped."))
        var follow = false

        static let batchSize = 1000

        func validate() throws {
            if follow && dir == nil { throw ValidationError("--follow follows a directory: give --dir DIR") }
            if follow && options.databaseURL != nil {
                throw ValidationError("--follow writes this store as DIR changes; it does not run with --database")
            }
            switch (dir, serials) {
            case (.some, .some): throw ValidationError("give --dir DIR or --serials FILE, not both")
            case (.some, nil):
                if selection.cert != nil || selection.issuer != nil || selection.serial != nil {
                    throw ValidationError("--dir DIR finds each certificate's issuer; give no --cert, --issuer or --serial")
                }
            case (nil, .some):
                if selection.issuer == nil || selection.cert != nil || selection.serial != nil {
                    throw ValidationError("--serials FILE needs --issuer CA.pem, and no --cert or --serial")
                }
            case (nil, nil):
                if selection.cert == nil && selection.serial == nil { throw ValidationError(CertificateSelection.usage) }
            }
        }

        func run() async throws {
            if let dir, follow { return try await runFollowing(dir) }
            let store = try options.open()
            if let dir { return try addDirectory(dir, store) }
            if let serials {
                let issuer = try store.issuer(certificate: Certificate.load(path: selection.issuer!))
                return try addBulk(
                    [issuer.id: try SerialList.read(path: serials, name: "--serials \(serials)").map { ($0, nil) }], store)
            }
            let (issuer, serial, notAfter) = try selection.resolve(in: store)
            let signing = responseSigning(store, issuer: issuer.id, options)
            if try store.addCertificate(issuer: issuer.id, serial: serial, notAfter: notAfter, sign: signing) {
                print("added \(serial.hex) (good\(signing == nil ? "" : ", response signed"))")
            } else {
                print("\(serial.hex) is already in the store; unchanged")
            }
        }

        /// Reads every certificate in `path` (checked before anything is written), groups them by
        /// issuer, and adds them.
        private func addDirectory(_ path: String, _ store: RevocationStore) throws {
            let files: [String]
            do {
                files = try CertificateDirectory.files(in: path)
            } catch {
                throw CLIError("--dir \(path): cannot read the directory", .notFound)
            }
            guard !files.isEmpty else { throw CLIError("--dir \(path) holds no .pem, .crt or .der files", .notFound) }
            let issuers = try CertificateDirectory(store: store)
            var byIssuer: [IssuerID: [(SerialNumber, Date?)]] = [:]
            for file in files {
                let certificate = try Certificate.load(path: path + "/" + file)
                let record = try issuers.issuer(of: certificate, file: path + "/" + file)
                byIssuer[record.id, default: []].append((certificate.serialNumber, certificate.notAfter))
            }
            try addBulk(byIssuer, store)
        }

        /// Adds in transactions of ``batchSize``, signing responses when the issuer's key loads here.
        private func addBulk(_ byIssuer: [IssuerID: [(SerialNumber, Date?)]], _ store: RevocationStore) throws {
            let total = byIssuer.values.reduce(0) { $0 + $1.count }
            var progress = Progress(total: total, "certificates")
            var added = 0
            var done = 0
            for (issuer, items) in byIssuer.sorted(by: { $0.key.description < $1.key.description }) {
                let sign = responseSigning(store, issuer: issuer, options)
                for start in stride(from: 0, to: items.count, by: Self.batchSize) {
                    let batch = Array(items[start..<min(items.count, start + Self.batchSize)])
                    added += try store.addCertificates(issuer: issuer, batch, sign: sign)
                    done += batch.count
                    progress.update(done)
                }
            }
            _ = progress.finish()
            print("added \(added) of \(total) certificates (\(total - added) already in the store) " + progress.summary(total))
        }
    }
}
