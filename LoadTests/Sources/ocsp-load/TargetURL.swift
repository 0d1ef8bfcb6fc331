import ArgumentParser
import OCSPCore

/// The `--url` argument: `http://HOST[:PORT][/PATH]`, where requests go.
///
/// POST requests go to `PATH`; GET requests go to `PATH` + `/` + the url-encoded base64 of the
/// request (RFC 6960 Appendix A.1), with the slash not doubled when `PATH` already ends in one.
struct TargetURL: Sendable, CustomStringConvertible {
    /// The host to connect to (brackets removed from an IPv6 literal).
    let host: String
    let port: Int
    /// The path, starting with `/`.
    let path: String
    /// The `Host` header value: the authority as written in the URL.
    let authority: String
    let description: String
    /// How GET paths carry the request.
    var getEncoding: GETEncoding = .percent

    /// Parses `text`.
    /// - Throws: `ValidationError` saying what is wrong.
    init(parsing text: String) throws {
        guard text.lowercased().hasPrefix("http://") else {
            throw ValidationError("--url \(text): expected http://HOST:PORT/ (https is not supported)")
        }
        let rest = text.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
        guard !path.contains("?"), !path.contains("#") else {
            throw ValidationError("--url \(text): a query or fragment is not supported")
        }
        var hostPart = Substring(authority)
        var portPart: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw ValidationError("--url \(text): unterminated IPv6 literal")
            }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                portPart = after.dropFirst()
            } else if !after.isEmpty {
                throw ValidationError("--url \(text): unexpected \(after) after the IPv6 literal")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw ValidationError("--url \(text): no host") }
        if let portPart {
            guard let port = Int(portPart), (1...65535).contains(port) else {
                throw ValidationError("--url \(text): port \(portPart) is not 1…65535")
            }
            self.port = port
        } else {
            port = 80
        }
        host = String(hostPart)
        self.authority = authority
        description = text
    }

    /// The request target of a GET carrying `der`.
    func getTarget(_ der: [UInt8]) -> String {
        let encoded = getEncoding == .percent ? OCSPRequestBuilder.getPath(der) : Base64.urlSafe(der)
        return path.hasSuffix("/") ? path + encoded : path + "/" + encoded
    }
}

/// How a GET path encodes the request (`--get-encoding`).
enum GETEncoding: String, Sendable, CaseIterable, ExpressibleByArgument, Codable {
    /// Standard base64 with `+`, `/` and `=` percent-encoded (RFC 6960 Appendix A.1).
    case percent
    /// URL-safe base64 without padding (RFC 4648 §5): the path names a file as it is.
    case urlSafe = "url-safe"
}
