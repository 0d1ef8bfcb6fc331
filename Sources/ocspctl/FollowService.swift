import Logging
import ServiceLifecycle

/// Runs a follower (``IndexFollower``, ``DirectoryFollower``) until a graceful shutdown: `--follow`.
struct FollowService: Service {
    /// Makes the follower in the service's task (it holds a watch descriptor and its signing)
    /// and runs it until the task is cancelled.
    let follow: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown(follow)
    }

    /// Runs `follow` under a service group until SIGTERM or SIGINT, then logs `stopped`.
    static func run(logger: Logger, _ follow: @escaping @Sendable () async -> Void) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [ServiceGroupConfiguration.ServiceConfiguration(service: FollowService(follow: follow))],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}
