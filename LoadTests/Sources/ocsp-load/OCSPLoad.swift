import ArgumentParser
import NIOCore

/// `ocsp-load`: an HTTP/1.1 load generator for OCSP responders.
@main
struct OCSPLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocsp-load",
        abstract: "Load-test an OCSP responder over HTTP/1.1 keep-alive connections.",
        discussion: """
            Closed loop (default): each connection sends its next request when the previous answer \
            arrives. Open loop (--rate): requests are due at a fixed arrival rate and latency is \
            timed from when each was due, so a stall shows in the percentiles (coordinated-omission \
            correction).

            Requests come from a store (one request with a SHA-1 CertID per certificate) or from a \
            file with one base64 DER OCSPRequest per line (# comments and blank lines skipped). \
            Each connection cycles through them from its own starting point.

            Exit status: 0 when every request got a correct answer, 1 when there were errors \
            (or no answer at all), 64 on bad arguments.
            """)

    @Option(help: "The responder, http://HOST:PORT[/PATH]. GET requests go to PATH/{base64}.")
    var url: String?

    @Option(help: "Make the requests from this store: one per certificate, all issuers.")
    var store: String?

    @Option(
        help: ArgumentHelp(
            "Read the requests from FILE: one base64 DER OCSPRequest per line.",
            discussion: "With --store too, sampled answers are checked against that store.", valueName: "file"))
    var requests: String?

    @Option(
        help: ArgumentHelp(
            "With --store: only the certificates of this issuer (certificate file).",
            valueName: "cert.pem"))
    var issuer: String?

    @Flag(help: "With --store: give each request a nonce, so the responder must sign each answer live.")
    var nonce = false

    @Option(help: "Use at most N distinct requests.")
    var limit: Int?

    @Option(help: "get, post, or mix (each request GET or POST at random).")
    var method: RequestMethod = .get

    @Option(help: "GET paths: percent (standard base64, percent-encoded) or url-safe (RFC 4648 §5, no padding).")
    var getEncoding: GETEncoding = .percent

    @Option(
        help: ArgumentHelp(
            "Which request comes next: cycle (each connection walks the set), uniform, or zipf.",
            discussion: "uniform and zipf draw at random over the whole set: a CA's population asked about evenly, or a hot set with a long tail."))
    var order: RequestOrder = .cycle

    @Option(help: "With --order zipf: the exponent s (probability of rank k ∝ 1/k^s).")
    var zipfExponent: Double = 1.0

    @Option(help: "With --method mix: the fraction sent as POST.")
    var postFraction: Double = 0.5

    @Option(help: "Concurrent keep-alive connections.")
    var connections: Int = 64

    @Option(help: "Event-loop threads (default: one per core).")
    var threads: Int?

    @Option(
        help: "Measured run time, e.g. 5s, 500ms, 1m (default 5s; with --requests-total an upper bound, default 60s).")
    var duration: String?

    @Option(help: "Stop after N measured requests instead of after --duration.")
    var requestsTotal: Int?

    @Option(help: "Open loop: requests per second over all connections.")
    var rate: Double?

    @Option(help: "Run this long before measuring (connections warm, caches filled).")
    var warmup: String = "0s"

    @Option(help: "An answer slower than this is a timeout error and its connection is replaced.")
    var timeout: String = "5s"

    @Option(help: "Fraction of answers decoded and checked: status as in the store, signature, nonce.")
    var verifySample: Double = 0.01

    @Option(help: "Write the report as JSON to FILE.")
    var json: String?

    @Option(help: "Write the percentile-distribution plot as SVG to FILE.")
    var plot: String?

    @Option(help: "Name of this run in the plot legend and JSON.")
    var label: String?

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Draw --plot from these --json reports instead of running.", valueName: "report.json"))
    var plotFrom: [String] = []

    @Option(help: ArgumentHelp("Write the request set to FILE in the --requests format and exit.", valueName: "file"))
    var writeRequests: String?

    @Option(
        help: ArgumentHelp(
            "With --store: write each request's cached response (what the responder serves) to DIR, named by its url-safe GET path, and exit.",
            discussion: "A static web server rooted at DIR then answers `--get-encoding url-safe` GETs with the same bytes.",
            valueName: "dir"))
    var writeResponses: String?

    mutating func validate() throws {
        if !plotFrom.isEmpty {
            guard plot != nil else { throw ValidationError("--plot-from needs --plot OUT.svg") }
            return
        }
        guard store != nil || requests != nil else {
            throw ValidationError("give the requests: --store DIR or --requests FILE")
        }
        if requests != nil {
            if nonce { throw ValidationError("--nonce works with --store (a request file has its own nonces)") }
            if issuer != nil { throw ValidationError("--issuer works with --store alone, not with --requests") }
        }
        if writeResponses != nil, store == nil { throw ValidationError("--write-responses needs --store (the responses are the store's)") }
        if writeRequests != nil || writeResponses != nil { return }
        guard zipfExponent > 0, zipfExponent.isFinite else { throw ValidationError("--zipf-exponent must be a positive number") }
        guard let url else { throw ValidationError("--url http://HOST:PORT/ is required") }
        _ = try TargetURL(parsing: url)
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard (1...100_000).contains(connections) else { throw ValidationError("--connections must be 1…100000") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1…256") }
        guard (0...1).contains(postFraction) else { throw ValidationError("--post-fraction must be 0…1") }
        guard (0...1).contains(verifySample) else { throw ValidationError("--verify-sample must be 0…1") }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number") }
        if let requestsTotal, requestsTotal < 1 { throw ValidationError("--requests-total must be at least 1") }
        for (name, value) in [("--duration", duration), ("--warmup", warmup), ("--timeout", timeout)] {
            guard let value else { continue }
            guard DurationArgument.nanoseconds(value) != nil else {
                throw ValidationError("\(name) \(value): expected a duration such as 5s, 500ms or 1m")
            }
        }
        if let duration, DurationArgument.nanoseconds(duration) == 0 {
            throw ValidationError("--duration must be more than 0")
        }
        if DurationArgument.nanoseconds(timeout) == 0 { throw ValidationError("--timeout must be more than 0") }
    }
}
