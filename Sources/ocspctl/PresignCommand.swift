import ArgumentParser
import Foundation
import OCSPCore
import OCSPAdmin
import OCSPValues
import Responder
import RevocationStore

struct PresignCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "presign", abstract: "(Re)sign the cached OCSP response of every certificate, on every core.")

    @OptionGroup var options: StoreOptions

    @Option(help: "Only this issuer's certificates.")
    var issuer: String?

    @Option(help: "Signing threads (default: one per core).")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard (1...1024).contains(workers) else { throw ValidationError("--workers must be 1…1024") }
    }

    func run() throws {
        let store = try options.open()
        let issuerID = try issuer.map { try store.issuer(certificate: Certificate.load(path: $0)).id }
        let responder = options.responder(store)
        for record in try store.allIssuers() where issuerID == nil || record.id == issuerID {
            if case (nil, let error?) = responder.signing(for: record.id) {
                throw CLIError("cannot sign for \(try record.certificate().subject): \(error)")
            }
        }
        let bar = ProgressBar(enabled: isatty(STDERR_FILENO) == 1)
        let start = Date()
        let count = try responder.presign(issuer: issuerID, workers: workers) { done, total in
            bar.update(done: done, total: total, elapsed: Date().timeIntervalSince(start))
        }
        bar.finish()
        let seconds = max(Date().timeIntervalSince(start), 0.001)
        print(String(format: "signed %d responses in %.2f s (%.0f responses/s, %d workers)", count, seconds, Double(count) / seconds, workers))
    }
}

/// A one-line progress bar on standard error, only on a terminal.
struct ProgressBar {
    let enabled: Bool

    func update(done: Int, total: Int, elapsed: TimeInterval) {
        guard enabled, total > 0 else { return }
        let width = 40
        let filled = min(width, done * width / total)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let line = "\r[\(bar)] \(done)/\(total)  " + String(format: "%.0f/s", rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
