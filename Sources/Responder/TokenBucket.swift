internal import Foundation
internal import Locking

/// A token bucket: `rate` tokens a second, holding at most `rate` (one second of burst).
final class TokenBucket: Sendable {
    private struct State {
        var tokens: Double
        var last: Date
    }
    private let rate: Double
    private let state: LockedValue<State>

    init(rate: Double) {
        self.rate = rate
        state = LockedValue(State(tokens: rate, last: Date()))
    }

    /// Takes one token if there is one.
    func tryAcquire(now: Date) -> Bool {
        state.withLock { state in
            state.tokens = min(rate, state.tokens + max(0, now.timeIntervalSince(state.last)) * rate)
            state.last = max(state.last, now)
            guard state.tokens >= 1 else { return false }
            state.tokens -= 1
            return true
        }
    }
}
