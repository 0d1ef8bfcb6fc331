public import Foundation

/// When to fetch a certificate's staple again.
///
/// - After a staple was fetched: at ``refreshFraction`` of its validity window (thisUpdate to
///   nextUpdate), moved by up to ``jitterFraction`` of the window either way so that many
///   certificates with the same window do not all ask at once; never later than
///   nextUpdate − margin, where the margin is ``margin`` or a quarter of the window if that is
///   shorter (a one-minute test validity must not be refreshed "five minutes before"). An answer
///   already due (the responder has not re-signed since the last fetch) is asked again after
///   ``retryMinimum``, or sooner when the latest time is near, never in a loop.
/// - After a failure: exponential backoff from ``retryMinimum`` (1 min), doubling up to
///   ``retryMaximum``, with ±10 % jitter; but while a valid staple is in place, a retry comes no
///   later than halfway to its nextUpdate (and never sooner than ``retryMinimum``), so a long
///   backoff cannot outlast the staple it protects.
public struct RefreshPolicy: Sendable, Hashable {
    public var refreshFraction: Double
    public var jitterFraction: Double
    public var margin: Duration
    public var retryMinimum: Duration
    public var retryMaximum: Duration

    public init(
        refreshFraction: Double = 0.5, jitterFraction: Double = 0.1, margin: Duration = .seconds(300),
        retryMinimum: Duration = .seconds(60), retryMaximum: Duration = .seconds(3600)
    ) {
        self.refreshFraction = refreshFraction
        self.jitterFraction = jitterFraction
        self.margin = margin
        self.retryMinimum = retryMinimum
        self.retryMaximum = retryMaximum
    }

    /// What is wrong with these settings, if anything (one line each, for a usage error).
    public var problems: [String] {
        var problems: [String] = []
        if !(refreshFraction > 0 && refreshFraction < 1) { problems.append("the refresh fraction must be between 0 and 1 (exclusive)") }
        if !(jitterFraction >= 0 && jitterFraction < refreshFraction) {
            problems.append("the jitter must be at least 0 and less than the refresh fraction")
        }
        if margin < .zero { problems.append("the margin must not be negative") }
        if retryMinimum <= .zero { problems.append("the minimum retry delay must be positive") }
        if retryMaximum < retryMinimum { problems.append("the maximum retry delay must be at least the minimum") }
        return problems
    }

    /// The margin kept before nextUpdate for a window this long.
    public func effectiveMargin(window: TimeInterval) -> TimeInterval {
        min(margin.seconds, max(0, window) / 4)
    }

    /// When to refresh a staple valid from `thisUpdate` to `nextUpdate`.
    /// - Parameters:
    ///   - thisUpdate: the staple's thisUpdate.
    ///   - nextUpdate: the staple's nextUpdate.
    ///   - now: the current time.
    ///   - jitter: a number in -1...1 (random in production) scaling the jitter.
    public func nextRefresh(thisUpdate: Date, nextUpdate: Date, now: Date, jitter: Double) -> Date {
        let window = nextUpdate.timeIntervalSince(thisUpdate)
        let latest = nextUpdate.addingTimeInterval(-effectiveMargin(window: window))
        let planned = thisUpdate.addingTimeInterval(window * (refreshFraction + jitterFraction * max(-1, min(1, jitter))))
        let candidate = min(planned, latest)
        if candidate > now { return candidate }
        // Already due: the responder has not re-signed yet (it answered with the response fetched
        // before), or the staple was found late in its window. Ask again soon, but not in a loop:
        // after the minimum retry delay, or halfway to the latest time if that is sooner, and
        // after a second at least.
        let untilLatest = latest.timeIntervalSince(now)
        return now.addingTimeInterval(max(1, min(retryMinimum.seconds, untilLatest / 2)))
    }

    /// How long to wait after `failures` consecutive failures (1 for the first).
    /// - Parameters:
    ///   - failures: how many refreshes in a row have failed, this one included.
    ///   - validUntil: the nextUpdate of the staple still in place, if one is.
    ///   - now: the current time.
    ///   - jitter: a number in -1...1 scaling ±10 % of the delay.
    public func retryDelay(failures: Int, validUntil: Date?, now: Date, jitter: Double) -> TimeInterval {
        let doublings = Double(max(0, min(failures - 1, 40)))
        var delay = min(retryMaximum.seconds, retryMinimum.seconds * pow(2, doublings))
        delay *= 1 + 0.1 * max(-1, min(1, jitter))
        if let validUntil {
            let halfway = validUntil.timeIntervalSince(now) / 2
            delay = min(delay, max(halfway, retryMinimum.seconds))
        }
        return max(delay, 0.1)
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
