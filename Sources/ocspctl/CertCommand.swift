import ArgumentParser
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore

struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: "Manage certificates.", subcommands: [Add.self])

    struct Add: StoreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add certificates as good: one (--cert, or --issuer/--serial), a directory of PEM files (--dir), or a list of serials (--issuer --serials).",
            discussion: "Idempotent: certificates already in the store are left as they are.")

        @OptionGroup var options: StoreOptions
        @OptionGroup var selection: CertificateSelection

        @Option(help: ArgumentHelp("Add every certificate (*.pem, *.crt, *.der) in DIR; each one's issuer is found in the store.", valueName: "dir"))
        var dir: String?

        @Option(help: ArgumentHelp("With --issuer: add every serial listed in FILE (hexadecimal, one per line; # comments).", valueName: "file"))
        var serials: String?

        static let batchSize = 1000

        func validate() throws {
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

        func run() throws {
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
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            } catch {
                throw CLIError("--dir \(path): cannot read the directory", .notFound)
            }
            let files = names.filter { [".pem", ".crt", ".der", ".cer"].contains(where: $0.hasSuffix) }
            guard !files.isEmpty else { throw CLIError("--dir \(path) holds no .pem, .crt or .der files", .notFound) }
            let issuers = try store.allIssuers().map { ($0, try $0.certificate()) }
            var byIssuer: [IssuerID: [(SerialNumber, Date?)]] = [:]
            for file in files {
                let certificate = try Certificate.load(path: path + "/" + file)
                guard let (record, _) = issuers.first(where: { certificate.isIssued(by: $0.1) }) else {
                    throw StoreError(
                        .unknownIssuer,
                        "\(path)/\(file): no issuer in the store issued it (issuer \(certificate.issuer)); add it first with: ocspctl issuer add")
                }
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
