import ArgumentParser
import Foundation
import Logging
import OCSPCore
import OCSPStapling

@main
struct OCSPStaplerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocsp-stapler",
        abstract: "Fetch, verify and write a certificate's OCSP staple for a TLS server (nginx ssl_stapling_file, HAProxy .ocsp).",
        discussion: """
            A good answer is written atomically to --out; a revoked one too (it is the truth), \
            logged at error level. An unknown answer, an unreachable responder or an answer that \
            does not verify writes nothing: a staple already in --out stays while it is valid, and \
            one that is no longer valid is removed.

            Exit status (--once): 0 a good staple written; 1 nothing fetched (the responder was \
            unreachable or its answer did not verify; a still-valid staple was kept); 2 usage; \
            3 revoked (the staple written says so); 4 unknown (nothing written); 5 the certificate \
            is must-staple (TLS Feature status_request) and --out holds no valid staple: handshakes \
            with clients that enforce it fail.
            """)

    enum ExitStatus: Int32 {
        case good = 0, failed = 1, usage = 2, revoked = 3, unknown = 4, mustStapleWithoutStaple = 5
    }

    @Option(help: "The certificate (PEM); its issuer may follow it in the same file (a chain).")
    var cert: String

    @Option(help: "The issuing CA certificate (default: the second certificate in --cert).")
    var issuer: String?

    @Option(help: "Where the staple goes (DER: nginx ssl_stapling_file, HAProxy <cert>.ocsp).")
    var out: String

    @Option(help: "The OCSP responder URL (default: the certificate's AuthorityInformationAccess).")
    var url: String?

    @Option(help: "Seconds a fetch may take.")
    var timeout: Int = 5

    @Flag(help: "Fetch, verify and write once, then exit with a status that says what happened.")
    var once = false

    func validate() throws {
        guard once else {
            throw ValidationError("only --once is available so far: run it from a timer (systemd, cron) at half the response validity")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be at least 1 second") }
    }

    func run() async throws {
        var logger = Logger(label: "ocsp-stapler")
        logger.logLevel = .info
        let chain: [Certificate]
        let issuerCertificate: Certificate
        do {
            chain = try Certificate.loadChain(path: cert)
            if let issuer {
                issuerCertificate = try Certificate.load(path: issuer)
            } else {
                guard chain.count > 1 else {
                    throw ValidationError("\(cert) holds no issuer after the certificate; give --issuer CA.pem")
                }
                issuerCertificate = chain[1]
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
        let leaf = chain[0]
        guard leaf.isIssued(by: issuerCertificate) else {
            throw ValidationError("\(issuer ?? cert) did not issue \(leaf.subject); give its issuer with --issuer")
        }
        let stapler = Stapler(
            fetcher: StapleFetcher(options: StapleFetcher.Options(responderURL: url, timeout: .seconds(timeout))))
        let outcome = await stapler.refresh(leaf: leaf, issuer: issuerCertificate, file: StapleFile(path: out))
        var metadata: Logger.Metadata = [
            "certificate": "\(leaf.subject)", "serial": "\(leaf.serialNumber.hex)", "ocsp_status": "\(outcome.status.rawValue)",
            "out": "\(out)",
        ]
        if let nextUpdate = outcome.fileNextUpdate { metadata["next_update"] = "\(nextUpdate)" }
        if outcome.removedStale { metadata["removed_stale"] = "true" }
        var status: ExitStatus
        switch outcome.status {
        case .good:
            logger.info("staple written", metadata: metadata)
            status = .good
        case .revoked:
            logger.error("the certificate is REVOKED; the staple written says so", metadata: metadata)
            status = .revoked
        case .unknown:
            logger.warning("the responder does not know the certificate; nothing written", metadata: metadata)
            status = .unknown
        case .failed:
            metadata["error"] = "\(outcome.error.map { "\($0)" } ?? "unknown")"
            logger.error(
                outcome.fileIsValid ? "no new staple; the last valid one is kept" : "no new staple, and none valid in place",
                metadata: metadata)
            status = .failed
        }
        if leaf.isMustStaple, !outcome.fileIsValid {
            logger.critical("must-staple certificate without a valid staple: clients that enforce it will refuse it", metadata: metadata)
            status = .mustStapleWithoutStaple
        }
        if status != .good { throw ExitCode(status.rawValue) }
    }

    /// ArgumentParser's validation failures exit 2 here, as the documentation says.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "Error: failed"
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Foundation.exit(code == .validationFailure ? ExitStatus.usage.rawValue : ExitStatus.failed.rawValue)
        }
        Foundation.exit(0)
    }
}
