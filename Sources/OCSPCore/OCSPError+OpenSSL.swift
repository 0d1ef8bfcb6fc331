internal import COpenSSL
internal import OCSPValues

extension OCSPError {
    /// Builds an error and drains OpenSSL's (thread-local) error queue into it.
    static func openSSL(_ code: Code, _ message: String) -> OCSPError {
        OCSPError(code, message, openSSLErrors: drainOpenSSLErrors())
    }
}

/// Empties OpenSSL's thread-local error queue, returning its entries oldest first.
func drainOpenSSLErrors() -> [String] {
    var entries: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        entries.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return entries
}
