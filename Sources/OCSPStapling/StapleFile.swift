internal import Foundation

/// A staple file written atomically: a temporary file beside it, fsync'd, renamed over it, and
/// the directory fsync'd. A TLS server reading it (nginx `ssl_stapling_file`, HAProxy `.ocsp`)
/// sees the old staple or the new one, never half of one, even across a crash.
public struct StapleFile: Sendable, Hashable {
    public let path: String

    public init(path: String) { self.path = path }

    /// The file's bytes, or nil when there is none.
    public func read() -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }

    /// Replaces the file with `der` (a staple, or any other document a server must read whole).
    public func write(_ der: [UInt8]) throws {
        let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Self.failure("cannot create \(temporary)") }
        var written = 0
        let ok = der.withUnsafeBytes { bytes -> Bool in
            while written < bytes.count {
                let result = Foundation.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                if result < 0 { if errno == EINTR { continue } else { return false } }
                written += result
            }
            return fsync(descriptor) == 0
        }
        close(descriptor)
        guard ok else {
            unlink(temporary)
            throw Self.failure("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Self.failure("cannot rename \(temporary) to \(path)")
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Removes the file (an expired staple must not stay where a server reads it).
    public func remove() throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw Self.failure("cannot remove \(path)") }
    }

    private static func failure(_ what: String) -> StaplingError {
        StaplingError(.storage, "\(what): \(String(cString: strerror(errno)))")
    }
}

extension StapleFile: StapleOutput {
    public var name: String { "file" }
    public var recipient: String { "the staple file \(path)" }
    public var channel: String { "written atomically" }
    public var trigger: StapleOutputTrigger { .untilDelivered }

    /// Writes the staple unless the file holds these bytes already.
    public func deliver(_ staple: DeliveredStaple, for target: StapleTarget) async throws {
        if read() != staple.der { try write(staple.der) }
    }

    /// Removes the file.
    public func withdraw(for target: StapleTarget) async throws { try remove() }
}
