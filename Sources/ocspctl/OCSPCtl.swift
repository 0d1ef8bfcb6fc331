import ArgumentParser
import Foundation
import Logging
import Replication
import RevocationStore

@main
struct OCSPCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocspctl",
        abstract: "Administer an OCSP responder's revocation store.",
        discussion: """
            Exit status: 0 done; 1 refused or failed (the one-line error says what to do); 2 usage \
            (a bad or missing argument); 3 not found (no such store, issuer, certificate or record).
            ocspctl never prompts: what it would ask is a flag (--force).
            Audit records name the actor: --actor NAME, else OCSPCTL_ACTOR, else the OS user.
            """,
        subcommands: [
            InitCommand.self, IssuerCommand.self, CertCommand.self, RevokeCommand.self, HoldCommand.self,
            UnholdCommand.self, StatusCommand.self, ImportCommand.self, PresignCommand.self, CRLCommand.self,
            ListCommand.self, StatsCommand.self, AuditCommand.self, MigrateCommand.self, DemoCommand.self, CheckCommand.self,
            FilterCommand.self,
        ])

    /// Parses and runs the command, mapping every error onto the documented exit statuses.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if let options = (command as? any StoreCommand)?.options, let url = options.databaseURL {
                try await runWithDatabase(&command, options: options, url: url)
            } else if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)  // the command printed what it had to say
        } catch {
            let code = exitStatus(for: error)
            if code != 0 {
                FileHandle.standardError.write(Data((oneLine(fullMessage(for: error)) + "\n").utf8))
            } else {
                // --help, --version: what ArgumentParser prints on a clean exit.
                print(fullMessage(for: error))
            }
            Foundation.exit(code)
        }
        Foundation.exit(0)
    }

    /// Runs a command with a database as the system of record (``DatabaseWrites``): `init`
    /// creates the schema and the working copy; any other command runs against the working copy
    /// inside one database transaction that commits what it wrote.
    static func runWithDatabase(_ command: inout any ParsableCommand, options: StoreOptions, url: String) async throws {
        let location = try DatabaseLocation(url: url)
        var logger = Logger(label: "ocspctl.database")
        logger.logLevel = .critical
        if command is InitCommand {
            let outcome = try await DatabaseWrites.initialize(location, storePath: options.store, actor: options.auditActor, logger: logger)
            print("database \(location) ready (head \(outcome.head.sequence)); working copy \(options.store)")
            return
        }
        if let show = command as? AuditCommand.Show, show.follow {
            // It would hold the database's write lock for as long as it runs.
            throw CLIError("audit --follow does not run with --database: follow the database with ocspd --follow, or read it with psql", .usage)
        }
        var running = command
        let (outcome, failure) = try await DatabaseWrites.run(
            location, storePath: options.store, actor: options.auditActor, logger: logger
        ) {
            if var asyncCommand = running as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try running.run()
            }
        }
        if outcome.rebuilt { FileHandle.standardError.write(Data("ocspctl: the working copy \(options.store) was rebuilt from \(location)\n".utf8)) }
        if outcome.appended > 0 {
            FileHandle.standardError.write(
                Data("ocspctl: \(outcome.appended) change(s) committed to \(location) (head \(outcome.head.sequence))\n".utf8))
        }
        if let failure { throw failure }
    }

    /// ArgumentParser follows a usage error with the usage and a pointer to --help: one line
    /// here, the error and that pointer.
    static func oneLine(_ message: String) -> String {
        let lines = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = lines.first else { return "Error: failed" }
        guard let see = lines.last(where: { $0.hasPrefix("See '") }) else { return first }
        return first + " (" + see.prefix(1).lowercased() + see.dropFirst().trimmingCharacters(in: ["."]) + ")"
    }

    static func exitStatus(for error: any Error) -> Int32 {
        switch error {
        case let error as CLIError: return error.exitStatus.rawValue
        case let error as StoreError:
            switch error.code {
            case .noStore, .unknownIssuer, .notFound: return CLIError.ExitStatus.notFound.rawValue
            default: return CLIError.ExitStatus.failure.rawValue
            }
        default:
            let code = exitCode(for: error)
            if code == .success { return 0 }
            return code == .validationFailure ? CLIError.ExitStatus.usage.rawValue : CLIError.ExitStatus.failure.rawValue
        }
    }
}
