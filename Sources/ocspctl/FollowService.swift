import LogFormats
import Logging
import OCSPAdmin
import ServiceLifecycle

/// Runs a follower (``IndexFollower``, ``DirectoryFollower``) until a graceful shutdown: `--follow`.
struct FollowService: Service {
    /// Makes the follower in the service's task (it holds a watch descriptor and its signing)
    /// and runs it until the task is cancelled.
    let follow: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown(follow)
    }

    /// Logs `following` with `metadata`, runs `follow` under a service group until SIGTERM or
    /// SIGINT, then logs `stopped`; the logs are JSON lines on standard error.
    static func run(
        label: String, following metadata: Logger.Metadata, _ follow: @escaping @Sendable (Logger) async -> Void
    ) async throws {
        let logger = Logger(label: label) { JSONLogHandler(label: $0) }
        logger.info("following", metadata: metadata)
        let service = FollowService { await follow(logger) }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [ServiceGroupConfiguration.ServiceConfiguration(service: service)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("stopped")
    }

    /// Logs a follower's failures and its falling back to polling; hands each application to
    /// `applied`.
    /// - Parameter what: what the follower follows, for the messages (`index`, `directory`).
    static func log<Applied>(
        _ event: FollowerEvent<Applied>, _ logger: Logger, what: String, applied: (Applied) -> Void
    ) {
        switch event {
        case .applied(let set):
            applied(set)
        case .failed(let message):
            logger.warning("\(what) not applied; retrying at the next change", metadata: ["error": "\(message)"])
        case .pollingOnly(let message):
            logger.warning("inotify unavailable; polling the \(what) every second", metadata: ["error": "\(message)"])
        }
    }
}
