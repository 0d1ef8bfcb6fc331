import ArgumentParser
import Foundation
import OCSPCore
import OCSPValues
import RevocationStore

struct RevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a certificate. Durable when this returns; ocspd answers revoked from the next request.")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: CertificateSelection

    @Option(help: "RFC 5280 reason: \(RevocationReason.operatorNames.joined(separator: ", ")).")
    var reason: String?

    @Option(help: "Revocation time, UTC (default now), e.g. 2026-01-02T03:04:05Z.")
    var time: String?

    @Option(help: "Invalidity date: when the key is known or suspected to have been compromised.")
    var invalidityDate: String?

    func run() throws {
        let reason = try parseReason(reason)
        let time = try time.map { try parseTime($0, option: "--time") } ?? Date()
        let invalidity = try invalidityDate.map { try parseTime($0, option: "--invalidity-date") }
        let store = try options.open()
        let (issuer, serial, notAfter) = try selection.resolve(in: store)
        let previous = try store.setStatus(
            issuer: issuer.id, serial: serial, .revoked(time: time, reason: reason, invalidityDate: invalidity),
            notAfter: notAfter, sign: responseSigning(store, issuer: issuer.id))
        let note = previous == nil ? " (it was not in the store; added as revoked)" : ""
        print("revoked \(serial.hex)\(reason.map { " (\($0.name))" } ?? "")\(note)")
    }
}
