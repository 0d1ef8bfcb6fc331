/// A failure of the system of record, in one line.
package struct ReplicationError: Error, CustomStringConvertible, Sendable {
    package struct Code: Hashable, Sendable {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// A URL or setting that cannot work as given.
        package static let configuration = Code("configuration")
        /// The database cannot be reached or refused the request.
        package static let unavailable = Code("unavailable")
        /// The database holds no schema of ours (run `ocspctl init --database`).
        package static let noSchema = Code("noSchema")
        /// The local store's log is not a prefix of the database's.
        package static let diverged = Code("diverged")
    }

    package let code: Code
    package let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}
