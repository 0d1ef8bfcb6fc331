import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

extension OCSPLoad {
    func run() throws {
        do {
            if !plotFrom.isEmpty { return try drawPlotFromReports() }
            let report = try runLoad()
            guard let report else { return }
            print(report.table)
            if let json { try write(report: report, to: json) }
            if let plot {
                let plotText = LatencyPlot(
                    title: "OCSP responder latency by percentile", subtitle: Self.subtitle(report),
                    series: [LatencyPlot.Series(report: report)]
                ).svg()
                try writeText(plotText, to: plot)
            }
            if report.errorCount > 0 || report.requests == 0 {
                if report.requests == 0 { printError("ocsp-load: no answers were measured") }
                throw ExitCode(1)
            }
        } catch let error as LoadError {
            printError("ocsp-load: \(error)")
            throw ExitCode(1)
        }
    }

    /// Runs the load; nil when there was nothing to run (`--write-requests`).
    private func runLoad() throws -> LoadReport? {
        // A URL for the request bytes even with --write-requests, where it does not matter.
        var target = try TargetURL(parsing: url ?? "http://127.0.0.1:80/")
        target.getEncoding = getEncoding
        let requestSet: RequestSet
        if let requests {
            requestSet = try RequestSet.fromFile(path: requests, target: target, limit: limit, storePath: store)
        } else {
            requestSet = try RequestSet.fromStore(
                path: store ?? "", target: target, limit: limit, issuerPath: issuer, nonce: nonce)
        }
        if let writeRequests {
            try requestSet.write(to: writeRequests)
            printError("ocsp-load: wrote \(requestSet.requests.count) requests to \(writeRequests)")
        }
        if let writeResponses, let store {
            let written = try requestSet.writeResponses(to: writeResponses, storePath: store)
            printError("ocsp-load: wrote \(written) responses to \(writeResponses)")
        }
        if writeRequests != nil || writeResponses != nil { return nil }

        let threadCount = min(threads ?? System.coreCount, connections)
        let warmupNanos = DurationArgument.nanoseconds(warmup) ?? 0
        let windowNanos =
            DurationArgument.nanoseconds(duration ?? (requestsTotal == nil ? "5s" : "60s")) ?? 5_000_000_000
        let timeoutNanos = DurationArgument.nanoseconds(timeout) ?? 5_000_000_000
        let startedAt = Date()
        let start = MonotonicClock.now()
        let plan = LoadPlan(
            target: target, requests: requestSet.requests, method: method, postFraction: postFraction,
            connections: connections, threads: threadCount, rate: rate, measureStart: start + warmupNanos,
            deadline: start + warmupNanos + windowNanos, requestsTotal: requestsTotal, timeout: timeoutNanos,
            verifySample: verifySample,
            picker: RequestPicker(order: order, count: requestSet.requests.count, exponent: zipfExponent))
        let configuration = LoadReport.Configuration(
            url: target.description, mode: rate == nil ? "closed" : "open", method: method,
            postFraction: method == .mix ? postFraction : nil, connections: connections, threads: threadCount,
            durationSeconds: Double(windowNanos) / 1e9, warmupSeconds: Double(warmupNanos) / 1e9,
            requestsTotal: requestsTotal, rate: rate, timeoutSeconds: Double(timeoutNanos) / 1e9,
            verifySample: verifySample, requestSource: requestSet.source, distinctRequests: requestSet.requests.count,
            order: order == .zipf ? "zipf \(zipfExponent)" : order.rawValue)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: threadCount)
        defer { try? group.syncShutdownGracefully() }
        let verifier = ResponseVerifier(requests: requestSet.requests)
        var results: [EventLoopFuture<LoadStatistics>] = []
        var first = 0
        for (index, eventLoop) in group.makeIterator().enumerated() {
            let count = connections / threadCount + (index < connections % threadCount ? 1 : 0)
            let indices = first..<(first + count)
            first += count
            let done = eventLoop.makePromise(of: LoadStatistics.self)
            eventLoop.execute {
                LoadWorker(plan: plan, eventLoop: eventLoop, verifier: verifier, connectionIndices: indices, done: done)
                    .start()
            }
            results.append(done.futureResult)
        }
        var statistics = LoadStatistics()
        for result in results { statistics.merge(try result.wait()) }
        let verification = verifier.finish()

        // The window: as asked, or up to the last answer when --requests-total ended it early.
        var window = plan.deadline - plan.measureStart
        if requestsTotal != nil, statistics.lastCompletion > plan.measureStart {
            window = min(window, statistics.lastCompletion - plan.measureStart)
        }
        let sampled = verification.checked + verification.skipped
        return LoadReport(
            configuration: configuration, label: label ?? Self.defaultLabel(configuration), startedAt: startedAt,
            statistics: statistics, verification: verification, sampled: sampled, window: window)
    }

    private func drawPlotFromReports() throws {
        let decoder = JSONDecoder()
        let reports = try plotFrom.map { path in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw LoadError("--plot-from \(path): cannot read the file")
            }
            do { return try decoder.decode(LoadReport.self, from: data) } catch {
                throw LoadError("--plot-from \(path): not an ocsp-load JSON report (\(error))")
            }
        }
        let subtitle = reports.count == 1 ? Self.subtitle(reports[0]) : "\(reports.count) runs, \(reports[0].date)"
        let text = LatencyPlot(
            title: label ?? "OCSP responder latency by percentile", subtitle: subtitle,
            series: reports.map(LatencyPlot.Series.init(report:))
        ).svg()
        try writeText(text, to: plot ?? "")
    }

    private static func defaultLabel(_ c: LoadReport.Configuration) -> String {
        "\(c.method.rawValue.uppercased()) \(c.mode) loop, \(c.connections) conn"
    }

    private static func subtitle(_ report: LoadReport) -> String {
        let c = report.configuration
        let mode = c.rate.map { "open loop \(format($0, 0)) req/s" } ?? "closed loop"
        return "\(c.url) · \(mode) · \(c.connections) connections · \(format(report.durationSeconds, 1)) s · "
            + "\(report.requests) requests · \(report.date)"
    }

    private func write(report: LoadReport, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(report)
        try writeText(String(decoding: data, as: UTF8.self) + "\n", to: path)
    }

    private func writeText(_ text: String, to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw LoadError("cannot write \(path): \(error)")
        }
    }

    private func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
