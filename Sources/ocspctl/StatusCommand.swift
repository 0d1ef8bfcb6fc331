import ArgumentParser
import Foundation
import OCSPCore
import OCSPAdmin
import OCSPValues
import RevocationStore

struct StatusCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a certificate's status.",
        discussion: """
            Prints good, revoked (with time and reason) or unknown. Exits 0 for a certificate the store knows, 3 (not found) \
            for one it does not, after printing `unknown`: what ocspd answers for it.
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: CertificateSelection

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try options.open()
        let (issuer, serial, _) = try selection.resolve(in: store)
        let record = try store.certificate(issuer: issuer.id, serial: serial)
        let status = record?.certStatus ?? .unknown
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
        if record == nil { throw ExitCode(CLIError.ExitStatus.notFound.rawValue) }
    }
}
