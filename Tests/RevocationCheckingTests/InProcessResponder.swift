import HTTPServer
import Logging
import OCSPTestSupport
import Responder

/// ocspd's HTTP server and responder, in process, over a throwaway PKI and store: the checker's
/// tests ask it, and count the requests that reach it.
struct InProcessResponder {
    let pki: TestPKI
    let server: HTTPServer
    /// `http://127.0.0.1:<port>/`.
    let url: String

    init() throws {
        pki = try TestPKI()
        server = HTTPServer(
            configuration: HTTPServer.Configuration(host: "127.0.0.1", port: 0),
            responder: OCSPResponder(store: pki.store), logger: Logger(label: "test"))
        url = "http://127.0.0.1:\(try server.start())/"
    }

    /// OCSP requests answered so far.
    var requests: Int { server.requestMetrics.requests.joined().reduce(0, +) }
}
