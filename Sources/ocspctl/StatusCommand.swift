import ArgumentParser
import Foundation
import OCSPCore
import OCSPAdmin
import OCSPValues
import RevocationStore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a certificate's status.")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: CertificateSelection

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try options.open()
        let (issuer, serial, _) = try selection.resolve(in: store)
        let status = try store.certificate(issuer: issuer.id, serial: serial)?.certStatus ?? .unknown
        let subject = issuer.subject
        var fields: [String: String] = ["issuer": subject, "serial": serial.hex, "status": status.name]
        if case .revoked(let time, let reason) = status {
            fields["revocationTime"] = ISO8601DateFormatter().string(from: time)
            if let reason { fields["reason"] = reason.name }
        }
        if json {
            try printJSON(fields)
        } else {
            var line = "\(serial.hex)\t\(status.name)"
            if let time = fields["revocationTime"] { line += "\t\(time)" }
            if let reason = fields["reason"] { line += "\t\(reason)" }
            print(line + "\t(issuer \(subject))")
        }
    }
}
