internal import Foundation
public import Logging

/// A command run when a staple changed, for servers that read staples only at start (nginx's
/// `ssl_stapling_file`: `nginx -s reload`).
///
/// It runs only after a change, and at most once per ``minimumInterval``: changes that come
/// sooner are coalesced into one run at the end of the interval, however many there were.
public actor ReloadHook {
    public let command: String
    public let minimumInterval: Duration
    /// How long the command may run before it is killed.
    public let timeout: Duration
    private let logger: Logger
    private let onRun: @Sendable (_ succeeded: Bool) -> Void
    private let clock: StaplerClock
    /// When the command last started, on ``clock``.
    private var lastRun: Duration?
    private var pending: Task<Void, Never>?

    /// - Parameters:
    ///   - command: the shell command to run.
    ///   - minimumInterval: the least time between two runs.
    ///   - timeout: how long the command may run before it is killed.
    ///   - logger: where each run and its failures are logged.
    ///   - clock: what the interval is measured and waited on (tests give a manual one).
    ///   - onRun: told after each run whether the command succeeded (for metrics).
    public init(
        command: String, minimumInterval: Duration = .seconds(30), timeout: Duration = .seconds(60), logger: Logger,
        clock: any Clock<Duration> = ContinuousClock(), onRun: @escaping @Sendable (_ succeeded: Bool) -> Void = { _ in }
    ) {
        self.command = command
        self.minimumInterval = minimumInterval
        self.timeout = timeout
        self.logger = logger
        self.clock = StaplerClock(clock)
        self.onRun = onRun
    }

    /// Whether a run is scheduled and not started yet.
    var isPending: Bool { pending != nil }

    /// A staple changed: run the command now, or once at the end of the current interval.
    public func stapleChanged() {
        guard pending == nil else { return }
        let wait = lastRun.map { $0 + minimumInterval - clock.elapsed() } ?? .zero
        pending = Task {
            if wait > .zero { try? await clock.sleep(for: wait) }
            guard !Task.isCancelled else { return }
            await run()
        }
    }

    /// Cancels a run not started yet (at shutdown).
    public func cancel() {
        pending?.cancel()
        pending = nil
    }

    /// Runs the command now (for a one-shot run, after its staples changed); whether it succeeded.
    @discardableResult
    public func run() async -> Bool {
        pending = nil
        lastRun = clock.elapsed()
        let (status, output) = await Self.execute(command, timeout: timeout, clock: clock)
        let metadata: Logger.Metadata = ["command": "\(command)", "exit_status": "\(status)", "output": "\(output)"]
        if status == 0 {
            logger.info("reload command run after a staple changed", metadata: metadata)
        } else {
            logger.error("the reload command failed", metadata: metadata)
        }
        onRun(status == 0)
        return status == 0
    }

    /// Runs `/bin/sh -c command`; returns its exit status (−1 if it could not start or was killed
    /// at the timeout) and the last 512 bytes of its output (kept in a temporary file, so a
    /// talkative command cannot block on a full pipe).
    /// - Parameter clock: what the timeout is waited on.
    static func execute(
        _ command: String, timeout: Duration, clock: StaplerClock = StaplerClock(ContinuousClock())
    ) async -> (Int32, String) {
        let outputPath = NSTemporaryDirectory() + "ocsp-stapler-hook-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        guard FileManager.default.createFile(atPath: outputPath, contents: nil),
            let output = FileHandle(forWritingAtPath: outputPath)
        else { return (-1, "cannot create \(outputPath)") }
        defer {
            try? output.close()
            unlink(outputPath)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let (exited, exit) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in exit.finish() }
        do {
            try process.run()
        } catch {
            return (-1, "cannot start /bin/sh: \(error)")
        }
        let pid = process.processIdentifier
        let watchdog = Task {
            try? await clock.sleep(for: timeout)
            // Foundation starts the child as the leader of a process group of its own: the whole
            // group goes, as a grandchild left behind would hold the descriptor Foundation
            // watches for the exit.
            if !Task.isCancelled { kill(getpgid(pid) == pid ? -pid : pid, SIGKILL) }
        }
        for await _ in exited {}
        watchdog.cancel()
        let text = String(decoding: (FileManager.default.contents(atPath: outputPath) ?? Data()).suffix(512), as: UTF8.self)
        return (
            process.terminationReason == .exit ? process.terminationStatus : -1,
            text.trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }
}
