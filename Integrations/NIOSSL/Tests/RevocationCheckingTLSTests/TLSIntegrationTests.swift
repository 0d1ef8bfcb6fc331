import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import OCSPCore
import OCSPTestSupport
import OCSPValues
import RevocationChecking
import RevocationCheckingTLS
import RevocationStore
import Testing
import X509

/// The checker inside the Swift server TLS stack: swift-certificates' `Verifier` with
/// `RFC5280Policy` plus ``RevocationVerifierPolicy``, and a swift-nio-ssl mTLS server whose
/// client certificates are checked by ``PeerCertificateVerifier`` while ocspd's responder runs
/// in process and `ocspctl revoke` (the real binary) changes the store under it.
@Suite struct TLSIntegrationTests {
    let responder: ResponderProcess
    var pki: TestPKI { responder.pki }
    var url: String { responder.url }

    init() throws { responder = try ResponderProcess() }

    /// A leaf of the EC root, in the store as good, and its key; written to `<name>.pem`.
    func leaf(_ name: String) throws -> (OCSPCore.Certificate, PrivateKey) {
        let key = try PrivateKey.generateEC()
        let leaf = try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("CN", "\(name).test")], validity: 86400,
                extensions: [
                    ("basicConstraints", "critical,CA:FALSE"), ("keyUsage", "critical,digitalSignature"),
                    ("extendedKeyUsage", "serverAuth,clientAuth"), ("subjectAltName", "DNS:localhost"),
                    ("authorityKeyIdentifier", "keyid:always"), ("authorityInfoAccess", "OCSP;URI:\(url)"),
                ]),
            subjectKey: key, issuer: pki.root, issuerKey: pki.rootKey)
        try pki.store.addCertificate(issuer: IssuerID(certificate: pki.root), serial: leaf.serialNumber, notAfter: leaf.notAfter)
        try Data(leaf.pemEncoded.utf8).write(to: URL(fileURLWithPath: pki.directory + "/\(name).pem"))
        return (leaf, key)
    }

    func checker(_ change: (inout RevocationPolicy) -> Void = { _ in }) -> RevocationChecker {
        var policy = RevocationPolicy()
        policy.cacheTTL = .zero  // every handshake asks, so a revocation shows at once
        policy.timeout = .seconds(30)  // generous: a loaded machine must not turn an answer into a failure
        change(&policy)
        return RevocationChecker(policy: policy)
    }

    func x509(_ certificate: OCSPCore.Certificate) throws -> X509.Certificate {
        try X509.Certificate(derEncoded: certificate.derEncoded)
    }

    /// `ocspctl revoke`, the real binary, on the store in use.
    func revokeWithOCSPCtl(_ name: String) throws {
        let binary = try RootBinaries.path("ocspctl")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "revoke", "--store", pki.directory + "/store", "--cert", pki.directory + "/\(name).pem", "--reason", "keyCompromise",
        ]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "ocspctl revoke at \(binary)")
    }

    @Test func swiftCertificatesVerifierWithRFC5280AndTheChecker() async throws {
        let (good, _) = try leaf("good")
        let (revoked, _) = try leaf("revoked")
        try revokeWithOCSPCtl("revoked")
        let checker = checker()
        func validate(_ certificate: OCSPCore.Certificate) async throws -> CertificateValidationResult {
            var verifier = Verifier(rootCertificates: CertificateStore([try x509(pki.root)])) {
                RFC5280Policy()
                RevocationVerifierPolicy(checker: checker)
            }
            return await verifier.validate(leaf: try x509(certificate), intermediates: CertificateStore())
        }
        guard case .validCertificate(let chain) = try await validate(good) else {
            Issue.record("the good chain was refused")
            return
        }
        #expect(chain.count == 2)
        guard case .couldNotValidate(let failures) = try await validate(revoked) else {
            Issue.record("the revoked certificate was accepted")
            return
        }
        #expect(failures.contains { "\($0.policyFailureReason)".contains("revoked") })
    }

    @Test func anMTLSServerRefusesAClientCertificateRevokedWhileItRuns() async throws {
        let (serverCertificate, serverKey) = try leaf("server")
        let (client, clientKey) = try leaf("client")
        let refusals = Refusals()
        let verifier = PeerCertificateVerifier(
            trustRoots: [try x509(pki.root)], checker: checker(),
            logger: Logger(label: "mtls") { _ in RecordingLogHandler(refusals) })

        var serverConfiguration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(serverCertificate.pemEncoded.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: serverKey.pemEncoded, format: .pem)))
        serverConfiguration.certificateVerification = .noHostnameVerification  // client certificates required
        let serverContext = try NIOSSLContext(configuration: serverConfiguration)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLServerHandler(context: serverContext, customVerificationCallback: verifier.callback))
                    try channel.pipeline.syncOperations.addHandler(Greeter())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { listener.close(promise: nil) }
        let port = listener.localAddress!.port!

        var clientConfiguration = TLSConfiguration.makeClientConfiguration()
        clientConfiguration.certificateChain = [.certificate(try NIOSSLCertificate(bytes: Array(client.pemEncoded.utf8), format: .pem))]
        clientConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: clientKey.pemEncoded, format: .pem))
        clientConfiguration.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(pki.root.pemEncoded.utf8), format: .pem)])
        let clientContext = try NIOSSLContext(configuration: clientConfiguration)

        let first = try await greeting(port: port, context: clientContext)
        #expect(first == "hello", "a good client certificate completes the handshake")

        try revokeWithOCSPCtl("client")
        let second = try await greeting(port: port, context: clientContext)
        #expect(second == nil, "a revoked client certificate is refused")
        #expect(refusals.reasons.contains { $0.contains("revoked") && $0.contains("keyCompromise") }, "\(refusals.reasons)")
    }

    /// What the server says after the handshake, or nil when the connection fails.
    func greeting(port: Int, context: NIOSSLContext) async throws -> String? {
        let promise = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: String?.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(Collector(promise))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(10)) { promise.succeed(nil) }
        let result = try await promise.futureResult.get()
        deadline.cancel()
        try? await channel.close()
        return result
    }
}

/// Writes "hello" once the TLS handshake (and so the client's verification) is done.
private final class Greeter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "hello")), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Completes the promise with the first bytes read, or nil on an error or a close.
private final class Collector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<String?>

    init(_ promise: EventLoopPromise<String?>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        promise.succeed(String(buffer: unwrapInboundIn(data)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.succeed(nil)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(nil)
    }
}

/// The reasons the verifier logged for refusals.
final class Refusals: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []
    var reasons: [String] { lock.withLock { collected } }
    func add(_ reason: String) { lock.withLock { collected.append(reason) } }
}

struct RecordingLogHandler: LogHandler {
    let refusals: Refusals
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    init(_ refusals: Refusals) { self.refusals = refusals }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        refusals.add("\(event.message): \(event.metadata?["reason"].map { "\($0)" } ?? "")")
    }
}
