/// The reload command as an output: told of every change, it runs as its rate limit allows
/// (``ReloadHook/stapleChanged()``) and reports its runs itself (`onRun`, its log lines).
extension ReloadHook: StapleOutput {
    public nonisolated var name: String { "reload" }
    public nonisolated var recipient: String { "the reload command" }
    public nonisolated var channel: String { "by running it" }
    public nonisolated var trigger: StapleOutputTrigger { .onChange }

    public func deliver(_ staple: DeliveredStaple, for target: StapleTarget) async throws { stapleChanged() }

    /// An expired staple was removed: the server must drop it too.
    public func withdraw(for target: StapleTarget) async throws { stapleChanged() }

    /// Cancels a run not started yet.
    public func stop() async { cancel() }

    // One hook is one output, whatever its settings.
    public nonisolated static func == (lhs: ReloadHook, rhs: ReloadHook) -> Bool { lhs === rhs }
    public nonisolated func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
