import Foundation
import RevocationStore

// What the read commands (list, stats, issuer show) print with: times as RFC 3339 UTC, JSON,
// and a buffered writer for listings of millions of lines.

/// `2026-01-02T03:04:05Z`: RFC 3339 in UTC, whole seconds (what ``parseTime(_:option:)`` reads).
func rfc3339(_ date: Date) -> String { AuditTime.format(date) }

/// Prints `object` (dictionaries, arrays, strings, numbers) as one line of JSON, keys sorted.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

/// Standard output, written in large blocks: a listing builds its lines here and writes them
/// once a page (and whenever the buffer passes 256 KiB), so printing a million lines is a few
/// hundred `write` calls, not a million.
struct OutputBuffer {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(Self.limit + 4096) }

    private static let limit = 256 << 10

    mutating func append(_ text: String) { bytes += text.utf8 }
    mutating func append(_ byte: UInt8) { bytes.append(byte) }
    mutating func append(date: Date) { AuditTime.append(date, to: &bytes) }

    /// Writes what is buffered if it has grown past the limit.
    mutating func flushIfFull() throws { if bytes.count >= Self.limit { try flush() } }

    /// Writes everything buffered to standard output.
    mutating func flush() throws {
        var offset = 0
        try bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw CLIError("cannot write to standard output: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }
}
