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
        subcommands: [Add.self, List.self, Show.self, SetResponder.self, Remove.self])

    struct Add: StoreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a CA: it signs its own responses (--key), or a delegated responder does (--responder-cert/--responder-key).")

        @OptionGroup var options: StoreOptions

        @Option(help: "The CA certificate (PEM or DER).")
        var cert: String

        @Option(help: "The CA's private key: a PEM file, or a PKCS#11 URI (pkcs11:token=…;object=…). Signs responses unless a delegated responder is given; signs CRLs.")
        var key: String?

        @Option(help: "A delegated OCSP responder certificate issued by the CA (EKU OCSPSigning).")
        var responderCert: String?

        @Option(help: "The delegated responder's private key: a PEM file, or a PKCS#11 URI.")
        var responderKey: String?

        @Option(help: "Response validity (nextUpdate - thisUpdate), e.g. 3600, 12h, 1d.")
        var validity: String = "1d"

        @Flag(help: "Replace the issuer if it is already in the store.")
        var replace = false

        @Flag(
            help: """
                Leave the signer's certificate out of the responses (smaller). nginx (ssl_stapling_verify), curl, \
                ocsp-stapler and ocspctl check then reject them unless the signer is in the chain they are given: never \
                a delegated responder's, nor a root's that is not sent.
                """)
        var omitSignerCertificate = false

        func validate() throws {
            guard durationSeconds(validity) != nil else {
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
                let caKey = try PrivateKey.load(reference: key, permissions: options.keyFilePermissions)
                guard ca.matches(caKey) else { throw CLIError("\(key) is not the private key of \(cert)") }
            }
            var responder: Certificate? = nil
            if let responderCert, let responderKey {
                responder = try checkedResponder(
                    cert: responderCert, key: responderKey, issuedBy: ca, caPath: cert, options.keyFilePermissions)
            }
            warnIfExpiring(responder ?? ca)
            for path in [key, responderKey].compactMap({ $0 }) where KeyFiles.isExposed(path) {
                warn("\(path) is readable by group or others; chmod 600 \(path)")
            }
            let record = try IssuerRecord(
                certificate: ca, responderCertificate: responder, caKeyPath: key.map(keyReference),
                responderKeyPath: responderKey.map(keyReference), responseValidity: durationSeconds(validity)!,
                omitsSignerCertificate: omitSignerCertificate)
            try store.addIssuer(record, replace: replace)
            print("added issuer \(ca.subject) (\(responder == nil ? "CA-signed" : "delegated responder \(responder!.subject)"))")
        }
    }

    struct List: StoreCommand {
        static let configuration = CommandConfiguration(abstract: "List the issuers.")
        @OptionGroup var options: StoreOptions

        @Flag(help: "Print JSON Lines: one object per issuer.")
        var json = false

        func run() throws {
            for record in try options.open().allIssuers() {
                let certificate = try record.certificate()
                let responder = try record.responderCertificate()
                if json {
                    var fields: [String: Any] = [
                        "id": record.id.description, "subject": certificate.subject, "slug": record.id.slug,
                        "validitySeconds": Int(record.responseValidity), "signer": responder == nil ? "ca" : "delegated",
                    ]
                    if let responder { fields["responderSubject"] = responder.subject }
                    try printJSON(fields)
                } else {
                    let signer = responder.map { "delegated: \($0.subject)" } ?? "CA-signed"
                    print("\(certificate.subject)\t\(signer)\tvalidity \(Int(record.responseValidity))s\tid \(record.id)")
                }
            }
        }
    }
}

extension IssuerCommand {
    struct SetResponder: StoreCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-responder",
            abstract: "Rotate an issuer's delegated responder: new signatures use the new certificate and key.",
            discussion: """
                A running ocspd signs with the new responder within a second, without a restart. Responses                 already signed by the old one stay valid until their nextUpdate; `ocspctl presign --issuer CA.pem`                 re-signs them now. Recorded in the audit log (a key rotation).
                """)

        @OptionGroup var options: StoreOptions

        @Option(help: "The issuing CA certificate.")
        var issuer: String

        @Option(help: "The new delegated responder certificate, issued by the CA (EKU OCSPSigning).")
        var responderCert: String

        @Option(help: "The new responder's private key: a PEM file, or a PKCS#11 URI.")
        var responderKey: String

        func run() throws {
            let store = try options.open()
            let ca = try Certificate.load(path: issuer)
            let record = try store.issuer(certificate: ca)
            let responder = try checkedResponder(
                cert: responderCert, key: responderKey, issuedBy: ca, caPath: issuer, options.keyFilePermissions)
            warnIfExpiring(responder)
            if KeyFiles.isExposed(responderKey) { warn("\(responderKey) is readable by group or others; chmod 600 \(responderKey)") }
            let previous = try store.setResponder(
                issuer: record.id, certificateDER: responder.derEncoded, keyPath: keyReference(responderKey))
            let old = try previous.responderCertificate().map { "delegated responder \($0.subject) (serial \($0.serialNumber.hex))" } ?? "the CA itself"
            print(
                "\(record.subject) now signs with \(responder.subject) (serial \(responder.serialNumber.hex)), replacing \(old); "
                    + "re-sign the cached responses now with: ocspctl presign --store \(options.store) --issuer \(issuer)")
        }
    }

    struct Remove: StoreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove an issuer: refused while it has certificates, unless --force (which removes them too).")

        @OptionGroup var options: StoreOptions

        @Option(help: "The CA certificate.")
        var issuer: String

        @Flag(help: "Remove its certificates, cached responses and CRLs with it (recorded as forced).")
        var force = false

        func run() throws {
            let store = try options.open()
            let record = try store.issuer(certificate: Certificate.load(path: issuer))
            let removed = try store.removeIssuer(record.id, force: force)
            print("removed issuer \(record.subject)" + (removed > 0 ? " and its \(removed) certificates" : ""))
        }
    }
}

/// A delegated responder certificate and key, checked: they belong together, the CA issued the
/// certificate, and it carries extendedKeyUsage OCSPSigning.
func checkedResponder(
    cert: String, key: String, issuedBy ca: Certificate, caPath: String, _ permissions: PrivateKey.FilePermissions
) throws -> Certificate {
    let certificate = try Certificate.load(path: cert)
    let privateKey = try PrivateKey.load(reference: key, permissions: permissions)
    guard certificate.matches(privateKey) else { throw CLIError("\(key) is not the private key of \(cert)") }
    guard certificate.isIssued(by: ca) else {
        throw CLIError("\(cert) was not issued by \(caPath); a delegated responder must be")
    }
    guard certificate.hasOCSPSigningUsage else {
        throw CLIError("\(cert) lacks extendedKeyUsage OCSPSigning; clients would reject its responses")
    }
    return certificate
}

/// Warns of a signer that has expired, or soon will: ocspd refuses the first and cuts responses
/// at the second's end.
func warnIfExpiring(_ signer: Certificate) {
    if let notAfter = signer.notAfter, notAfter < Date().addingTimeInterval(30 * 86400) {
        warn(
            notAfter < Date()
                ? "\(signer.subject) expired at \(notAfter): ocspd will refuse to start until it is replaced"
                : "\(signer.subject) expires at \(notAfter): responses will end then; replace it before")
    }
}

func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

/// A key reference as the store keeps it: a PKCS#11 URI as given, a file path made absolute.
func keyReference(_ reference: String) -> String {
    PKCS11URI.isURI(reference) ? reference : absolutePath(reference)
}
