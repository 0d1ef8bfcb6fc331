internal import Locking

/// `body`'s result, or nil if it takes longer than `limit` (it is then cancelled). The caller
/// gets nil at the limit even when `body` ignores cancellation (it may be waiting on a fetch
/// another check shares).
func withDeadline<Value: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async -> Value) async -> Value? {
    guard limit > .zero else { return nil }
    let outcome = LockedValue<(resumed: Bool, work: Task<Void, Never>?, timer: Task<Void, Never>?)>((false, nil, nil))
    return await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
        func finish(_ value: Value?) {
            let tasks = outcome.withLock { state -> (Task<Void, Never>?, Task<Void, Never>?)? in
                guard !state.resumed else { return nil }
                state.resumed = true
                return (state.work, state.timer)
            }
            guard let tasks else { return }
            tasks.0?.cancel()
            tasks.1?.cancel()
            continuation.resume(returning: value)
        }
        let work = Task { finish(await body()) }
        let timer = Task {
            try? await Task.sleep(for: limit)
            if !Task.isCancelled { finish(nil) }
        }
        let late = outcome.withLock { state -> Bool in
            state.work = work
            state.timer = timer
            return state.resumed
        }
        if late {
            work.cancel()
            timer.cancel()
        }
    }
}
