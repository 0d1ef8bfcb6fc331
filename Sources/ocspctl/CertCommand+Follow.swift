import Foundation
import Logging
import OCSPAdmin
import RevocationStore

extension CertCommand.Add {
    /// Logs what a ``DirectoryFollower`` applies, as JSON lines.
    static func log(_ event: DirectoryFollower.Event, _ logger: Logger) {
        FollowService.log(event, logger, what: "directory") { set in
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
        }
    }

    /// `--dir DIR --follow`: a ``DirectoryFollower`` under a service group (``FollowService``)
    /// until SIGTERM or SIGINT.
    func runFollowing(_ dir: String) async throws {
        let store = try options.open()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("--dir \(dir): cannot read the directory", .notFound)
        }
        let options = options
        try await FollowService.run(label: "ocspctl.cert", following: ["dir": "\(dir)"]) { logger in
            var follower = DirectoryFollower(store: store, directory: dir) {
                responseSigning(store, issuer: $0, options)
            }
            await follower.run { event in Self.log(event, logger) }
        }
    }
}
