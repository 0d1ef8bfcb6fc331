import ArgumentParser
import Foundation
import OCSPCore
import OCSPAdmin
import OCSPValues
import Responder
import RevocationStore
import Settings

struct StoreOptions: ParsableArguments {
    @Option(help: "The store directory.")
    var store: String

    @Flag(help: "Accept private-key files that others than their owner may read (refused otherwise).")
    var allowInsecureKeyPermissions = false

    @Option(help: "Who the audit log names for these changes (default: $OCSPCTL_ACTOR, else the OS user).")
    var actor: String?

    @Option(
        help: ArgumentHelp(
            "The PKCS#11 module for key URIs that name none (module-path=); default: $OCSP_PKCS11_MODULE.",
            valueName: "path"))
    var pkcs11Module: String?

    @Option(
        help: ArgumentHelp(
            "The system of record, a libpq connection string (postgres://USER@HOST:PORT/DATABASE, several hosts with ?target_session_attrs=read-write, or key=value; default: $OCSP_DATABASE_URL): every write is committed there, and --store is this host's working copy of it.",
            valueName: "url"))
    var database: String?

    /// The database URL from --database or the environment, or nil: the store is the record.
    var databaseURL: String? {
        if let database, !database.isEmpty { return database }
        if let url = ProcessInfo.processInfo.environment["OCSP_DATABASE_URL"], !url.isEmpty { return url }
        return nil
    }

    func open(olderSchema: Bool = false) throws -> RevocationStore {
        if let pkcs11Module { PKCS11Token.defaultModulePath = pkcs11Module }
        return try RevocationStore.open(at: store, actor: auditActor, olderSchema: olderSchema)
    }

    var auditActor: AuditActor {
        if let actor, !actor.isEmpty { return AuditActor(name: actor) }
        if let name = ProcessInfo.processInfo.environment["OCSPCTL_ACTOR"], !name.isEmpty { return AuditActor(name: name) }
        return .currentUser
    }

    var keyFilePermissions: PrivateKey.FilePermissions { allowInsecureKeyPermissions ? .any : .ownerOnly }

    /// A responder over `store` that signs with this command's key-file policy.
    func responder(_ store: RevocationStore) -> OCSPResponder {
        var configuration = OCSPResponder.Configuration()
        configuration.keyFilePermissions = keyFilePermissions
        return OCSPResponder(store: store, configuration: configuration)
    }
}

/// Names one certificate: `--cert LEAF.pem`, or `--issuer CA.pem --serial HEX`.
struct CertificateSelection: ParsableArguments {
    @Option(help: "The certificate (PEM or DER); its issuer is found in the store.")
    var cert: String?

    @Option(help: "The issuing CA certificate (with --serial).")
    var issuer: String?

    @Option(help: "The serial number in hexadecimal (with --issuer).")
    var serial: String?

    static let usage = "name the certificate with --cert LEAF.pem, or with --issuer CA.pem --serial HEX"

    func validate() throws {
        if let serial {
            do { _ = try SerialNumber(hex: serial) } catch { throw ValidationError("--serial: \(error)") }
        }
        switch (cert, issuer, serial) {
        // Neither, or --issuer alone: for commands that also take a list of serials (revoke
        // --serials); the others say what is missing when they resolve the selection.
        case (.some, nil, nil), (nil, _, nil), (nil, .some, .some): return
        default: throw ValidationError(Self.usage)
        }
    }

    /// The issuer and serial this selection names, and the certificate's notAfter when known.
    func resolve(in store: RevocationStore) throws -> (issuer: IssuerRecord, serial: SerialNumber, notAfter: Date?) {
        guard cert != nil || (issuer != nil && serial != nil) else { throw CLIError(Self.usage) }
        if let cert {
            let certificate = try Certificate.load(path: cert)
            guard let (record, _) = try store.findIssuer(of: certificate) else {
                throw StoreError(
                    .unknownIssuer,
                    "no issuer in the store issued \(cert) (issuer \(certificate.issuer)); add it first with: ocspctl issuer add")
            }
            return (record, certificate.serialNumber, certificate.notAfter)
        }
        let record = try store.issuer(certificate: Certificate.load(path: issuer!))
        return (record, try SerialNumber(hex: serial!), nil)
    }
}

