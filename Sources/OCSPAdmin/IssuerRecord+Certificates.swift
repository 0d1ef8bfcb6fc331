package import Foundation
package import OCSPCore
internal import OCSPValues
package import RevocationStore

// The store keeps certificates as DER and knows nothing of OpenSSL; these are the certificate
// views of its issuer records that the operator's tools need.

extension IssuerRecord {
    /// The record of CA `certificate`: its id, subject and CertID hashes computed here.
    /// - Parameters:
    ///   - responderCertificate: the delegated responder, or nil when the CA signs its own responses.
    package init(
        certificate: Certificate, responderCertificate: Certificate?, caKeyPath: String?, responderKeyPath: String?,
        responseValidity: Double, addedAt: Date = Date(), omitsSignerCertificate: Bool = false
    ) throws {
        self.init(
            id: IssuerID(certificate: certificate), subject: certificate.subject, certificateDER: certificate.derEncoded,
            responderCertificateDER: responderCertificate?.derEncoded, caKeyPath: caKeyPath,
            responderKeyPath: responderKeyPath, responseValidity: responseValidity,
            certIDHashes: try HashAlgorithm.allCases.map { try certificate.issuerHashes($0) }, addedAt: addedAt,
            omitsSignerCertificate: omitsSignerCertificate)
    }

    /// The CA certificate.
    package func certificate() throws -> Certificate { try Certificate(derEncoded: certificateDER) }

    /// The delegated responder certificate, or nil when the CA signs its own responses.
    package func responderCertificate() throws -> Certificate? {
        try responderCertificateDER.map { try Certificate(derEncoded: $0) }
    }
}

extension RevocationStore {
    /// The issuer whose certificate this is.
    /// - Throws: ``StoreError/Code/unknownIssuer`` if it is not in the store, saying how to add it.
    package func issuer(certificate: Certificate) throws -> IssuerRecord {
        guard let record = try issuer(id: IssuerID(certificate: certificate)) else {
            throw StoreError(
                .unknownIssuer,
                "issuer \(certificate.subject) is not in the store; add it with: ocspctl issuer add --cert CA.pem --key CA.key")
        }
        return record
    }

    /// The issuer in the store that issued `certificate` (signature checked), or nil.
    package func findIssuer(of certificate: Certificate) throws -> (IssuerRecord, Certificate)? {
        for record in try allIssuers() {
            let issuerCertificate = try record.certificate()
            if certificate.isIssued(by: issuerCertificate) { return (record, issuerCertificate) }
        }
        return nil
    }
}
