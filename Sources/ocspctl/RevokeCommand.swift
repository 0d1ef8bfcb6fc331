import ArgumentParser
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore

struct RevokeCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a certificate. Durable when this returns; ocspd answers revoked from the next request.",
        discussion: """
            Revocation is permanent: revoking a revoked certificate again is refused, unless --force             (which changes its reason, time or invalidity date, and is recorded as forced). A             certificate on hold is revoked for good. With --serials, certificates already revoked             are skipped, so running the same list again changes nothing.
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: CertificateSelection

    @Option(help: "RFC 5280 reason: \(RevocationReason.operatorNames.joined(separator: ", ")).")
    var reason: String?

    @Option(help: "Revocation time, UTC (default now), e.g. 2026-01-02T03:04:05Z.")
    var time: String?

    @Option(help: "Invalidity date: when the key is known or suspected to have been compromised.")
    var invalidityDate: String?

    @Option(
        help: ArgumentHelp(
            "With --issuer: revoke every serial listed in FILE (hexadecimal, one per line; # comments).",
            discussion: "Written in transactions of \(BulkRevocation.defaultBatchSize); serials already revoked are skipped, so a second run changes nothing.",
            valueName: "file"))
    var serials: String?

    @Option(
        help: ArgumentHelp(
            "With --serials: revoke one certificate at a time, at most N a second, each durable on its own.",
            valueName: "N"))
    var rate: Double?

    @Flag(help: "Change the reason, time or invalidity date of a certificate already revoked (recorded as forced).")
    var force = false

    func validate() throws {
        if serials != nil {
            guard selection.issuer != nil, selection.cert == nil, selection.serial == nil else {
                throw ValidationError("--serials FILE needs --issuer CA.pem, and no --cert or --serial")
            }
            if force { throw ValidationError("--force changes one revocation; name it with --cert or --issuer/--serial, not --serials") }
        } else if rate != nil {
            throw ValidationError("--rate paces --serials FILE; add --serials")
        } else if selection.cert == nil && selection.serial == nil {
            throw ValidationError(CertificateSelection.usage)
        }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number") }
    }

    func run() throws {
        let reason = try parseReason(reason)
        let time = try time.map { try parseTime($0, option: "--time") } ?? Date()
        let invalidity = try invalidityDate.map { try parseTime($0, option: "--invalidity-date") }
        let store = try options.open()
        if let serials {
            return try revokeList(serials, store: store, time: time, reason: reason, invalidity: invalidity)
        }
        let (issuer, serial, notAfter) = try selection.resolve(in: store)
        let previous = try store.setStatus(
            issuer: issuer.id, serial: serial, .revoked(time: time, reason: reason, invalidityDate: invalidity),
            notAfter: notAfter, sign: responseSigning(store, issuer: issuer.id, options), force: force)
        var note = ""
        if previous == nil {
            note = " (it was not in the store; added as revoked)"
        } else if let previous, previous.status != .good, !previous.isOnHold {
            note = " (forced: its revocation was changed)"
        }
        print("revoked \(serial.hex)\(reason.map { " (\($0.name))" } ?? "")\(note)")
    }

    private func revokeList(
        _ path: String, store: RevocationStore, time: Date, reason: RevocationReason?, invalidity: Date?
    ) throws {
        let list = try SerialList.read(path: path, name: "--serials \(path)")
        let issuer = try store.issuer(certificate: Certificate.load(path: selection.issuer!))
        let revocation = BulkRevocation(
            store: store, issuer: issuer.id, time: time, reason: reason, invalidityDate: invalidity,
            sign: responseSigning(store, issuer: issuer.id, options), rate: rate)
        var progress = Progress(total: list.count, "certificates")
        let outcome = try revocation.run(list) { progress.update($0) }
        _ = progress.finish()
        print(
            "revoked \(outcome.revoked) of \(outcome.listed) listed certificates (\(outcome.alreadyRevoked) already revoked) "
                + progress.summary(outcome.listed))
    }
}
