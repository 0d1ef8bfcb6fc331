/// The requests a run cycles through, each connection starting at a different one.
struct RequestSet: Sendable {
    var requests: [PreparedRequest]
    /// Where they came from, for the report.
    var source: String
}
