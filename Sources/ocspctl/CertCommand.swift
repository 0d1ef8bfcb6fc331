import ArgumentParser
import OCSPCore
import OCSPValues
import RevocationStore

struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: "Manage certificates.", subcommands: [Add.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a certificate as good.")
        @OptionGroup var options: StoreOptions
        @OptionGroup var selection: CertificateSelection

        func run() throws {
            let store = try options.open()
            let (issuer, serial, notAfter) = try selection.resolve(in: store)
            let signing = responseSigning(store, issuer: issuer.id, options)
            if try store.addCertificate(issuer: issuer.id, serial: serial, notAfter: notAfter, sign: signing) {
                print("added \(serial.hex) (good\(signing == nil ? "" : ", response signed"))")
            } else {
                print("\(serial.hex) is already in the store; unchanged")
            }
        }
    }
}
