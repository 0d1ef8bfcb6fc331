/// Fetches one HTTP resource: the one way the stapler, the checker, the relay and the CRL
/// sources reach the network, so that tests can stand in for the network without a socket
/// (the idea of swift-certificates' `OCSPRequester`).
///
/// An implementation answers with the response whatever its status (a 404 or a 500 is an answer,
/// for the caller to judge), and throws ``FetchError`` when there is no complete answer: the
/// connection was refused, timed out, was cut, or the body was larger than allowed.
public protocol HTTPFetching: Sendable {
    /// - Throws: ``FetchError``.
    func fetch(_ request: FetchRequest) async throws -> FetchResponse
}

/// One HTTP request, with the limits it must be answered within.
public struct FetchRequest: Sendable, Hashable {
    /// GET, POST, or another method by name (a cache's PURGE).
    public struct Method: RawRepresentable, Sendable, Hashable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let get = Method(rawValue: "GET")
        public static let post = Method(rawValue: "POST")
    }

    /// An `http://` or `https://` URL.
    public var url: String
    public var method: Method
    /// The POST body.
    public var body: [UInt8]
    /// Extra request headers, by name.
    public var headers: [String: String]
    /// How long the whole exchange may take, connection included.
    public var timeout: Duration
    /// How long the connection may take (TCP and TLS), at most ``timeout``. A refused connection
    /// fails at once whatever this says.
    public var connectTimeout: Duration?
    /// A body longer than this is refused (``FetchError/Code/tooLarge``), whatever
    /// Content-Length says, and is never read in full.
    public var maximumBytes: Int
    /// Redirects followed (301, 302, 303, 307, 308 to http or https only; a POST stays a POST).
    /// 0 follows none: the 3xx is the answer.
    public var maximumRedirects: Int

    public init(
        url: String, method: Method = .get, body: [UInt8] = [], headers: [String: String] = [:],
        timeout: Duration = .seconds(5), connectTimeout: Duration? = nil, maximumBytes: Int = 64 * 1024,
        maximumRedirects: Int = 3
    ) {
        self.url = url
        self.method = method
        self.body = body
        self.headers = headers
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.maximumBytes = maximumBytes
        self.maximumRedirects = maximumRedirects
    }
}

/// An HTTP answer, complete.
public struct FetchResponse: Sendable, Hashable {
    public var status: Int
    /// The response's headers, names lower-cased (of the last response, after redirects).
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        self.body = body
    }

    /// The value of header `name` (any case).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}
