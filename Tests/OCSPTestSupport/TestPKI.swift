internal import Foundation
internal import OCSPAdmin
public import OCSPCore
public import OCSPValues
public import RevocationStore

/// A throwaway PKI in a temporary directory: an EC root whose responses a delegated responder
/// signs, and an RSA CA that signs its own; plus a store holding both issuers.
public final class TestPKI: @unchecked Sendable {
    // @unchecked: every property is immutable after init.
    public let directory: String
    public let root: Certificate
    public let rootKey: PrivateKey
    public let responder: Certificate
    public let responderKey: PrivateKey
    public let rsaCA: Certificate
    public let rsaKey: PrivateKey
    public let store: RevocationStore

    public init() throws {
        directory = NSTemporaryDirectory() + "ocsp-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        rootKey = try PrivateKey.generateEC()
        root = try Self.ca("Test EC Root", key: rootKey)
        responderKey = try PrivateKey.generateEC()
        responder = try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("CN", "Test Responder")], validity: 86400,
                extensions: [("extendedKeyUsage", "OCSPSigning"), ("noCheck", "yes")]),
            subjectKey: responderKey, issuer: root, issuerKey: rootKey)
        rsaKey = try Self.sharedRSAKey.get()
        rsaCA = try Self.ca("Test RSA CA", key: rsaKey)
        for (name, key) in [("root", rootKey), ("responder", responderKey), ("rsa", rsaKey)] {
            guard FileManager.default.createFile(
                atPath: directory + "/\(name).key", contents: Data(key.pemEncoded), attributes: [.posixPermissions: 0o600])
            else { throw CocoaError(.fileWriteUnknown) }
        }
        store = try RevocationStore.create(at: directory + "/store")
        try store.addIssuer(
            try IssuerRecord(
                certificate: root, responderCertificate: responder, caKeyPath: directory + "/root.key",
                responderKeyPath: directory + "/responder.key", responseValidity: 3600))
        try store.addIssuer(
            try IssuerRecord(
                certificate: rsaCA, responderCertificate: nil, caKeyPath: directory + "/rsa.key", responderKeyPath: nil,
                responseValidity: 7200))
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// One RSA-2048 key for every PKI of the process: swift-testing makes a suite instance per
    /// test, and a key generated for each (a quarter second and more of CPU) held both cores of
    /// the cooperative pool for half a minute, long enough to turn the tests that wait on the
    /// network into timeouts. The EC keys, cheap, stay each PKI's own.
    private static let sharedRSAKey = Result { try PrivateKey.generateRSA(bits: 2048) }

    /// Issues a leaf under `issuer` (root or rsaCA), with `extensions` (OpenSSL's config syntax)
    /// after basicConstraints and authorityKeyIdentifier.
    public func leaf(
        _ name: String, issuer: Certificate, key: PrivateKey, extensions: [(String, String)] = []
    ) throws -> Certificate {
        try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("CN", name)], validity: 86400,
                extensions: [("basicConstraints", "critical,CA:FALSE"), ("authorityKeyIdentifier", "keyid:always")]
                    + extensions),
            subjectKey: try PrivateKey.generateEC(), issuer: issuer, issuerKey: key)
    }

    /// A response about `leaf` (a leaf of the root) saying `status`, signed by the root, valid
    /// for an hour from now: what a responder would answer, made without one.
    public func rootSignedResponse(for leaf: Certificate, status: CertStatus = .good) throws -> [UInt8] {
        let now = Date()
        let certID = try CertID(issuer: root, serialNumber: leaf.serialNumber, hashAlgorithm: .sha1)
        return try OCSPResponseSigner(certificate: root, key: rootKey).sign([
            SingleResponse(certID: certID, status: status, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600))
        ])
    }

    public static func ca(_ name: String, key: PrivateKey) throws -> Certificate {
        try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("CN", name)], validity: 86400,
                extensions: [
                    ("basicConstraints", "critical,CA:TRUE"), ("keyUsage", "critical,keyCertSign,cRLSign,digitalSignature"),
                    ("subjectKeyIdentifier", "hash"),
                ]),
            subjectKey: key, issuer: nil, issuerKey: key)
    }
}
