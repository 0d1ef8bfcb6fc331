internal import Foundation
public import OCSPCore

/// One certificate whose staple is kept current, and where the staple goes.
public struct StapleTarget: Sendable, Hashable {
    /// The name logs and metrics use (`certificate` label): the certificate file's path by default.
    public var name: String
    /// The certificate (PEM or DER), possibly followed by its chain, possibly with its key (an
    /// HAProxy `crt` file): only the certificates are read.
    public var certificatePath: String
    /// The issuer, when it is not the second certificate of ``certificatePath`` (nor in
    /// `<certificatePath>.issuer`, HAProxy's convention).
    public var issuerPath: String?
    /// The staple file (DER), written atomically.
    public var outputPath: String
    /// Where to ask instead of the certificate's AIA OCSP URL.
    public var responderURL: String?
    /// Where the staple goes besides ``outputPath``, in order: HAProxy's runtime API
    /// (``HAProxyRuntime``), Envoy's SDS file (``EnvoySDSFile``), …
    public var outputs: [any StapleOutput]

    /// The HAProxy stats socket the staple is handed to, if any (an ``HAProxyRuntime`` output).
    public var haproxySocket: String? {
        outputs.lazy.compactMap { ($0 as? HAProxyRuntime)?.socketPath }.first
    }

    /// The files its certificates are read from.
    public var certificateFiles: [String] {
        [certificatePath, issuerPath ?? certificatePath + ".issuer"]
    }

    /// - Parameters:
    ///   - name: the name in logs and metrics (default: the certificate file's path).
    ///   - certificatePath: the certificate (PEM); its issuer may follow it in the same file.
    ///   - issuerPath: the issuer (default: the second certificate of the file, else `<cert>.issuer`).
    ///   - outputPath: where the staple is kept (DER, written atomically).
    ///   - responderURL: the responder (default: the certificate's AIA OCSP URL).
    ///   - haproxySocket: an HAProxy stats socket: an ``HAProxyRuntime`` output first.
    ///   - outputs: further outputs, after it.
    public init(
        name: String? = nil, certificatePath: String, issuerPath: String? = nil, outputPath: String,
        responderURL: String? = nil, haproxySocket: String? = nil, outputs: [any StapleOutput] = []
    ) {
        self.name = name ?? certificatePath
        self.certificatePath = certificatePath
        self.issuerPath = issuerPath
        self.outputPath = outputPath
        self.responderURL = responderURL
        self.outputs = (haproxySocket.map { [HAProxyRuntime(socketPath: $0)] } ?? []) + outputs
    }

    public static func == (lhs: StapleTarget, rhs: StapleTarget) -> Bool {
        lhs.name == rhs.name && lhs.certificatePath == rhs.certificatePath && lhs.issuerPath == rhs.issuerPath
            && lhs.outputPath == rhs.outputPath && lhs.responderURL == rhs.responderURL
            && lhs.outputs.map { AnyHashable($0) } == rhs.outputs.map { AnyHashable($0) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(certificatePath)
        hasher.combine(issuerPath)
        hasher.combine(outputPath)
        hasher.combine(responderURL)
        for output in outputs { hasher.combine(AnyHashable(output)) }
    }

    /// Reads the certificate and its issuer: ``issuerPath``; else the second certificate of the
    /// chain; else `<certificatePath>.issuer`. They are read at every refresh, so a renewed
    /// certificate is picked up without a restart.
    /// - Throws: ``StaplingError`` with code ``StaplingError/Code/certificate``.
    /// - Parameter files: where files already read are kept (read anew when they change).
    public func loadCertificates(from files: CertificateFiles = CertificateFiles()) throws -> (leaf: Certificate, issuer: Certificate) {
        do {
            let chain = try files.chain(at: certificatePath)
            let issuer: Certificate
            if let issuerPath {
                issuer = try files.chain(at: issuerPath)[0]
            } else if chain.count > 1 {
                issuer = chain[1]
            } else if FileManager.default.fileExists(atPath: certificatePath + ".issuer") {
                issuer = try files.chain(at: certificatePath + ".issuer")[0]
            } else {
                throw StaplingError(
                    .certificate,
                    "\(certificatePath) holds no issuer after the certificate, and there is no \(certificatePath).issuer; give the issuer")
            }
            guard files.isIssued(chain[0], by: issuer) else {
                throw StaplingError(
                    .certificate, "\(issuerPath ?? certificatePath) did not issue \(chain[0].subject); give its issuer")
            }
            return (chain[0], issuer)
        } catch let error as StaplingError {
            throw error
        } catch {
            throw StaplingError(.certificate, "\(error)")
        }
    }
}

/// A directory of certificates (an HAProxy `crt` directory, say): every `*.pem` there that holds a
/// certificate which is not a CA gets its staple in `<file>.ocsp` beside it, which is the name
/// HAProxy loads at start. The directory is scanned again periodically, so certificates added or
/// removed are picked up.
public struct WatchedDirectory: Sendable, Hashable {
    public var path: String
    public var responderURL: String?
    public var haproxySocket: String?

    public init(path: String, responderURL: String? = nil, haproxySocket: String? = nil) {
        self.path = path
        self.responderURL = responderURL
        self.haproxySocket = haproxySocket
    }

    /// The targets the directory holds now, sorted by path.
    /// - Throws: ``StaplingError`` with code ``StaplingError/Code/certificate`` when the
    ///   directory cannot be read.
    /// - Parameter files: where files already read are kept (read anew when they change).
    public func targets(from files: CertificateFiles = CertificateFiles()) throws -> [StapleTarget] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw StaplingError(.certificate, "cannot read the directory \(path): \(error.localizedDescription)")
        }
        return names.filter { $0.hasSuffix(".pem") && !$0.hasPrefix(".") }.sorted().compactMap { name in
            let file = (path as NSString).appendingPathComponent(name)
            guard let first = try? files.chain(at: file).first, !first.isCA else { return nil }
            return StapleTarget(
                certificatePath: file, outputPath: file + ".ocsp", responderURL: responderURL, haproxySocket: haproxySocket)
        }
    }
}
