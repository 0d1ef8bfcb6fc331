/// A failure that stops `ocsp-load` before or after the run (bad input, unwritable output), with
/// a message for the user.
struct LoadError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}
