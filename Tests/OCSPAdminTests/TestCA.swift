import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore

/// A self-signed EC CA for the tests, and a store that holds it as its issuer.
enum TestCA {
    /// A CA certificate named `name` and its key.
    static func make(_ name: String) throws -> (certificate: Certificate, key: PrivateKey) {
        let key = try PrivateKey.generateEC()
        let ca = try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("CN", name)], validity: 86400,
                extensions: [("basicConstraints", "critical,CA:TRUE"), ("keyUsage", "critical,keyCertSign,cRLSign")]),
            subjectKey: key, issuer: nil, issuerKey: key)
        return (ca, key)
    }

    /// A new store at `path` holding `ca` as its one issuer (no responder, no keys in the store).
    static func store(at path: String, issuer ca: Certificate) throws -> (RevocationStore, IssuerID) {
        let store = try RevocationStore.create(at: path)
        let record = try IssuerRecord(
            certificate: ca, responderCertificate: nil, caKeyPath: nil, responderKeyPath: nil, responseValidity: 3600)
        try store.addIssuer(record)
        return (store, record.id)
    }
}
