/// An error about OCSP values and messages (``OCSPValues`` and `OCSPCore`): a stable ``Code`` to match on, a message for people, and the
/// OpenSSL error queue at the time of failure.
///
/// Equality compares the code only (two errors with one code are equal whatever their messages);
/// match on the code: `error.code == .malformedRequest`.
public struct OCSPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can grow without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case malformedRequest, invalidCertificate, invalidKey, keyMismatch, invalidSerial, insecureKeyFile
            case signFailed, encodeFailed, keyGenerationFailed, io, unsupported, keyUnavailable, keyConfiguration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The bytes are not a DER `OCSPRequest`.
        public static let malformedRequest = Code(.malformedRequest)
        /// The bytes are not a PEM or DER certificate.
        public static let invalidCertificate = Code(.invalidCertificate)
        /// The bytes are not a PEM private key.
        public static let invalidKey = Code(.invalidKey)
        /// A private key file that users other than its owner may read.
        public static let insecureKeyFile = Code(.insecureKeyFile)
        /// The private key does not belong to the certificate.
        public static let keyMismatch = Code(.keyMismatch)
        /// A serial number that is not hexadecimal or is out of range.
        public static let invalidSerial = Code(.invalidSerial)
        /// OpenSSL could not sign.
        public static let signFailed = Code(.signFailed)
        /// OpenSSL could not encode a structure.
        public static let encodeFailed = Code(.encodeFailed)
        /// Key generation failed.
        public static let keyGenerationFailed = Code(.keyGenerationFailed)
        /// A file could not be read or written.
        public static let io = Code(.io)
        /// A feature or algorithm this build does not support.
        public static let unsupported = Code(.unsupported)
        /// The key is in a token (PKCS#11) that is absent, lost, busy or slow now: a later attempt
        /// may succeed without any change.
        public static let keyUnavailable = Code(.keyUnavailable)
        /// A key reference that cannot work until the operator changes something: a malformed
        /// PKCS#11 URI, a module that does not load, no PIN, a wrong PIN (never retried: tokens
        /// lock after a few).
        public static let keyConfiguration = Code(.keyConfiguration)

        public var description: String { "\(base)" }
    }

    public let code: Code
    public let message: String
    /// OpenSSL's error queue, oldest first, as `lib:reason` strings.
    public let openSSLErrors: [String]

    public init(_ code: Code, _ message: String, openSSLErrors: [String] = []) {
        self.code = code
        self.message = message
        self.openSSLErrors = openSSLErrors
    }

    public var description: String {
        openSSLErrors.isEmpty ? message : "\(message) (\(openSSLErrors.joined(separator: "; ")))"
    }

    public static func == (lhs: OCSPError, rhs: OCSPError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
