internal import Foundation
package import OCSPCore
internal import OCSPValues
internal import RevocationStore

/// A self-contained demo PKI and store, for trying the responder and for tests:
///
/// - `ec-root.pem` / `.key`: EC P-256 root CA; its responses are signed by
/// - `responder.pem` / `.key`: a delegated OCSP responder (EKU OCSPSigning, id-pkix-ocsp-nocheck);
/// - `rsa-ca.pem` / `.key`: a self-signed RSA-2048 CA that signs its own responses;
/// - `leaves/leaf-ec-01…08.pem` (EC root) and `leaves/leaf-rsa-01…04.pem` (RSA CA), with AIA
///   pointing at the responder URL; `leaf-ec-02` is revoked (keyCompromise);
/// - `store/`: the revocation store with all of the above.
package struct DemoPKI {
    package let directory: String
    package let responderURL: String

    package static let ecLeafCount = 8
    package static let rsaLeafCount = 4
    package static let revokedLeaf = "leaf-ec-02"

    package init(directory: String, responderURL: String) {
        self.directory = directory
        self.responderURL = responderURL
    }

    package var storePath: String { directory + "/store" }
    package func path(_ name: String) -> String { directory + "/" + name }

    /// Creates everything unless the store already exists. Returns whether it created anything.
    @discardableResult
    package func createIfAbsent() throws -> Bool {
        if FileManager.default.fileExists(atPath: storePath + "/data.mdb") { return false }
        try FileManager.default.createDirectory(atPath: path("leaves"), withIntermediateDirectories: true)

        let day: TimeInterval = 86400
        let rootKey = try PrivateKey.generateEC()
        let root = try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("O", "OCSP Responder Demo"), ("CN", "Demo EC Root CA")], validity: 3650 * day,
                extensions: [
                    ("basicConstraints", "critical,CA:TRUE"), ("keyUsage", "critical,keyCertSign,cRLSign"),
                    ("subjectKeyIdentifier", "hash"),
                ]),
            subjectKey: rootKey, issuer: nil, issuerKey: rootKey)

        let responderKey = try PrivateKey.generateEC()
        let responder = try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("O", "OCSP Responder Demo"), ("CN", "Demo OCSP Responder")], validity: 365 * day,
                extensions: [
                    ("basicConstraints", "critical,CA:FALSE"), ("keyUsage", "critical,digitalSignature"),
                    ("extendedKeyUsage", "OCSPSigning"), ("noCheck", "yes"),
                    ("subjectKeyIdentifier", "hash"), ("authorityKeyIdentifier", "keyid:always"),
                ]),
            subjectKey: responderKey, issuer: root, issuerKey: rootKey)

        let rsaKey = try PrivateKey.generateRSA(bits: 2048)
        let rsaCA = try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("O", "OCSP Responder Demo"), ("CN", "Demo RSA CA")], validity: 3650 * day,
                extensions: [
                    ("basicConstraints", "critical,CA:TRUE"), ("keyUsage", "critical,keyCertSign,cRLSign,digitalSignature"),
                    ("subjectKeyIdentifier", "hash"),
                ]),
            subjectKey: rsaKey, issuer: nil, issuerKey: rsaKey)

        try write(root, rootKey, as: "ec-root")
        try write(responder, responderKey, as: "responder")
        try write(rsaCA, rsaKey, as: "rsa-ca")

        let store = try RevocationStore.create(at: storePath)
        try store.addIssuer(
            try IssuerRecord(
                certificate: root, responderCertificate: responder, caKeyPath: absolute("ec-root.key"),
                responderKeyPath: absolute("responder.key"), responseValidity: day))
        try store.addIssuer(
            try IssuerRecord(
                certificate: rsaCA, responderCertificate: nil, caKeyPath: absolute("rsa-ca.key"),
                responderKeyPath: nil, responseValidity: day))

        let leaves = (1...Self.ecLeafCount).map { ("leaf-ec-" + twoDigits($0), root, rootKey) }
            + (1...Self.rsaLeafCount).map { ("leaf-rsa-" + twoDigits($0), rsaCA, rsaKey) }
        for (name, issuer, issuerKey) in leaves {
            let key = try PrivateKey.generateEC()
            let leaf = try CertificateBuilder.issue(
                CertificateTemplate(
                    subject: [("O", "OCSP Responder Demo"), ("CN", "\(name).demo.test")], validity: 365 * day,
                    extensions: [
                        ("basicConstraints", "critical,CA:FALSE"), ("keyUsage", "critical,digitalSignature"),
                        ("extendedKeyUsage", "serverAuth,clientAuth"),
                        ("subjectAltName", "DNS:\(name).demo.test,DNS:localhost,IP:127.0.0.1"),
                        ("authorityKeyIdentifier", "keyid:always"),
                        ("authorityInfoAccess", "OCSP;URI:\(responderURL)"),
                        ("crlDistributionPoints", "URI:\(crlURL(issuer))"),
                    ]),
                subjectKey: key, issuer: issuer, issuerKey: issuerKey)
            try write(leaf, key, as: "leaves/" + name)
            try store.addCertificate(issuer: IssuerID(certificate: issuer), serial: leaf.serialNumber, notAfter: leaf.notAfter)
            if name == Self.revokedLeaf {
                try store.setStatus(
                    issuer: IssuerID(certificate: issuer), serial: leaf.serialNumber,
                    .revoked(time: Date(), reason: .keyCompromise, invalidityDate: nil))
            }
        }
        return true
    }

    /// Where `ocspd` serves the complete CRL of `issuer` (see CRLService.CRLPaths).
    package func crlURL(_ issuer: Certificate) -> String {
        let base = responderURL.hasSuffix("/") ? responderURL : responderURL + "/"
        return base + "crl/\(IssuerID(certificate: issuer).slug).crl"
    }

    private func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    private func absolute(_ name: String) -> String {
        URL(fileURLWithPath: path(name)).standardizedFileURL.path
    }

    private func write(_ certificate: Certificate, _ key: PrivateKey, as name: String) throws {
        try KeyFiles.write(Array(certificate.pemEncoded.utf8), to: path(name + ".pem"), mode: 0o644)
        try KeyFiles.write(key.pemEncoded, to: path(name + ".key"), mode: 0o600)
    }
}

/// Writing files that may hold secrets.
package enum KeyFiles {
    /// Writes `bytes` to `path` atomically with permissions `mode`.
    package static func write(_ bytes: [UInt8], to path: String, mode: Int) throws {
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: mode])
        else { throw StoreError(.io, "cannot write \(path)") }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw StoreError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether a key file can be read by group or others (operators should `chmod 600` it).
    package static func isExposed(_ path: String) -> Bool {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = attributes[.posixPermissions] as? Int
        else { return false }
        return mode & 0o077 != 0
    }
}
