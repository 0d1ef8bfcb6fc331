import ArgumentParser
import CRLService
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import Responder
import RevocationStore

struct CRLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crl", abstract: "Generate CRLs (ocspd serves the latest at /crl/...).", subcommands: [Generate.self])

    struct Generate: StoreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate and sign an RFC 5280 v2 CRL (complete, delta or sharded) with the issuer's CA key.")

        @OptionGroup var options: StoreOptions

        @Option(help: "The CA certificate whose CRL to make.")
        var issuer: String

        @Option(help: "nextUpdate - thisUpdate, e.g. 12h, 7d.")
        var nextUpdate: String = "7d"

        @Option(help: "Keep revoked certificates on the CRL this long past their notAfter, e.g. 0, 30d.")
        var retention: String = "0"

        @Option(help: "Write the CRL here too (with --shards: a directory, one <n>.crl per shard).")
        var out: String?

        @Option(help: "der or pem (for --out).")
        var format: String = "der"

        @Flag(help: "A delta CRL against the latest complete CRL.")
        var delta = false

        @Option(help: "Split the complete CRL into this many shards, each with an Issuing Distribution Point.")
        var shards: Int = 1

        @Option(
            help: """
                The public base URL of the CRL endpoints (e.g. http://crl.example.com/): complete CRLs name their delta \
                under it (Freshest CRL), shards their scope (Issuing Distribution Point). Without it a CRL names no URL, \
                and --shards cannot be used.
                """)
        var baseURL: String?

        func validate() throws {
            guard durationSeconds(nextUpdate) != nil else {
                throw ValidationError("--next-update \(nextUpdate): expected a duration such as 12h or 7d")
            }
            guard retention == "0" || durationSeconds(retention) != nil else {
                throw ValidationError("--retention \(retention): expected 0 or a duration such as 30d")
            }
            guard ["der", "pem"].contains(format) else { throw ValidationError("--format must be der or pem") }
            guard (1...4096).contains(shards) else { throw ValidationError("--shards must be 1…4096") }
            guard !(delta && shards > 1) else { throw ValidationError("--delta works on the complete CRL only; drop --shards") }
            guard shards == 1 || baseURL != nil else {
                throw ValidationError("--shards needs --base-url: each shard names its scope by URL (Issuing Distribution Point)")
            }
            if let baseURL, !(baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://")) {
                throw ValidationError("--base-url \(baseURL): expected an http:// or https:// URL")
            }
        }

        func run() throws {
            // Everything that can fail for the operator's reasons is checked before a CRL number is taken.
            let store = try options.open()
            let record = try store.issuer(certificate: Certificate.load(path: issuer))
            let generator = CRLGenerator(store: store, keyFilePermissions: options.keyFilePermissions)
            _ = try generator.caKey(record)
            if let out { try checkWritable(out, directory: shards > 1) }
            if delta, try store.storedCRL(slug: record.id.slug, scope: .full) == nil {
                throw CLIError("no complete CRL to base a delta on; run ocspctl crl generate without --delta first")
            }
            var policy = CRLPolicy()
            policy.validity = durationSeconds(nextUpdate)!
            policy.retention = retention == "0" ? 0 : durationSeconds(retention)!
            policy.shards = shards
            policy.baseURL = baseURL

            let start = Date()
            let generated = delta ? [try generator.generateDelta(record, policy: policy)] : try generator.generateFull(record, policy: policy)
            let seconds = Date().timeIntervalSince(start)
            for item in generated {
                var line = "CRL #\(item.crl.number) (\(item.scope)) for \(try record.certificate().subject): \(item.entries) entries, "
                    + "next update \(ISO8601DateFormatter().string(from: item.crl.nextUpdate))"
                if let out {
                    let path = shards > 1 ? "\(out)/\(scopeIndex(item.scope)).crl" : out
                    try KeyFiles.write(format == "pem" ? CRLBuilder.pem(item.crl.der) : item.crl.der, to: path, mode: 0o644)
                    line += ", written to \(path)"
                }
                print(line + "; ocspd serves it at " + servedPath(item.scope, slug: record.id.slug))
            }
            if baseURL == nil && !delta {
                print("no --base-url: the CRL names no delta CRL (Freshest CRL); give --base-url to publish deltas to relying parties")
            }
            print("generated in " + String(format: "%.2f", seconds) + " s")
        }

        private func servedPath(_ scope: CRLScope, slug: String) -> String {
            switch scope {
            case .full: CRLPaths.path(slug: slug)
            case .delta: CRLPaths.deltaPath(slug: slug)
            case .shard(let index): CRLPaths.path(slug: slug, shard: index)
            }
        }

        private func scopeIndex(_ scope: CRLScope) -> Int {
            if case .shard(let index) = scope { return index }
            return 0
        }
    }
}

/// Refuses, in one line, an --out path that cannot be written (a directory when `directory`),
/// before anything is generated.
func checkWritable(_ path: String, directory: Bool) throws {
    var isDirectory: ObjCBool = false
    if directory {
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw CLIError("cannot create directory \(path) for --out")
            }
        }
        guard access(path, W_OK) == 0 else { throw CLIError("cannot write to directory \(path) (--out)") }
        return
    }
    let parent = (path as NSString).deletingLastPathComponent
    let folder = parent.isEmpty ? "." : parent
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw CLIError("cannot write \(path): directory \(folder) does not exist")
    }
    let target = FileManager.default.fileExists(atPath: path) ? path : folder
    guard access(target, W_OK) == 0 else { throw CLIError("cannot write \(path): permission denied") }
}
