internal import Locking

/// What one network ask has tried so far, and what it waits for now: read by the check that
/// stops waiting when its budget runs out, so that its answer still names every URL tried.
final class Progress: Sendable {
    private let state = LockedValue<(done: [RevocationDecision.Attempt], current: (RevocationDecision.Source, String?, ContinuousClock.Instant)?)>(
        ([], nil))

    func begin(_ source: RevocationDecision.Source, url: String?, at start: ContinuousClock.Instant) {
        state.withLock { $0.current = (source, url, start) }
    }

    /// The source waited for has answered (or, nil, had nothing to say).
    func end(_ attempt: RevocationDecision.Attempt?) {
        state.withLock {
            if let attempt { $0.done.append(attempt) }
            $0.current = nil
        }
    }

    /// What was tried; with `now`, the source still waited for too, as unanswered.
    func attempts(at now: ContinuousClock.Instant? = nil) -> [RevocationDecision.Attempt] {
        state.withLock { state in
            guard let now, let (source, url, start) = state.current else { return state.done }
            return state.done + [.init(source: source, url: url, status: nil, error: "no answer before the budget ran out", duration: now - start)]
        }
    }
}
