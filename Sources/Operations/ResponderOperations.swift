package import Foundation
package import HTTPServer
internal import Locking
package import Prometheus
package import Replication
package import Responder
internal import RevocationStore
internal import OCSPCore

/// What an operator watches: the Prometheus exposition behind `/metrics` and the readiness behind
/// `/readyz`, for one responder and its HTTP listeners.
///
/// Request counters live in each serving thread (``HTTPServer/requestMetrics``) and are summed
/// here when scraped; the rest is read from the responder and the store at scrape time (cached
/// for a second, so a flood of probes costs one store walk a second). Counters the libraries
/// keep through swift-metrics (signatures by reason, failures) reach the same registry through
/// the `PrometheusMetricsFactory` the executable bootstraps.
package final class ResponderOperations: OperationsEndpoints, Sendable {
    package struct Configuration: Sendable {
        /// How many refresh-queue entries to look at on each side of now (see
        /// ``RevocationStore/freshness(now:sample:limit:)``).
        package var freshnessSample = 1024
        /// How long a reading of the store stays good for further scrapes and probes.
        package var cacheSeconds: TimeInterval = 1

        package init() {}
    }

    /// What the store and the signers looked like at one moment.
    struct Observation: Sendable {
        let at: Date
        let freshness: RevocationStore.Freshness?
        let storeError: String?
        let signers: [OCSPResponder.SignerState]
        let crls: [(slug: String, thisUpdate: Date, nextUpdate: Date)]
    }

    package let registry: PrometheusCollectorRegistry
    private let responder: OCSPResponder
    private let configuration: Configuration
    /// The OCSP listener whose answers the metrics count (set once it started).
    private let server = LockedValue<HTTPServer?>(nil)
    private let folded = LockedValue<FoldedRequests>(FoldedRequests())
    private let lastObservation = LockedValue<Observation?>(nil)
    private let requestCounters: [[Counter]]
    /// The follower keeping the store a replica of the system of record (ocspd --follow).
    private let follower = LockedValue<Follower?>(nil)
    /// The PKCS#11 counts already added to the counters, by module.
    private let tokenCounts = LockedValue<[String: (reopens: Int, timeouts: Int)]>([:])

    /// - Parameter registry: the registry the process's `PrometheusMetricsFactory` writes to.
    package init(responder: OCSPResponder, registry: PrometheusCollectorRegistry, configuration: Configuration = Configuration()) {
        self.responder = responder
        self.registry = registry
        self.configuration = configuration
        requestCounters = OCSPStatusLabel.allCases.map { label in
            ["false", "true"].map { hit in
                registry.makeCounter(
                    descriptor: Self.descriptor(
                        "mtls_ocsp_requests_total",
                        "OCSP requests answered, by status and whether a stored or front-cached response answered"),
                    labels: [("status", label.name), ("cache_hit", hit)])
            }
        }
    }

    /// Sets the follower whose lag `/readyz` and `/metrics` show.
    package func attach(follower: Follower) {
        self.follower.withLock { $0 = follower }
    }

    /// Sets the listener whose answers the metrics count (the OCSP listener, once started).
    package func attach(_ server: HTTPServer) {
        self.server.withLock { $0 = server }
    }

    // MARK: - /metrics

    package func metricsExposition() -> [UInt8] {
        let now = Date()
        let requests = server.withLock { $0 }?.requestMetrics ?? RequestMetrics()
        fold(requests)
        update(observe(now: now), requests: requests, now: now)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(8192)
        registry.emit(into: &buffer)
        Self.emitHistogram(
            into: &buffer, name: "ocsp_request_duration_seconds",
            help: "Time from a whole OCSP request being in to its answer queued",
            bounds: RequestHistograms.latencySeconds, counts: requests.latencyBuckets, sum: requests.latencySumSeconds)
        Self.emitHistogram(
            into: &buffer, name: "ocsp_response_age_seconds", help: "Age (now - thisUpdate) of the OCSP responses served",
            bounds: RequestHistograms.ageSeconds, counts: requests.ageBuckets, sum: requests.ageSumSeconds)
        return buffer
    }

    /// The per-thread request counts already added to the registry's counters.
    private struct FoldedRequests {
        var counts = RequestMetrics().requests
    }

    /// Adds what the threads counted since the last scrape to `mtls_ocsp_requests_total`.
    private func fold(_ requests: RequestMetrics) {
        folded.withLock { folded in
            for label in OCSPStatusLabel.allCases {
                for hit in 0..<2 {
                    let delta = requests.requests[label.rawValue][hit] - folded.counts[label.rawValue][hit]
                    if delta > 0 { requestCounters[label.rawValue][hit].increment(by: Int64(delta)) }
                }
            }
            folded.counts = requests.requests
        }
    }

    private func gauge(_ name: String, _ help: String, labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
    }

    /// A metric's whole name (units included) and its help text.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Sets the gauges from one observation.
    private func update(_ observation: Observation, requests: RequestMetrics, now: Date) {
        gauge("ocsp_open_connections", "HTTP connections open now").set(to: Double(requests.openConnections))
        gauge("ocsp_store_readable", "1 when the store could be read at the last scrape")
            .set(to: observation.storeError == nil ? 1 : 0)
        if let freshness = observation.freshness {
            gauge("ocsp_store_bytes", "Bytes of the store file in use").set(to: Double(freshness.usedBytes))
            gauge("ocsp_store_map_bytes", "The most the store may grow to (LMDB map size)").set(to: Double(freshness.mapSize))
            gauge("ocsp_store_certificates", "Certificates in the store").set(to: Double(freshness.certificates))
            gauge("ocsp_store_responses", "Signed responses in the signature cache").set(to: Double(freshness.responses))
            gauge("ocsp_refresh_backlog", "Cached responses whose refresh time has passed")
                .set(to: Double(freshness.refreshBacklog))
            gauge("ocsp_refresh_lag_seconds", "How long the oldest due refresh has waited (0: none due)")
                .set(to: freshness.oldestDue.map { max(0, now.timeIntervalSince($0)) } ?? 0)
            if let earliest = freshness.earliestNextUpdate {
                // Absent until a response is cached: an empty cache is not one about to expire.
                gauge(
                    "ocsp_cached_response_min_remaining_seconds",
                    "Smallest remaining validity (nextUpdate - now) among the cached responses nearest their refresh"
                ).set(to: earliest.timeIntervalSince(now))
            }
            gauge("ocsp_cached_responses_expired", "Cached responses found past their nextUpdate (re-signed before serving)")
                .set(to: Double(freshness.expired))
        }
        for signer in observation.signers {
            let labels = [("issuer", signer.issuer.slug)]
            gauge("ocsp_signer_expiry_seconds", "Seconds until the signer certificate expires", labels: labels)
                .set(to: signer.notAfter.timeIntervalSince(now))
            gauge("ocsp_signer_ready", "1 when the issuer's signer can sign now", labels: labels)
                .set(to: signer.problem == nil ? 1 : 0)
        }
        for crl in observation.crls {
            let labels = [("issuer", crl.slug)]
            gauge("ocsp_crl_age_seconds", "Age (now - thisUpdate) of the issuer's complete CRL", labels: labels)
                .set(to: now.timeIntervalSince(crl.thisUpdate))
            gauge("ocsp_crl_remaining_seconds", "Seconds until the issuer's complete CRL's nextUpdate", labels: labels)
                .set(to: crl.nextUpdate.timeIntervalSince(now))
        }
        updateTokens()
        if let follower = follower.withLock({ $0 }) {
            let status = follower.status
            gauge("ocsp_follower_connected", "1 while the follower is connected to the system of record")
                .set(to: status.connected ? 1 : 0)
            gauge("ocsp_follower_lag_seconds", "How long the oldest committed change not yet applied has waited (0: caught up)")
                .set(to: status.lagSeconds)
            gauge("ocsp_follower_lag_records", "Committed changes not yet applied, as of the last read of the database")
                .set(to: Double(status.databaseSequence) - Double(min(status.appliedSequence, status.databaseSequence)))
            gauge("ocsp_follower_applied_sequence", "The last change applied (the audit sequence)")
                .set(to: Double(status.appliedSequence))
            gauge("ocsp_follower_seconds_since_caught_up", "Seconds since the follower last saw itself caught up (-1: not since start)")
                .set(to: status.caughtUpAt.map { now.timeIntervalSince($0) } ?? -1)
        }
        gauge("ocsp_ready", "1 when /readyz answers 200").set(to: readinessProblems(observation, now: now).isEmpty ? 1 : 0)
    }

    /// The PKCS#11 modules' state: up or not, signatures in the token and waiting, and counters
    /// of reopens and refused signatures (advanced by what the token counted since last time).
    private func updateTokens() {
        for token in PKCS11Token.statuses() {
            let labels = [("module", token.modulePath)]
            gauge("ocsp_pkcs11_token_up", "1 when the PKCS#11 token signs, 0 while it is lost or slow", labels: labels)
                .set(to: token.problem == nil ? 1 : 0)
            gauge("ocsp_pkcs11_signatures_in_progress", "Signatures in the PKCS#11 token now", labels: labels)
                .set(to: Double(token.inside))
            gauge("ocsp_pkcs11_signatures_waiting", "Signatures waiting for a place in the PKCS#11 token", labels: labels)
                .set(to: Double(token.waiting))
            let counted = tokenCounts.withLock { counts -> (reopens: Int, timeouts: Int) in
                defer { counts[token.modulePath] = (token.reopens, token.timeouts) }
                return counts[token.modulePath] ?? (0, 0)
            }
            registry.makeCounter(
                descriptor: Self.descriptor("ocsp_pkcs11_reopens_total", "Times the PKCS#11 module was reopened after a lost token"),
                labels: labels
            ).increment(by: Int64(token.reopens - counted.reopens))
            registry.makeCounter(
                descriptor: Self.descriptor(
                    "ocsp_pkcs11_refused_signatures_total", "Signatures refused for want of a place in the token in time (slow HSM)"),
                labels: labels
            ).increment(by: Int64(token.timeouts - counted.timeouts))
        }
    }

    /// A histogram in the text exposition format, from per-bucket (not cumulative) counts.
    static func emitHistogram(
        into buffer: inout [UInt8], name: String, help: String, bounds: [Double], counts: [Int], sum: Double
    ) {
        var text = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        var cumulative = 0
        for (index, bound) in bounds.enumerated() {
            cumulative += counts[index]
            text += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += counts[bounds.count]
        text += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n\(name)_sum \(sum)\n\(name)_count \(cumulative)\n"
        buffer.append(contentsOf: text.utf8)
    }

    // MARK: - /readyz

    package func readiness() -> (ready: Bool, body: [UInt8]) {
        let now = Date()
        let problems = readinessProblems(observe(now: now), now: now)
        let object: [String: Any] = problems.isEmpty ? ["ready": true] : ["ready": false, "reasons": problems]
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { Array($0) + [10] }
        return (problems.isEmpty, body ?? Array("{\"ready\":false}\n".utf8))
    }

    /// Why the responder should not take traffic now; empty when it should.
    func readinessProblems(_ observation: Observation, now: Date) -> [String] {
        var problems: [String] = []
        if let error = observation.storeError { problems.append("store unreadable: \(error)") }
        for signer in observation.signers {
            if let problem = signer.problem { problems.append("issuer \(signer.issuer.slug) cannot sign: \(problem)") }
        }
        if let freshness = observation.freshness, freshness.expired > 0 {
            problems.append(
                "\(freshness.expired) cached responses past their nextUpdate (the refresher is behind or cannot sign)")
        }
        for crl in observation.crls where crl.nextUpdate <= now {
            problems.append("the CRL of issuer \(crl.slug) expired at \(crl.nextUpdate)")
        }
        if let problem = follower.withLock({ $0 })?.readinessProblem(now: now) { problems.append(problem) }
        return problems
    }

    /// Reads the store and the signers, or returns the reading of the last second.
    func observe(now: Date) -> Observation {
        if let last = lastObservation.withLock({ $0 }), now.timeIntervalSince(last.at) >= 0,
            now.timeIntervalSince(last.at) < configuration.cacheSeconds
        {
            return last
        }
        var freshness: RevocationStore.Freshness? = nil
        var storeError: String? = nil
        var signers: [OCSPResponder.SignerState] = []
        var crls: [(slug: String, thisUpdate: Date, nextUpdate: Date)] = []
        do {
            freshness = try responder.store.freshness(now: now, sample: configuration.freshnessSample)
            signers = try responder.signerStates(now: now)
            // Every stored complete CRL, whoever made it (ocspd's scheduler or ocspctl): ocspd serves them.
            for issuer in try responder.store.allIssuers() {
                let slug = issuer.id.slug
                let crl = try responder.storedCRL(slug: slug, scope: .full) ?? responder.storedCRL(slug: slug, scope: .shard(0))
                if let crl { crls.append((slug, crl.thisUpdate, crl.nextUpdate)) }
            }
        } catch {
            storeError = "\(error)"
        }
        let observation = Observation(at: now, freshness: freshness, storeError: storeError, signers: signers, crls: crls)
        lastObservation.withLock { $0 = observation }
        return observation
    }
}
