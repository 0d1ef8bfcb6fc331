internal import CPostgreSQL
internal import Foundation

/// Where the system of record is: a libpq connection string, as a URL
/// (`postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full`) or as `key=value` pairs
/// (`host=db1,db2 dbname=ocsp target_session_attrs=read-write`).
///
/// Everything libpq takes works, because libpq reads it: several hosts with
/// `target_session_attrs` (a failover finds the new primary), every `sslmode`, `sslrootcert`,
/// the `PG*` environment variables, `~/.pgpass` and `PGSERVICE` files. A password, in the
/// string or from elsewhere, is never printed: ``description`` leaves it out.
package struct DatabaseLocation: Sendable, CustomStringConvertible {
    /// The string as given (it may hold a password).
    let conninfo: String
    /// The string without secrets, as a URL: for logs, messages and the working copy's marker.
    package let description: String
    /// The hosts, in the order libpq tries them (empty: libpq's default, the local socket).
    package let hosts: [String]

    /// The `sslmode` values libpq knows.
    static let sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
    /// The options that say how to connect, shown in ``description`` (never a secret).
    static let shownOptions = ["sslmode", "sslrootcert", "target_session_attrs", "connect_timeout", "service"]

    /// Parses a connection string with libpq's own parser (`PQconninfoParse`).
    /// - Throws: ``ReplicationError/Code/configuration`` in one line saying what is wrong, without
    ///   the password.
    package init(url: String) throws {
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        let expected = "expected postgres://USER@HOST:PORT/DATABASE or libpq's key=value form"
        if trimmed.isEmpty {
            throw ReplicationError(.configuration, "the database connection string is empty (\(expected))")
        }
        if let scheme = trimmed.range(of: "://").map({ trimmed[..<$0.lowerBound] }), !["postgres", "postgresql"].contains(scheme) {
            throw ReplicationError(.configuration, "'\(Self.redacted(trimmed))' is not a database URL (\(expected))")
        }
        var error: UnsafeMutablePointer<CChar>? = nil
        guard let parsed = PQconninfoParse(trimmed, &error) else {
            let message = error.map { PostgresConnection.oneLine($0) } ?? "out of memory"
            if let error { PQfreemem(error) }
            throw ReplicationError(.configuration, "'\(Self.redacted(trimmed))' is not a database URL: \(Self.hidingSecrets(of: trimmed, in: message))")
        }
        defer { PQconninfoFree(parsed) }
        var options: [String: String] = [:]
        var option = parsed
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { options[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        if let mode = options["sslmode"], !Self.sslModes.contains(mode) {
            throw ReplicationError(
                .configuration, "sslmode=\(mode) in the database URL: expected \(Self.sslModes.dropLast().joined(separator: ", ")) or verify-full")
        }
        conninfo = trimmed
        (description, hosts) = Self.describe(options)
    }

    /// A URL naming the hosts, ports, user and database, and the options in ``shownOptions``.
    static func describe(_ options: [String: String]) -> (String, [String]) {
        let split = { (key: String) in options[key].map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? [] }
        var hosts = split("host")
        if hosts.isEmpty { hosts = split("hostaddr") }
        let ports = split("port")
        let authority = hosts.enumerated().map { index, host -> String in
            let port = ports.count == 1 ? ports[0] : (index < ports.count ? ports[index] : "")
            let shown = host.contains(":") && !host.hasPrefix("/") ? "[\(host)]" : host
            return port.isEmpty ? shown : "\(shown):\(port)"
        }.joined(separator: ",")
        let user = options["user"].map { "\($0)@" } ?? ""
        let query = shownOptions.compactMap { key in options[key].map { "\(key)=\($0)" } }.joined(separator: "&")
        let text = "postgres://\(user)\(authority)/\(options["dbname"] ?? "")" + (query.isEmpty ? "" : "?\(query)")
        return (text, hosts)
    }

    /// A URL with its password replaced, for a message about the URL itself.
    static func redacted(_ url: String) -> String {
        hidingSecrets(of: url, in: url)
    }

    /// `message` with any password of `conninfo` replaced.
    static func hidingSecrets(of conninfo: String, in message: String) -> String {
        guard let password = password(in: conninfo) else { return message }
        let decoded = password.removingPercentEncoding ?? password
        return message.replacingOccurrences(of: password, with: "***").replacingOccurrences(of: decoded, with: "***")
    }

    /// The password written in a connection string (URL user info, or `password=`), if any.
    static func password(in conninfo: String) -> String? {
        if conninfo.contains("://") {
            guard let components = URLComponents(string: conninfo) else {
                // Not a URL Foundation reads: whatever sits between "user:" and "@".
                guard let scheme = conninfo.range(of: "://"), let at = conninfo[scheme.upperBound...].firstIndex(of: "@") else {
                    return nil
                }
                let userInfo = conninfo[scheme.upperBound..<at]
                return userInfo.firstIndex(of: ":").map { String(userInfo[userInfo.index(after: $0)...]) }.flatMap { $0.isEmpty ? nil : $0 }
            }
            if let password = components.percentEncodedPassword, !password.isEmpty { return password }
            return components.queryItems?.first { $0.name == "password" }?.value
        }
        guard let key = conninfo.range(of: #"password\s*=\s*"#, options: .regularExpression) else { return nil }
        let rest = conninfo[key.upperBound...]
        if rest.hasPrefix("'") {
            let body = rest.dropFirst()
            return String(body.prefix { $0 != "'" })
        }
        let value = rest.prefix { !$0.isWhitespace }
        return value.isEmpty ? nil : String(value)
    }
}