/// Parses `--time` (RFC 3339 / ISO 8601, e.g. 2026-01-02T03:04:05Z).
func parseTime(_ text: String, option: String) throws -> Date {
    if let date = AuditTime.parse(text) { return date }
    throw CLIError("\(option) \(text): expected a UTC time such as 2026-01-02T03:04:05Z", .usage)
}

func parseReason(_ name: String?) throws -> RevocationReason? {
    guard let name else { return nil }
    guard let reason = RevocationReason(name: name), reason != .removeFromCRL else {
        throw CLIError(
            "--reason \(name) is not an RFC 5280 reason; use one of: \(RevocationReason.operatorNames.joined(separator: ", "))",
            .usage)
    }
    return reason
}

/// How a write re-signs the cached responses of `issuer`: with its key if ocspctl can load it;
/// otherwise it drops them (with a warning), and ocspd signs on the next request.
func responseSigning(_ store: RevocationStore, issuer: IssuerID, _ options: StoreOptions) -> ResponseSigning? {
    // With a database, the followers sign with their own keys: the working copy keeps no responses.
    if options.databaseURL != nil { return nil }
    let (signing, error) = options.responder(store).signing(for: issuer)
    if let error {
        warn("cannot sign responses here (\(error)); cached responses are dropped and ocspd signs on the next request")
    }
    guard let signing else { return nil }
    // The store signs before its write and leaves out what fails (a token lost meanwhile): say so once.
    var warned = false
    return { key, record in
        do {
            return try signing(key, record)
        } catch {
            if !warned {
                warned = true
                warn("could not sign a new response (\(error)); it is dropped and ocspd signs it on the next request")
            }
            throw error
        }
    }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// A failure that is the operator's to fix: printed as one `Error: …` line, no usage text, with
/// the exit status ``OCSPCtl`` documents.
struct CLIError: Error, CustomStringConvertible {
    enum ExitStatus: Int32 {
        /// Refused or failed: the message says what to do.
        case failure = 1
        /// A bad or missing argument.
        case usage = 2
        /// The store, issuer, certificate or record named does not exist.
        case notFound = 3
    }

    let description: String
    let exitStatus: ExitStatus

    init(_ description: String, _ exitStatus: ExitStatus = .failure) {
        self.description = description
        self.exitStatus = exitStatus
    }
}

/// Progress of a bulk job: a bar on standard error when it is a terminal (nothing otherwise:
/// scripts and logs get only the final line), redrawn at most ten times a second.
struct Progress {
    private let total: Int
    private let what: String
    private let started = Date()
    private var lastDrawn = Date.distantPast
    private let enabled = isatty(STDERR_FILENO) == 1

    init(total: Int, _ what: String) {
        self.total = total
        self.what = what
    }

    mutating func update(_ done: Int) {
        guard enabled, Date().timeIntervalSince(lastDrawn) >= 0.1 || done == total else { return }
        lastDrawn = Date()
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let line = "\r[\(bar)] " + String(format: "%3.0f%% %d/%d ", fraction * 100, done, total) + what
            + String(format: " %.0f/s", rate(done))
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Clears the bar; returns the elapsed seconds.
    func finish() -> TimeInterval {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        return Date().timeIntervalSince(started)
    }

    func rate(_ done: Int) -> Double { Double(done) / max(Date().timeIntervalSince(started), 0.001) }

    /// `in 1.23 s (4567/s)`.
    func summary(_ done: Int) -> String {
        let seconds = Date().timeIntervalSince(started)
        return String(format: "in %.2f s (%.0f/s)", seconds, Double(done) / max(seconds, 0.001))
    }
}

/// Seconds in a duration argument, in the one grammar of every configuration
/// (``Settings/DurationText``: `90s`, `12h`, `7d`, `500ms`); nil unless positive (or zero, when
/// `allowingZero`).
func durationSeconds(_ text: String, allowingZero: Bool = false) -> Double? {
    DurationText.seconds(text).flatMap { $0 > 0 || (allowingZero && $0 == 0) ? $0 : nil }
}
