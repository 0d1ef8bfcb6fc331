/// A clock as the stapler uses one: the time elapsed since it was made, and sleeping. It wraps
/// any `Clock<Duration>` (`ContinuousClock` in production, a manual one in tests), whose
/// instants an existential could not compare.
struct StaplerClock: Sendable {
    /// Time elapsed on the clock since this was made.
    let elapsed: @Sendable () -> Duration
    private let sleeper: @Sendable (Duration) async throws -> Void

    init(_ clock: some Clock<Duration>) {
        let start = clock.now
        elapsed = { start.duration(to: clock.now) }
        sleeper = { try await clock.sleep(for: $0) }
    }

    /// Sleeps `duration` on the clock.
    /// - Throws: `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws { try await sleeper(duration) }
}
