import ArgumentParser
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import Responder
import RevocationStore

struct IssuerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issuer", abstract: "Manage the CAs this responder answers for.",
        subcommands: [Add.self, List.self, Show.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a CA: it signs its own responses (--key), or a delegated responder does (--responder-cert/--responder-key).")

        @OptionGroup var options: StoreOptions

        @Option(help: "The CA certificate (PEM or DER).")
        var cert: String

        @Option(help: "The CA's private key (PEM). Signs responses unless a delegated responder is given; signs CRLs.")
        var key: String?

        @Option(help: "A delegated OCSP responder certificate issued by the CA (EKU OCSPSigning).")
        var responderCert: String?

        @Option(help: "The delegated responder's private key (PEM).")
        var responderKey: String?

        @Option(help: "Response validity (nextUpdate - thisUpdate), e.g. 3600, 12h, 1d.")
        var validity: String = "1d"

        @Flag(help: "Replace the issuer if it is already in the store.")
        var replace = false

        func validate() throws {
            guard Durations.parse(validity) != nil else {
                throw ValidationError("--validity \(validity): expected a duration such as 3600, 12h or 1d")
            }
            if (responderCert == nil) != (responderKey == nil) {
                throw ValidationError("--responder-cert and --responder-key go together")
            }
            if key == nil && responderCert == nil {
                throw ValidationError("give --key CA.key (the CA signs), or --responder-cert R.pem --responder-key R.key")
            }
        }

        func run() throws {
            let store = try options.open()
            let ca = try Certificate.load(path: cert)
            guard ca.isCA else { throw CLIError("\(cert) is not a CA certificate (no basicConstraints CA:TRUE)") }
            if let key {
                let caKey = try PrivateKey.load(path: key, permissions: options.keyFilePermissions)
                guard ca.matches(caKey) else { throw CLIError("\(key) is not the private key of \(cert)") }
            }
            var responder: Certificate? = nil
            if let responderCert, let responderKey {
                let certificate = try Certificate.load(path: responderCert)
                let privateKey = try PrivateKey.load(path: responderKey, permissions: options.keyFilePermissions)
                guard certificate.matches(privateKey) else {
                    throw CLIError("\(responderKey) is not the private key of \(responderCert)")
                }
                guard certificate.isIssued(by: ca) else {
                    throw CLIError("\(responderCert) was not issued by \(cert); a delegated responder must be")
                }
                guard certificate.hasOCSPSigningUsage else {
                    throw CLIError("\(responderCert) lacks extendedKeyUsage OCSPSigning; clients would reject its responses")
                }
                responder = certificate
            }
            // A signer that has expired, or soon will: ocspd refuses the first and cuts responses at the second's end.
            let signer = responder ?? ca
            if let notAfter = signer.notAfter, notAfter < Date().addingTimeInterval(30 * 86400) {
                warn(
                    notAfter < Date()
                        ? "\(signer.subject) expired at \(notAfter): ocspd will refuse to start until it is replaced"
                        : "\(signer.subject) expires at \(notAfter): responses will end then; replace it before")
            }
            for path in [key, responderKey].compactMap({ $0 }) where KeyFiles.isExposed(path) {
                warn("\(path) is readable by group or others; chmod 600 \(path)")
            }
            let record = try IssuerRecord(
                certificate: ca, responderCertificate: responder, caKeyPath: key.map(absolutePath),
                responderKeyPath: responderKey.map(absolutePath), responseValidity: Durations.parse(validity)!)
            try store.addIssuer(record, replace: replace)
            print("added issuer \(ca.subject) (\(responder == nil ? "CA-signed" : "delegated responder \(responder!.subject)"))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the issuers.")
        @OptionGroup var options: StoreOptions

        func run() throws {
            for record in try options.open().allIssuers() {
                let certificate = try record.certificate()
                let signer = try record.responderCertificate().map { "delegated: \($0.subject)" } ?? "CA-signed"
                print("\(certificate.subject)\t\(signer)\tvalidity \(Int(record.responseValidity))s\tid \(record.id)")
            }
        }
    }
}

func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
