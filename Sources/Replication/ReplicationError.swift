/// A failure of the system of record, in one line.
public struct ReplicationError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// A URL or setting that cannot work as given.
        public static let configuration = Code("configuration")
        /// The database cannot be reached or refused the request.
        public static let unavailable = Code("unavailable")
        /// The database holds no schema of ours (run `ocspctl init --database`).
        public static let noSchema = Code("noSchema")
        /// The local store's log is not a prefix of the database's.
        public static let diverged = Code("diverged")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
