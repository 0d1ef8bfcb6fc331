package import Foundation
import RevocationStore

#if canImport(Glibc)
import Glibc
#endif

/// Watches a directory two ways, for the followers (``IndexFollower``, ``DirectoryFollower``):
/// inotify on the directory, read without blocking every ``tick``, and, as the safety net for what
/// inotify misses (network file systems, a watch that could not be set, a queue overflow), a poll
/// every ``pollInterval`` in which the caller compares what it applied last with the files'
/// ``Fingerprint``s.
///
/// > Warning: Not thread-safe: one task runs ``run(names:unwatchable:step:)``.
package struct FileWatch {
    /// The device, inode, size and modification time of a file: what a poll compares.
    package struct Fingerprint: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int

        /// The file's modification time.
        package var modified: Date {
            Date(timeIntervalSince1970: TimeInterval(modifiedSeconds) + TimeInterval(modifiedNanoseconds) / 1e9)
        }

        /// The fingerprint of the file at `path`, or nil when it cannot be read (absent, say).
        package init?(path: String) {
            var status = stat()
            guard stat(path, &status) == 0 else { return nil }
            device = UInt64(status.st_dev)
            inode = UInt64(status.st_ino)
            size = Int64(status.st_size)
            modifiedSeconds = Int(status.st_mtim.tv_sec)
            modifiedNanoseconds = Int(status.st_mtim.tv_nsec)
        }
    }

    /// The directory watched.
    package let directory: String
    /// How often the caller is asked to poll, whatever inotify says.
    package var pollInterval: Duration = .seconds(1)
    /// How often the inotify descriptor is read (it never blocks a thread of the pool).
    package var tick: Duration = .milliseconds(50)

    package init(directory: String) {
        self.directory = directory.isEmpty ? "." : directory
    }

    /// Calls `step` at once and then every ``tick`` until the task is cancelled.
    /// - Parameters:
    ///   - names: which file names in the directory the caller follows.
    ///   - unwatchable: called once when inotify cannot watch the directory (polling alone then
    ///     finds the changes).
    ///   - step: called with whether inotify reported a change to a followed name (or lost
    ///     events) since the last call, and whether a poll is due; the first call has both set.
    package func run(
        names: (String) -> Bool, unwatchable: (String) -> Void, step: (_ notified: Bool, _ pollDue: Bool) -> Void
    ) async {
        var watch: DirectoryWatch?
        do {
            watch = try DirectoryWatch(directory: directory)
        } catch {
            unwatchable("\(error)")
        }
        let clock = ContinuousClock()
        var first = true
        var nextPoll = clock.now
        while !Task.isCancelled {
            let notified = watch?.changed(names: names) == true
            var pollDue = false
            if clock.now >= nextPoll {
                nextPoll = clock.now.advanced(by: pollInterval)
                pollDue = true
            }
            step(notified || first, pollDue)
            first = false
            do { try await Task.sleep(for: tick) } catch { return }
        }
    }
}

/// What a follower's `run(report:)` tells its caller (``IndexFollower/Event``,
/// ``DirectoryFollower/Event``).
package enum FollowerEvent<Applied: Sendable>: Sendable {
    /// The file or directory was read and applied (also when nothing changed in the store).
    case applied(Applied)
    /// It could not be read or applied this time (it is tried again at the next change or poll);
    /// the follower keeps running.
    case failed(String)
    /// The directory cannot be watched with inotify: polling alone finds the changes.
    case pollingOnly(String)
}

/// An inotify watch on a directory, read without blocking. Owns its descriptor.
final class DirectoryWatch {
    private let descriptor: Int32

    /// - Throws: ``StoreError/Code/io`` naming the directory and errno.
    init(directory: String) throws {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw StoreError(.io, "inotify_init1: \(String(cString: strerror(errno)))") }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB)
        guard inotify_add_watch(fd, directory, mask) >= 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw StoreError(.io, "inotify_add_watch \(directory): \(why)")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Reads every event queued and says whether one names a file `names` accepts (or the queue
    /// overflowed).
    func changed(names: (String) -> Bool) -> Bool {
        var hit = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return hit }
            buffer.withUnsafeBytes { raw in
                var offset = 0
                let header = MemoryLayout<inotify_event>.size
                while offset + header <= count {
                    let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let length = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    let nameBytes = raw[(offset + header)..<min(count, offset + header + length)].prefix { $0 != 0 }
                    let overflow = mask & UInt32(IN_Q_OVERFLOW) != 0
                    if overflow || names(String(decoding: nameBytes, as: UTF8.self)) { hit = true }
                    offset += header + length
                }
            }
        }
    }
}
