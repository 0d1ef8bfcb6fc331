internal import Foundation
internal import Locking

/// A token bucket: `rate` tokens a second, holding at most `rate` (one second of burst).
final class TokenBucket: Sendable {
    private struct State {
        var tokens: Double
        var last: Date
        var rate: Double
    }
    private let state: LockedValue<State>

    init(rate: Double) {
        state = LockedValue(State(tokens: rate, last: Date(), rate: rate))
    }

    /// Changes the rate (and the burst with it); tokens above the new burst are dropped.
    func setRate(_ rate: Double) {
        state.withLock { state in
            state.rate = rate
            state.tokens = min(state.tokens, rate)
        }
    }

    /// Takes one token if there is one.
    func tryAcquire(now: Date) -> Bool {
        state.withLock { state in
            let rate = state.rate
            state.tokens = min(rate, state.tokens + max(0, now.timeIntervalSince(state.last)) * rate)
            state.last = max(state.last, now)
            guard state.tokens >= 1 else { return false }
            state.tokens -= 1
            return true
        }
    }
}
