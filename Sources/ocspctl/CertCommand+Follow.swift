import Foundation
import LogFormats
import Logging
import OCSPAdmin
import RevocationStore

extension CertCommand.Add {
    /// `--dir DIR --follow`: a ``DirectoryFollower`` under a service group (``FollowService``)
    /// until SIGTERM or SIGINT.
    func runFollowing(_ dir: String) async throws {
        let store = try options.open()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("--dir \(dir): cannot read the directory", .notFound)
        }
        let logger = Logger(label: "ocspctl.cert") { JSONLogHandler(label: $0) }
        let options = options
        logger.info("following", metadata: ["dir": "\(dir)"])
        try await FollowService.run(logger: logger) {
            var follower = DirectoryFollower(store: store, directory: dir) {
                responseSigning(store, issuer: $0, options)
            }
            await follower.run { event in Self.log(event, logger) }
        }
    }

    /// Logs what a ``DirectoryFollower`` applies, as JSON lines.
    static func log(_ event: DirectoryFollower.Event, _ logger: Logger) {
        switch event {
        case .applied(let set):
            for addition in set.added {
                logger.info(
                    "added",
                    metadata: [
                        "file": "\(addition.file)", "issuer": "\(addition.issuer)", "serial": "\(addition.serial.hex)",
                        "lag_ms": "\(Int((addition.lag * 1000).rounded()))",
                    ])
            }
            if !set.present.isEmpty {
                logger.info(
                    "already in the store",
                    metadata: ["count": "\(set.present.count)", "files": "\(set.present.map(\.file))"])
            }
            for skip in set.skipped {
                logger.warning("file skipped", metadata: ["file": "\(skip.file)", "reason": "\(skip.reason)"])
            }
        case .failed(let message):
            logger.warning("directory not applied; retrying at the next change", metadata: ["error": "\(message)"])
        case .pollingOnly(let message):
            logger.warning("inotify unavailable; listing the directory every second", metadata: ["error": "\(message)"])
        }
    }
}
