import ArgumentParser
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore

extension IssuerCommand {
    struct Show: StoreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an issuer: certificate, signer, key files, validity, CertID hashes, certificate counts.",
            discussion: "--json prints one object; times are RFC 3339, UTC; hashes upper-case hex.")

        @OptionGroup var options: StoreOptions

        @Option(help: "The CA certificate (PEM or DER).")
        var issuer: String

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            let store = try options.open()
            let record = try store.issuer(certificate: Certificate.load(path: issuer))
            let certificate = try record.certificate()
            let signer = try IssuerSigner(record)
            let counts = try store.certificateCounts(issuer: record.id)
            if json {
                try printJSON(jsonObject(record, certificate: certificate, signer: signer, counts: counts))
                return
            }
            print("issuer \(record.subject)")
            print("  id                 \(record.id) (CRL slug \(record.id.slug))")
            print("  certificate        serial \(certificate.serialNumber.hex), valid \(validity(certificate))")
            if signer.delegated {
                print("  signer             delegated responder \(signer.certificate.subject)")
                let responder = signer.certificate
                print("  responder          serial \(responder.serialNumber.hex), valid \(validity(responder))")
            } else {
                print("  signer             CA-signed")
            }
            print("  CA key             \(record.caKeyPath ?? "-")")
            print("  responder key      \(record.responderKeyPath ?? "-")")
            print("  response validity  \(Self.duration(record.responseValidity))")
            print("  signer certificate \(record.omitsSignerCertificate ? "omitted from responses" : "in every response")")
            for hashes in record.certIDHashes {
                print(
                    "  CertID \(hashes.hashAlgorithm)".padding(toLength: 21, withPad: " ", startingAt: 0)
                        + "name \(hashes.nameHash.hexString) key \(hashes.keyHash.hexString)")
            }
            print("  added              \(rfc3339(record.addedAt))")
            print("  certificates       \(counts.total): " + describe(counts))
        }

        private func jsonObject(
            _ record: IssuerRecord, certificate: Certificate, signer: IssuerSigner,
            counts: RevocationStore.CertificateCounts
        ) -> [String: Any] {
            var hashes: [String: Any] = [:]
            for item in record.certIDHashes {
                hashes[Self.jsonName(item.hashAlgorithm)] = [
                    "nameHash": item.nameHash.hexString, "keyHash": item.keyHash.hexString,
                ]
            }
            var object: [String: Any] = [
                "subject": record.subject, "id": record.id.description, "slug": record.id.slug,
                "serial": certificate.serialNumber.hex, "signer": signer.jsonObject, "certIDHashes": hashes,
                "responseValidity": record.responseValidity, "addedAt": rfc3339(record.addedAt),
                "signerCertificateInResponses": !record.omitsSignerCertificate,
                "certificates": countsObject(counts),
            ]
            object["notBefore"] = certificate.notBefore.map(rfc3339)
            object["notAfter"] = certificate.notAfter.map(rfc3339)
            object["caKeyPath"] = record.caKeyPath
            object["responderKeyPath"] = record.responderKeyPath
            return object
        }

        /// `NOTBEFORE … NOTAFTER`.
        private func validity(_ certificate: Certificate) -> String {
            "\(certificate.notBefore.map(rfc3339) ?? "?") … \(certificate.notAfter.map(rfc3339) ?? "?")"
        }

        /// `sha1`, `sha256`, …: the algorithm's name as a JSON key.
        private static func jsonName(_ algorithm: HashAlgorithm) -> String {
            switch algorithm {
            case .sha1: "sha1"
            case .sha256: "sha256"
            case .sha384: "sha384"
            case .sha512: "sha512"
            }
        }

        /// `86400 s (1d)`, `5400 s (1h30m)`.
        private static func duration(_ seconds: Double) -> String {
            var rest = Int(seconds)
            var parts: [String] = []
            for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
                parts.append("\(rest / size)\(unit)")
                rest %= size
            }
            return "\(Int(seconds)) s" + (parts.isEmpty ? "" : " (" + parts.joined() + ")")
        }
    }
}
