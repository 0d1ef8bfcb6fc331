import ArgumentParser
import Foundation
import OCSPCore
import OCSPValues
import RevocationStore

struct HoldCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold", abstract: "Put a certificate on hold (revoked, reason certificateHold); undo with unhold.",
        discussion: "A revoked certificate is not put on hold, unless --force (recorded as forced).")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: CertificateSelection

    @Option(help: "Hold time, UTC (default now), e.g. 2026-01-02T03:04:05Z.")
    var time: String?

    @Flag(help: "Put a revoked certificate on hold (recorded as forced).")
    var force = false

    func run() throws {
        let time = try time.map { try parseTime($0, option: "--time") } ?? Date()
        let store = try options.open()
        let (issuer, serial, notAfter) = try selection.resolve(in: store)
        try store.setStatus(
            issuer: issuer.id, serial: serial, .revoked(time: time, reason: .certificateHold, invalidityDate: nil),
            notAfter: notAfter, sign: responseSigning(store, issuer: issuer.id, options), force: force)
        print("held \(serial.hex) (certificateHold)")
    }
}

struct UnholdCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "unhold", abstract: "Release a certificate from hold: it is good again.",
        discussion: "Only a hold is released: a revocation is permanent, unless --force (recorded as forced).")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: CertificateSelection

    @Flag(help: "Unrevoke a certificate revoked for a reason other than certificateHold (recorded as forced).")
    var force = false

    func run() throws {
        let store = try options.open()
        let (issuer, serial, _) = try selection.resolve(in: store)
        let previous = try store.setStatus(
            issuer: issuer.id, serial: serial, .good, sign: responseSigning(store, issuer: issuer.id, options), force: force)
        if previous?.isOnHold == true {
            print("released \(serial.hex) from hold (good)")
        } else {
            print("unrevoked \(serial.hex) (forced; good)")
        }
    }
}
