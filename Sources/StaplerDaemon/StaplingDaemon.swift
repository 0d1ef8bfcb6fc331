internal import Listening
package import Logging
package import OCSPStapling
internal import ServiceLifecycle
internal import UnixSignals

/// `ocsp-stapler` as a daemon: the service's run loop as a swift-service-lifecycle service, its
/// reload command, and its `/metrics` and `/healthz` listener. A graceful shutdown (SIGTERM,
/// SIGINT) cancels the loop, which stops every certificate's; SIGHUP refreshes every staple now.
package struct StaplingDaemon: Service {
    package let service: StaplingService
    package let targets: [StapleTarget]
    package let directories: [WatchedDirectory]

    package init(service: StaplingService, targets: [StapleTarget], directories: [WatchedDirectory]) {
        self.service = service
        self.targets = targets
        self.directories = directories
    }

    package func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in hangups { service.refreshNow() }
                }
                await service.run(targets: targets, watching: directories)
                group.cancelAll()
            }
        }
    }

    /// The metrics listener could not start (the address is taken, say).
    package struct ListenFailure: Error, CustomStringConvertible {
        package let description: String
    }

    /// Runs the daemon until SIGTERM or SIGINT: the settings' targets and directories, the reload
    /// command (if any) as every target's output, and the metrics listener at `metricsAddress`.
    /// - Throws: ``ListenFailure`` when the metrics listener cannot start.
    package static func run(
        settings: StaplerConfiguration, options: StaplingService.Options, metricsAddress: (host: String, port: UInt16)?,
        logger: Logger
    ) async throws {
        let metricsBox = MetricsBox()
        let hook = settings.reloadCommand.map { command in
            ReloadHook(
                command: command, minimumInterval: settings.reloadMinimumInterval, timeout: settings.reloadTimeout,
                logger: logger, onRun: { metricsBox.metrics?.reloadRan(succeeded: $0) })
        }
        let service = StaplingService(options: options, outputs: hook.map { [$0] } ?? [], logger: logger)
        let metrics = StaplerMetrics(service: service)
        metricsBox.metrics = metrics
        var listener: MetricsListener?
        if let (host, port) = metricsAddress {
            let metricsListener = MetricsListener(host: host, port: port, exposition: { metrics.exposition() })
            let boundPort: UInt16
            do {
                boundPort = try metricsListener.start()
            } catch {
                throw ListenFailure(description: "--metrics-listen \(settings.metricsListen ?? ""): \(error)")
            }
            listener = metricsListener
            logger.info("metrics listening", metadata: ["address": "\(host):\(boundPort)"])
        }
        logger.info(
            "stapler started",
            metadata: [
                "certificates": "\(settings.targets.count)", "directories": "\(settings.directories.map(\.path))",
                "reload_command": "\(settings.reloadCommand ?? "none")",
            ])
        let daemon = StaplingDaemon(service: service, targets: settings.targets, directories: settings.directories)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: daemon)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        listener?.stop()
        logger.info("stapler stopped")
    }
}

/// Lets the reload hook, made before the metrics, count its runs in them.
final class MetricsBox: @unchecked Sendable {
    // Set once, before the service starts; read afterwards only.
    var metrics: StaplerMetrics?
}
