public import AsyncHTTPClient
public import Foundation
public import OCSPCore
public import OCSPValues
internal import NIOCore

/// A staple: an OCSP response for one certificate, verified (``OCSPResponseVerifier``), ready to
/// hand to a TLS server as is.
public struct Staple: Sendable {
    /// The DER `OCSPResponse`, as the responder sent it.
    public let der: [UInt8]
    /// What it was verified to say.
    public let verified: OCSPResponseVerifier.Verified
}

/// Why no staple was fetched. ``code`` is stable; ``message`` says what happened.
public struct StaplingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// No responder URL: the certificate has no OCSP AIA entry and none was configured.
        case noResponderURL
        /// The responder could not be reached, or did not answer in time, or not with HTTP 200.
        case unreachable
        /// The answer is not a response this client believes (see ``StaplingError/verification``).
        case rejected
        /// The staple file could not be written or removed.
        case storage
        /// The certificate or its issuer could not be read, or the issuer is not the certificate's.
        case certificate
        /// A TLS server could not be given the staple (HAProxy's runtime API refused it or was
        /// unreachable).
        case serverUpdate
    }

    public let code: Code
    public let message: String
    /// For ``Code/rejected``: the verifier's reason.
    public let verification: OCSPResponseVerifier.Failure?
    public var description: String { message }

    init(_ code: Code, _ message: String, verification: OCSPResponseVerifier.Failure? = nil) {
        self.code = code
        self.message = message
        self.verification = verification
    }

    public static func == (lhs: StaplingError, rhs: StaplingError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

/// Fetches and verifies staples over HTTP (async-http-client), the way RFC 5019 clients ask:
/// GET with the base64 request in the path when it is at most 255 bytes, POST otherwise; no
/// nonce (a staple is a cacheable response, and a responder serves pre-signed ones).
public struct StapleFetcher: Sendable {
    public struct Options: Sendable {
        /// Where to ask instead of the certificate's AIA OCSP URL.
        public var responderURL: String?
        /// How long a fetch may take, end to end.
        public var timeout: Duration
        /// The CertID hash: SHA-1 by default, RFC 5019's profile. (HAProxy 2.6 ignores staples
        /// whose CertID uses SHA-256.)
        public var hashAlgorithm: HashAlgorithm
        /// The response body is refused beyond this size.
        public var maximumResponseBytes: Int
        public var verifier: OCSPResponseVerifier

        public init(
            responderURL: String? = nil, timeout: Duration = .seconds(5), hashAlgorithm: HashAlgorithm = .sha1,
            maximumResponseBytes: Int = 64 * 1024, verifier: OCSPResponseVerifier = OCSPResponseVerifier()
        ) {
            self.responderURL = responderURL
            self.timeout = timeout
            self.hashAlgorithm = hashAlgorithm
            self.maximumResponseBytes = maximumResponseBytes
            self.verifier = verifier
        }
    }

    public let options: Options
    private let client: HTTPClient

    /// - Parameter client: the HTTP client to use (by default async-http-client's shared one).
    public init(options: Options = Options(), client: HTTPClient = .shared) {
        self.options = options
        self.client = client
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

    /// Sends the request (GET when short enough, POST otherwise) and returns the body of a 200.
    private func exchange(_ requestDER: [UInt8], url: String) async throws -> [UInt8] {
        let encoded = OCSPRequestBuilder.getPath(requestDER)
        var request: HTTPClientRequest
        if encoded.utf8.count <= 255 {
            request = HTTPClientRequest(url: url.hasSuffix("/") ? url + encoded : url + "/" + encoded)
            request.method = .GET
        } else {
            request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/ocsp-request")
            request.body = .bytes(ByteBuffer(bytes: requestDER))
        }
        request.headers.add(name: "Accept", value: "application/ocsp-response")
        do {
            let response = try await client.execute(request, timeout: .init(options.timeout))
            guard response.status == .ok else {
                throw StaplingError(.unreachable, "\(url) answered HTTP \(response.status.code)")
            }
            var buffer = try await response.body.collect(upTo: options.maximumResponseBytes)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch let error as StaplingError {
            throw error
        } catch {
            throw StaplingError(.unreachable, "\(url): \(error)")
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
