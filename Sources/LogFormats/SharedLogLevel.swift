package import Logging
internal import Synchronization

/// A log level every logger of the process follows, so SIGHUP can change it: swift-log copies a
/// handler into each `Logger`, so a level stored in the handler could not be changed afterwards.
package final class SharedLogLevel: Sendable {
    private let level: Atomic<UInt8>
    private static let levels = Logger.Level.allCases

    package init(_ level: Logger.Level) {
        self.level = Atomic(UInt8(Self.levels.firstIndex(of: level) ?? 2))
    }

    package var value: Logger.Level {
        get { Self.levels[Int(level.load(ordering: .relaxed))] }
        set { level.store(UInt8(Self.levels.firstIndex(of: newValue) ?? 2), ordering: .relaxed) }
    }
}

/// A handler whose level is the ``SharedLogLevel``'s, around any other handler.
package struct LevelFollowingLogHandler: LogHandler {
    private var inner: any LogHandler
    private let shared: SharedLogLevel

    package init(_ inner: any LogHandler, level: SharedLogLevel) {
        self.inner = inner
        self.shared = level
    }

    package var logLevel: Logger.Level {
        get { shared.value }
        set { shared.value = newValue }
    }

    package var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    package var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    package func log(event: LogEvent) {
        inner.log(event: event)
    }
}
