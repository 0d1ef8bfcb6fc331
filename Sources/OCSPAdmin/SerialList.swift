internal import Foundation
package import OCSPValues
internal import RevocationStore

/// A list of serial numbers in a file (`ocspctl revoke --serials`, `cert add --serials`):
/// hexadecimal, one per line; blank lines and `#` comments skipped.
package enum SerialList {
    /// Reads and checks every line of the file at `path` before returning any serial, so that a
    /// caller that writes what it returns writes nothing when one line is bad.
    /// - Parameters:
    ///   - name: what messages call the file (default: its path), e.g. `--serials list.txt`.
    /// - Returns: the serials in the order listed.
    /// - Throws: ``StoreError/Code/io`` when the file cannot be read; ``StoreError/Code/corrupt``
    ///   naming the first bad line (`NAME line N: …`).
    package static func read(path: String, name: String? = nil) throws -> [SerialNumber] {
        let name = name ?? path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError(.io, "\(name): cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), name: name)
    }

    /// Parses a list's text, as ``read(path:name:)`` does.
    /// - Throws: ``StoreError/Code/corrupt`` naming the first bad line (`NAME line N: …`).
    package static func parse(_ text: String, name: String) throws -> [SerialNumber] {
        var serials: [SerialNumber] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard !text.allSatisfy(\.isWhitespace) else { continue }
            do {
                serials.append(try SerialNumber(hex: String(text)))
            } catch {
                throw StoreError(.corrupt, "\(name) line \(number + 1): \(error)")
            }
        }
        return serials
    }
}
