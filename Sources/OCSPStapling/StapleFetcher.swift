public import Fetching
public import Foundation
public import OCSPCore
public import OCSPValues

/// A staple: an OCSP response for one certificate, verified (`OCSPResponseVerifier`), ready to
/// hand to a TLS server as is.
public struct Staple: Sendable {
    /// The DER `OCSPResponse`, as the responder sent it.
    public let der: [UInt8]
    /// What it was verified to say.
    public let verified: OCSPResponseVerifier.Verified
}

/// How an OCSP request travels (RFC 6960 appendix A.1, RFC 5019 §5).
public enum OCSPRequestMethod: String, Sendable, Hashable, CaseIterable {
    /// GET when the base64 request fits in 255 bytes, else POST; after a 4xx answer or a
    /// `malformedRequest` to a GET, the same request once more by POST (some responders, Debian's
    /// CFSSL `ocspserve` among them, answer every GET with 400).
    case auto
    /// Always GET (a cache in front sees every request).
    case get
    /// Always POST.
    case post
}

/// Fetches and verifies staples over HTTP (`HTTPFetching`; libcurl by default), the way RFC
/// 5019 clients ask: GET with the base64 request in the path when it is at most 255 bytes, POST
/// otherwise (``OCSPRequestMethod``); no nonce (a staple is a cacheable response, and a responder
/// serves pre-signed ones).
public struct StapleFetcher: Sendable {
    public struct Options: Sendable {
        /// Where to ask instead of the certificate's AIA OCSP URL.
        public var responderURL: String?
        /// How long a fetch may take, end to end (both requests, when a GET is retried by POST).
        public var timeout: Duration
        /// How long the connection may take (nil: ``timeout``). A refused one fails at once.
        public var connectTimeout: Duration?
        /// The CertID hash: SHA-1 by default, RFC 5019's profile. (HAProxy 2.6 ignores staples
        /// whose CertID uses SHA-256.)
        public var hashAlgorithm: HashAlgorithm
        /// GET, POST, or GET with a POST retry (the default).
        public var method: OCSPRequestMethod
        /// The response body is refused beyond this size (a response is a few KiB).
        public var maximumResponseBytes: Int
        public var verifier: OCSPResponseVerifier

        public init(
            responderURL: String? = nil, timeout: Duration = .seconds(5), connectTimeout: Duration? = nil,
            hashAlgorithm: HashAlgorithm = .sha1, method: OCSPRequestMethod = .auto, maximumResponseBytes: Int = 64 * 1024,
            verifier: OCSPResponseVerifier = OCSPResponseVerifier()
        ) {
            self.responderURL = responderURL
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.hashAlgorithm = hashAlgorithm
            self.method = method
            self.maximumResponseBytes = maximumResponseBytes
            self.verifier = verifier
        }
    }

    public let options: Options
    private let fetcher: any HTTPFetching

    /// - Parameters:
    ///   - options: where and how to ask, and how to verify the answer.
    ///   - fetcher: how requests reach the network (libcurl by default; tests give their own).
    public init(options: Options = Options(), fetcher: any HTTPFetching = CurlFetcher.shared) {
        self.options = options
        self.fetcher = fetcher
    }

    /// The URL a fetch for `leaf` goes to: the configured one, else the first OCSP URL of its AIA.
    public func responderURL(for leaf: Certificate) throws -> String {
        if let url = options.responderURL { return url }
        guard let url = leaf.ocspURLs.first else {
            throw StaplingError(
                .noResponderURL, "\(leaf.subject) has no OCSP responder URL (AuthorityInformationAccess); give one")
        }
        return url
    }

    /// Fetches the response for `leaf` (issued by `issuer`) and verifies it at `now`.
    /// - Throws: ``StaplingError``.
    public func fetch(leaf: Certificate, issuer: Certificate, now: Date = Date()) async throws -> Staple {
        let url = try responderURL(for: leaf)
        let certID = try CertID(issuer: issuer, serialNumber: leaf.serialNumber, hashAlgorithm: options.hashAlgorithm)
        let requestDER = try OCSPRequestBuilder.build([certID])
        let body = try await exchange(requestDER, url: url)
        do {
            let verified = try options.verifier.verify(body, for: certID, issuer: issuer, at: now)
            return Staple(der: body, verified: verified)
        } catch let failure as OCSPResponseVerifier.Failure {
            throw StaplingError(.rejected, "\(url) answered for \(leaf.subject) with a response that does not verify: \(failure)", verification: failure)
        }
    }

    /// Sends the request as ``Options/method`` says and returns the body of a 200.
    func exchange(_ requestDER: [UInt8], url: String) async throws -> [UInt8] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: options.timeout)
        let encoded = OCSPRequestBuilder.getPath(requestDER)
        let useGET = options.method == .get || (options.method == .auto && encoded.utf8.count <= 255)
        guard useGET else { return try await send(.post, requestDER, url: url, deadline: deadline) }
        let getURL = url.hasSuffix("/") ? url + encoded : url + "/" + encoded
        do {
            let body = try await send(.get, requestDER, url: getURL, deadline: deadline, reportedURL: url)
            guard options.method == .auto, Self.isMalformedRequest(body) else { return body }
        } catch let error as StaplingError where options.method == .auto && error.httpStatus.map({ (400..<500).contains($0) }) == true {
            // A responder that does not take GETs: ask once more by POST.
        }
        return try await send(.post, requestDER, url: url, deadline: deadline)
    }

    /// One request; the body of a 200, else ``StaplingError/Code/unreachable``.
    private func send(
        _ method: FetchRequest.Method, _ requestDER: [UInt8], url: String, deadline: ContinuousClock.Instant, reportedURL: String? = nil
    ) async throws -> [UInt8] {
        let remaining = deadline - ContinuousClock().now
        guard remaining > .zero else {
            throw StaplingError(.unreachable, "\(reportedURL ?? url): no answer within \(options.timeout)")
        }
        var request = FetchRequest(
            url: url, method: method, headers: ["Accept": "application/ocsp-response"], timeout: remaining,
            connectTimeout: options.connectTimeout.map { min($0, remaining) }, maximumBytes: options.maximumResponseBytes)
        if method == .post {
            request.body = requestDER
            request.headers["Content-Type"] = "application/ocsp-request"
        }
        let response: FetchResponse
        do {
            response = try await fetcher.fetch(request)
        } catch let error as FetchError {
            throw StaplingError(.unreachable, "\(method.rawValue) \(reportedURL ?? url): \(Self.reason(error))")
        } catch {
            throw StaplingError(.unreachable, "\(method.rawValue) \(reportedURL ?? url): \(error)")
        }
        guard response.status == 200 else {
            throw StaplingError(
                .unreachable, "\(method.rawValue) \(reportedURL ?? url): HTTP \(response.status)", httpStatus: response.status)
        }
        return response.body
    }

    /// The fetch error without the URL it starts with (a GET's URL holds the whole request).
    private static func reason(_ error: FetchError) -> String {
        guard let colon = error.message.range(of: ": ") else { return error.message }
        return String(error.message[colon.upperBound...])
    }

    /// Whether `body` is an OCSPResponse whose status is malformedRequest (what some responders
    /// answer to a GET they cannot decode).
    static func isMalformedRequest(_ body: [UInt8]) -> Bool {
        (try? OCSPResponse(derEncoded: body))?.status == .malformedRequest
    }
}
