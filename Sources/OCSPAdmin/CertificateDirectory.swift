internal import Foundation
package import OCSPCore
internal import OCSPValues
package import RevocationStore

/// A directory of issued certificates (what step-ca hooks, cert-manager or a CA script write), and
/// the store's issuers to file them under: shared by `ocspctl cert add --dir` and
/// ``DirectoryFollower``.
package struct CertificateDirectory {
    /// The names a certificate file ends with.
    package static let suffixes = [".pem", ".crt", ".der", ".cer"]

    /// Whether `name` is a certificate file's name.
    package static func isCertificateFile(_ name: String) -> Bool { suffixes.contains(where: name.hasSuffix) }

    /// The certificate files in `directory`, sorted by name.
    /// - Throws: when the directory cannot be read.
    package static func files(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter(isCertificateFile).sorted()
    }

    /// The store's issuers with their certificates.
    package let issuers: [(record: IssuerRecord, certificate: Certificate)]

    /// Reads the store's issuers.
    /// - Throws: when the store or an issuer's certificate cannot be read.
    package init(store: RevocationStore) throws {
        issuers = try store.allIssuers().map { ($0, try $0.certificate()) }
    }

    /// The issuer in the store that issued `certificate`.
    /// - Throws: ``StoreError/Code/unknownIssuer`` naming `file` when none did.
    package func issuer(of certificate: Certificate, file: String) throws -> IssuerRecord {
        guard let (record, _) = issuers.first(where: { certificate.isIssued(by: $0.certificate) }) else {
            throw StoreError(
                .unknownIssuer,
                "\(file): no issuer in the store issued it (issuer \(certificate.issuer)); "
                    + "add it first with: ocspctl issuer add")
        }
        return record
    }
}
