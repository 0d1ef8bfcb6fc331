import ArgumentParser

/// How requests are sent (`--method`).
enum RequestMethod: String, Sendable, CaseIterable, ExpressibleByArgument, Codable {
    /// `GET /{url-encoded base64}` (RFC 6960 Appendix A.1), cacheable.
    case get
    /// `POST` with the DER in the body and `Content-Type: application/ocsp-request`.
    case post
    /// Each request GET or POST at random, POST with probability `--post-fraction`.
    case mix
}
