import Foundation
import OCSPCore
import OCSPValues
import Responder
import RevocationStore

/// What the benchmarks work on, made once per process: an EC and an RSA issuer with their
/// signers, a store holding ``certificateCount`` certificates of the EC issuer (their responses
/// signed, as presign leaves them), and requests.
final class BenchmarkFixture: Sendable {
    static let shared: BenchmarkFixture = {
        do { return try BenchmarkFixture() } catch { fatalError("benchmark fixture: \(error)") }
    }()

    /// Certificates in the store (each added in its own durable write transaction, so keep it small;
    /// a lookup is a B-tree search, O(log n)).
    static let certificateCount = 256

    /// The store's directory, removed at exit.
    static let storeDirectory = NSTemporaryDirectory() + "ocsp-benchmarks-\(getpid())"

    let ecSigner: OCSPResponseSigner
    let rsaSigner: OCSPResponseSigner
    let store: RevocationStore
    /// A CertID in the store, one not in it, and an RSA one (for the RSA signer's response).
    let knownCertID: CertID
    let unknownCertID: CertID
    let rsaCertID: CertID
    /// DER `OCSPRequest`s for `knownCertID`, without and with a nonce.
    let request: [UInt8]
    let nonceRequest: [UInt8]
    /// The responder over the store, and the GET paths (`/` + url-safe base64) of a request for
    /// each certificate in it.
    let responder: OCSPResponder
    let getPaths: [[UInt8]]

    private init() throws {
        let day: TimeInterval = 86400
        let caExtensions = [
            ("basicConstraints", "critical,CA:TRUE"), ("keyUsage", "critical,keyCertSign,cRLSign,digitalSignature"),
            ("subjectKeyIdentifier", "hash"),
        ]
        let ecKey = try PrivateKey.generateEC()
        let ecCA = try CertificateBuilder.issue(
            CertificateTemplate(subject: [("CN", "Benchmark EC CA")], validity: 365 * day, extensions: caExtensions),
            subjectKey: ecKey, issuer: nil, issuerKey: ecKey)
        let rsaKey = try PrivateKey.generateRSA(bits: 2048)
        let rsaCA = try CertificateBuilder.issue(
            CertificateTemplate(subject: [("CN", "Benchmark RSA CA")], validity: 365 * day, extensions: caExtensions),
            subjectKey: rsaKey, issuer: nil, issuerKey: rsaKey)
        ecSigner = try OCSPResponseSigner(certificate: ecCA, key: ecKey)
        rsaSigner = try OCSPResponseSigner(certificate: rsaCA, key: rsaKey)

        try? FileManager.default.removeItem(atPath: Self.storeDirectory)
        atexit { try? FileManager.default.removeItem(atPath: BenchmarkFixture.storeDirectory) }
        store = try RevocationStore.create(at: Self.storeDirectory, mapSize: 64 << 20)
        let keyPath = Self.storeDirectory + "/ec-ca.key"
        try Data(ecKey.pemEncoded).write(to: URL(fileURLWithPath: keyPath))
        // The responder signs with a key file only its owner may read (others: refused, and no
        // response is signed).
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyPath)
        let record = IssuerRecord(
            id: IssuerID(certificate: ecCA), subject: ecCA.subject, certificateDER: ecCA.derEncoded,
            responderCertificateDER: nil, caKeyPath: keyPath, responderKeyPath: nil, responseValidity: day,
            certIDHashes: try HashAlgorithm.allCases.map { try ecCA.issuerHashes($0) })
        try store.addIssuer(record)
        responder = OCSPResponder(store: store)
        let sign = responder.signing(for: record.id).0
        var serials: [SerialNumber] = []
        for _ in 0..<Self.certificateCount {
            let serial = SerialNumber.random()
            try store.addCertificate(issuer: record.id, serial: serial, notAfter: nil, sign: sign)
            serials.append(serial)
        }
        getPaths = try serials.map { serial in
            let der = try OCSPRequestBuilder.build([CertID(issuer: ecCA, serialNumber: serial)])
            let urlSafe = Data(der).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            return Array(("/" + urlSafe).utf8)
        }
        knownCertID = try CertID(issuer: ecCA, serialNumber: serials[serials.count / 2])
        unknownCertID = try CertID(issuer: ecCA, serialNumber: SerialNumber.random())
        rsaCertID = try CertID(issuer: rsaCA, serialNumber: SerialNumber.random())
        request = try OCSPRequestBuilder.build([knownCertID])
        nonceRequest = try OCSPRequestBuilder.build([knownCertID], nonce: true)
    }
}
