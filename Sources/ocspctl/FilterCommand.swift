import ArgumentParser
import CRLService
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import Responder
import RevocationStore

struct FilterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Revocation filters (CRLite filter cascades): export, verify, check.",
        discussion: """
            A filter answers, offline and exactly, for every certificate of an issuer the store \
            holds: revoked (or on hold) or good. Two files go together: NAME.mlbf (the cascade, in \
            the MLBF format of Mozilla's filtercascade) and NAME.mlbf.meta (its metadata, signed by \
            the issuer: CMS, DER). ocspd --filters serves the latest at /filter/<issuer>.mlbf.
            """,
        subcommands: [Export.self, Verify.self, Check.self])

    struct Export: StoreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build, sign and store an issuer's revocation filter, and write it to --out and --out.meta.")

        @OptionGroup var options: StoreOptions

        @Option(help: "The CA certificate whose filter to make.")
        var issuer: String

        @Option(help: "Write the filter here (and its signed metadata to this path plus .meta).")
        var out: String

        @Option(help: "nextUpdate - thisUpdate, e.g. 12h, 7d.")
        var nextUpdate: String = "7d"

        @Option(help: "Cover certificates whose notBefore is at least this long before now: the CA's backdating, e.g. 0, 1h.")
        var coverageMargin: String = "1h"

        func validate() throws {
            guard durationSeconds(nextUpdate) != nil else {
                throw ValidationError("--next-update \(nextUpdate): expected a duration such as 12h or 7d")
            }
            guard durationSeconds(coverageMargin, allowingZero: true) != nil else {
                throw ValidationError("--coverage-margin \(coverageMargin): expected 0 or a duration such as 1h")
            }
        }

        func run() throws {
            // Everything that can fail for the operator's reasons is checked before a sequence number is taken.
            let store = try options.open()
            let record = try store.issuer(certificate: Certificate.load(path: issuer))
            let generator = FilterGenerator(store: store, keyFilePermissions: options.keyFilePermissions)
            _ = try generator.caKey(record)
            try checkWritable(out, directory: false)
            try checkWritable(out + ".meta", directory: false)
            var policy = FilterPolicy()
            policy.validity = durationSeconds(nextUpdate)!
            policy.coverageMargin = durationSeconds(coverageMargin, allowingZero: true)!

            let made = try generator.generate(record, policy: policy)
            try KeyFiles.write(made.filter.mlbf, to: out, mode: 0o644)
            try KeyFiles.write(made.filter.signedMetadata, to: out + ".meta", mode: 0o644)
            let metadata = made.metadata
            let bitsPerRevoked = metadata.revoked == 0 ? "-" : String(format: "%.2f", Double(made.filter.mlbf.count * 8) / Double(metadata.revoked))
            print(
                "filter #\(metadata.sequence) for \(metadata.issuer): \(metadata.revoked) revoked, \(metadata.good) good, "
                    + "\(made.filter.mlbf.count) bytes (\(bitsPerRevoked) bits per revoked), \(made.layers) layers, "
                    + "next update \(ISO8601DateFormatter().string(from: metadata.nextUpdate)); "
                    + "written to \(out) and \(out).meta; ocspd serves it at \(FilterPaths.path(slug: record.id.slug))")
            print("generated in " + String(format: "%.2f", made.duration / .seconds(1)) + " s")
        }
    }

    /// The filter and metadata files named by --filter and --meta, and the issuer to verify with.
    struct FilterFiles: ParsableArguments {
        @Option(help: "The filter (.mlbf).")
        var filter: String

        @Option(help: "Its signed metadata (default: the filter's path plus .meta).")
        var meta: String?

        @Option(help: "The issuer (CA certificate) the filter must be signed by (default: the certificate its signature carries, trusted as is).")
        var issuer: String?

        func load() throws -> RevocationFilter {
            let mlbf = try read(filter, "filter")
            let signed = try read(meta ?? filter + ".meta", "filter metadata")
            let issuerCertificate = try issuer.map { try Certificate.load(path: $0) }
            do {
                return try RevocationFilter(mlbf: mlbf, signedMetadata: signed, issuer: issuerCertificate)
            } catch let error as OCSPError {
                throw CLIError("\(filter): \(error.message)")
            }
        }

        private func read(_ path: String, _ what: String) throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIError(
                    FileManager.default.fileExists(atPath: path) ? "cannot read the \(what) \(path)" : "no \(what) at \(path)",
                    .notFound)
            }
            return [UInt8](data)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a filter's signature and that its bytes are the ones its metadata describes; print the metadata.",
            discussion: "Exit status: 0 verified; 1 it does not verify (altered, or signed by another key); 3 a file is missing.")

        @OptionGroup var files: FilterFiles

        @Flag(help: "Print the metadata as JSON.")
        var json = false

        func run() throws {
            let filter = try files.load()
            let metadata = filter.metadata
            if json {
                try printJSON(Self.fields(metadata, layers: filter.cascade.layers.count))
                return
            }
            let date = ISO8601DateFormatter()
            print("verified: filter #\(metadata.sequence) of \(metadata.issuer), signed by \(filter.issuer.subject)"
                + (files.issuer == nil ? " (the certificate it carries; give --issuer to pin the issuer)" : ""))
            print("  thisUpdate \(date.string(from: metadata.thisUpdate)), nextUpdate \(date.string(from: metadata.nextUpdate))")
            print("  covers certificates with notBefore up to \(date.string(from: metadata.coversNotBefore)) unexpired at thisUpdate")
            print("  \(metadata.revoked) revoked, \(metadata.good) good; \(metadata.filterBytes) bytes, \(filter.cascade.layers.count) layers")
        }

        static func fields(_ metadata: RevocationFilter.Metadata, layers: Int) -> [String: Any] {
            let date = ISO8601DateFormatter()
            return [
                "issuer": metadata.issuer, "issuerSPKISHA256": metadata.issuerSPKISHA256, "sequence": metadata.sequence,
                "thisUpdate": date.string(from: metadata.thisUpdate), "nextUpdate": date.string(from: metadata.nextUpdate),
                "coversNotBefore": date.string(from: metadata.coversNotBefore), "revoked": metadata.revoked,
                "good": metadata.good, "population": metadata.population, "filterSHA256": metadata.filterSHA256,
                "filterBytes": metadata.filterBytes, "layers": layers,
            ]
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What a filter says about a certificate: revoked, good, or not covered.",
            discussion: """
                The filter is verified first (as filter verify does). Exit status: 0 good; 1 revoked \
                (or the filter does not verify); 3 not covered (issued after the filter, by another \
                issuer, expired before it, or the filter is stale): ask OCSP or the CRL.
                """)

        @OptionGroup var files: FilterFiles

        @Option(help: "The certificate (PEM or DER).")
        var cert: String

        @Flag(help: "Print JSON: answer, reason, sequence.")
        var json = false

        func run() throws {
            let filter = try files.load()
            let certificate: Certificate
            do {
                certificate = try Certificate.load(path: cert)
            } catch let error as OCSPError {
                throw CLIError(error.message, error.code == .io ? .notFound : .failure)
            }
            let answer = filter.answer(for: certificate)
            if json {
                var fields: [String: Any] = ["serial": certificate.serialNumber.hex, "sequence": filter.metadata.sequence]
                switch answer {
                case .revoked: fields["answer"] = "revoked"
                case .good: fields["answer"] = "good"
                case .notCovered(let why): fields["answer"] = "not covered"; fields["reason"] = why
                }
                try printJSON(fields)
            } else {
                print("\(certificate.serialNumber.hex): \(answer) (filter #\(filter.metadata.sequence))")
            }
            switch answer {
            case .good: return
            case .revoked: throw ExitCode(1)
            case .notCovered: throw ExitCode(3)
            }
        }
    }
}
