internal import Foundation
internal import Locking
package import OCSPStapling
internal import Prometheus

/// The stapler's Prometheus exposition, per certificate (label `certificate`), read from the
/// service's states when scraped. Names follow ocspd's conventions: `ocsp_` prefix, units in
/// the name, `_total` for counters. A certificate that is no longer watched loses its series.
package final class StaplerMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let service: StaplingService
    private let reloads: Counter
    private let reloadFailures: Counter
    /// Per certificate: the series made for it, and the failure counts already counted.
    private let known = LockedValue<[String: Series]>([:])

    private struct Series {
        /// By metric name and status label.
        var gauges: [String: Gauge] = [:]
        var counters: [Counter] = []
        /// By counter name: how much of the state's total is counted.
        var counted: [String: Int] = [:]
    }

    package init(service: StaplingService) {
        self.service = service
        let runs = Self.descriptor("ocsp_stapler_reloads_total", "Reload command runs, by result")
        reloads = registry.makeCounter(descriptor: runs, labels: [("result", "ok")])
        reloadFailures = registry.makeCounter(descriptor: runs, labels: [("result", "failed")])
    }

    /// Counts one run of the reload command.
    package func reloadRan(succeeded: Bool) {
        (succeeded ? reloads : reloadFailures).increment()
    }

    package func exposition() -> [UInt8] {
        let now = Date()
        let states = service.states()
        known.withLock { known in
            for name in known.keys where states[name] == nil {
                for gauge in known[name]!.gauges.values { registry.unregisterGauge(gauge) }
                for counter in known[name]!.counters { registry.unregisterCounter(counter) }
                known[name] = nil
            }
            for (name, state) in states {
                var series = known[name] ?? Series()
                let previous = series.gauges
                series.gauges = [:]
                let labels = [("certificate", name)]
                func gauge(_ metric: String, _ help: String, _ value: Double, extra: [(String, String)] = []) {
                    let gauge = registry.makeGauge(descriptor: Self.descriptor(metric, help), labels: labels + extra)
                    gauge.set(to: value)
                    series.gauges[metric + (extra.first.map { "|" + $0.1 } ?? "")] = gauge
                }
                func count(_ metric: String, _ help: String, total: Int) {
                    let counter = registry.makeCounter(descriptor: Self.descriptor(metric, help), labels: labels)
                    let counted = series.counted[metric] ?? 0
                    if total > counted { counter.increment(by: Int64(total - counted)) }
                    series.counted[metric] = total
                    if !series.counters.contains(where: { $0 === counter }) { series.counters.append(counter) }
                }
                let staple = state.staple
                gauge("ocsp_stapler_staple_valid", "1 when the staple file holds a staple that verifies", staple == nil ? 0 : 1)
                // Absent rather than 0 without a staple: "no staple" is not "a brand new one".
                for (metric, help, value) in [
                    ("ocsp_stapler_staple_age_seconds", "Seconds since the staple's thisUpdate", staple.map { now.timeIntervalSince($0.thisUpdate) }),
                    ("ocsp_stapler_staple_expiry_seconds", "Seconds until the staple's nextUpdate", staple.map { $0.nextUpdate.timeIntervalSince(now) }),
                    ("ocsp_stapler_next_refresh_seconds", "Seconds until the next fetch", state.nextAttempt.map { $0.timeIntervalSince(now) }),
                ] {
                    if let value { gauge(metric, help, value) }
                }
                for status in Stapler.Outcome.Status.allCases {
                    gauge(
                        "ocsp_stapler_status", "1 for the result of the last fetch (good, revoked, unknown, failed)",
                        state.lastStatus == status ? 1 : 0, extra: [("status", status.rawValue)])
                }
                gauge("ocsp_stapler_must_staple", "1 when the certificate asks for must-staple (TLS Feature)", state.mustStaple ? 1 : 0)
                count(
                    "ocsp_stapler_fetch_failures_total", "Fetches that failed (unreachable, not verifying, unreadable certificate)",
                    total: state.fetchFailures)
                // Per output that takes staples until delivered (HAProxy, Envoy), by its name.
                for output in state.target.outputs where output.trigger == .untilDelivered {
                    let updates = "ocsp_stapler_\(output.name)_updates_total"
                    let failures = "ocsp_stapler_\(output.name)_update_failures_total"
                    count(
                        updates, "Staples handed to \(output.recipient) \(output.channel)",
                        total: state.deliveries[output.name] ?? 0)
                    count(
                        failures, "Staples \(output.recipient) refused or could not be given",
                        total: state.deliveryFailures[output.name] ?? 0)
                }
                // A series with no value now (the staple expired) goes, rather than showing a stale one.
                for (key, gauge) in previous where series.gauges[key] == nil { registry.unregisterGauge(gauge) }
                known[name] = series
            }
        }
        registry.makeGauge(descriptor: Self.descriptor("ocsp_stapler_certificates", "Certificates whose staples are kept"))
            .set(to: Double(states.count))
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1024 + 512 * states.count)
        registry.emit(into: &buffer)
        return buffer
    }

    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
