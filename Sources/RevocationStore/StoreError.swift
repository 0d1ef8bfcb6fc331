internal import CLMDB

/// An error from ``RevocationStore``: a stable ``Code``, a message that says what to do, and the
/// LMDB return code when LMDB produced it.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case noStore, storeExists, unknownIssuer, issuerExists, notFound, refused, schema, corrupt, lmdb, io
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The directory holds no store.
        public static let noStore = Code(.noStore)
        /// `init` found a store already there.
        public static let storeExists = Code(.storeExists)
        /// No issuer with that certificate or id.
        public static let unknownIssuer = Code(.unknownIssuer)
        /// The issuer is already in the store.
        public static let issuerExists = Code(.issuerExists)
        /// No such certificate or record.
        public static let notFound = Code(.notFound)
        /// The change would break a rule of the store (revocation is permanent; an issuer with
        /// certificates is not removed); the message names the flag that overrides it, if any.
        public static let refused = Code(.refused)
        /// The store's schema is not this program's: newer (upgrade the program) or older (migrate).
        public static let schema = Code(.schema)
        /// A record that does not decode.
        public static let corrupt = Code(.corrupt)
        /// LMDB returned an error (see ``StoreError/lmdbCode``).
        public static let lmdb = Code(.lmdb)
        /// A filesystem error around the store.
        public static let io = Code(.io)

        public var description: String { "\(base)" }
    }

    public let code: Code
    public let message: String
    /// LMDB's return code (an `MDB_*` value or an errno), when ``code`` is ``Code/lmdb``.
    public let lmdbCode: Int32?

    public init(_ code: Code, _ message: String, lmdbCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.lmdbCode = lmdbCode
    }

    /// Wraps an LMDB return code with `mdb_strerror`'s text.
    static func lmdb(_ rc: Int32, _ doing: String) -> StoreError {
        StoreError(.lmdb, "\(doing): \(String(cString: mdb_strerror(rc)))", lmdbCode: rc)
    }

    public var description: String { message }

    public static func == (lhs: StoreError, rhs: StoreError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
