import ArgumentParser
import Foundation
import OCSPCore
import OCSPValues
import RevocationStore

struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold", abstract: "Put a certificate on hold (revoked, reason certificateHold); undo with unhold.")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: CertificateSelection

    @Option(help: "Hold time, UTC (default now), e.g. 2026-01-02T03:04:05Z.")
    var time: String?

    func run() throws {
        let time = try time.map { try parseTime($0, option: "--time") } ?? Date()
        let store = try options.open()
        let (issuer, serial, notAfter) = try selection.resolve(in: store)
        if let current = try store.certificate(issuer: issuer.id, serial: serial),
            case .revoked(_, let reason, _) = current.status, reason != .certificateHold
        {
            throw CLIError("\(serial.hex) is revoked (\(reason?.name ?? "no reason")); a revoked certificate cannot be put on hold")
        }
        try store.setStatus(
            issuer: issuer.id, serial: serial, .revoked(time: time, reason: .certificateHold, invalidityDate: nil),
            notAfter: notAfter, sign: responseSigning(store, issuer: issuer.id, options))
        print("held \(serial.hex) (certificateHold)")
    }
}

struct UnholdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unhold", abstract: "Release a certificate from hold: it is good again.")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: CertificateSelection

    func run() throws {
        let store = try options.open()
        let (issuer, serial, _) = try selection.resolve(in: store)
        guard let current = try store.certificate(issuer: issuer.id, serial: serial),
            case .revoked(_, .certificateHold, _) = current.status
        else {
            throw CLIError("\(serial.hex) is not on hold; only a certificateHold revocation can be released")
        }
        try store.setStatus(issuer: issuer.id, serial: serial, .good, sign: responseSigning(store, issuer: issuer.id, options))
        print("released \(serial.hex) from hold (good)")
    }
}
