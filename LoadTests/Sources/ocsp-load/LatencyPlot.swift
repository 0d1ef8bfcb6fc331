import Foundation

/// An SVG percentile-distribution plot in the style of HdrHistogram's plotter: latency (linear, y)
/// against percentile on a `log10(1 / (1 - p))` axis (x), so 90 %, 99 %, 99.9 %, … are equally
/// spaced and the tail is as visible as the median. One line per run.
struct LatencyPlot {
    struct Series {
        var label: String
        /// Percentiles 0…100 and latencies in microseconds, by increasing percentile.
        var points: [LoadReport.Point]
        /// Responses behind the points (decides how far right the x axis goes).
        var count: Int
    }

    var title: String
    var subtitle: String
    var series: [Series]

    private static let width = 960.0
    private static let height = 600.0
    private static let left = 90.0
    private static let right = 40.0
    private static let top = 78.0
    private static let bottom = 70.0
    /// The legend's line height (the legend goes under the plot, which is `height` tall).
    private static let legendRow = 20.0
    private static let colours = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
        "#bcbd22", "#000000", "#aec7e8",
    ]

    /// The SVG document.
    func svg() -> String {
        let plotWidth = Self.width - Self.left - Self.right
        let plotHeight = Self.height - Self.top - Self.bottom
        let totalHeight = Self.height + Self.legendRow * Double(series.count) + 10
        // x: as many nines as the largest run can resolve, 2…6.
        let largest = Double(series.map(\.count).max() ?? 1)
        let decades = Swift.min(6, Swift.max(2, Int(log10(Swift.max(largest, 1)).rounded(.up))))
        let peak = series.flatMap { $0.points.map(\.microseconds) }.max() ?? 1
        let milliseconds = peak >= 2000
        let scale = milliseconds ? 1000.0 : 1.0
        let (yMax, yStep) = Self.niceAxis(Swift.max(peak / scale, 0.001))
        // Runs an order of magnitude apart share a log y axis, or the fast ones lie flat on zero.
        let p99s = series.filter { !$0.points.isEmpty }.map { Self.value(at: 99, in: $0.points) }
        let logarithmic = p99s.count > 1 && (p99s.max() ?? 1) > 10 * Swift.max(p99s.min() ?? 1, 0.001)
        let floorValue = series.flatMap { $0.points.map(\.microseconds) }.filter { $0 > 0 }.min() ?? 1
        let logMin = floor(log10(Swift.max(floorValue / scale, 1e-3)))
        let logMax = Swift.max(logMin + 1, ceil(log10(Swift.max(peak / scale, 1e-3))))

        func x(_ percentile: Double) -> Double {
            let fraction = Swift.min(percentile / 100, 1)
            let position = fraction >= 1 ? Double(decades) : Swift.min(Double(decades), log10(1 / (1 - fraction)))
            return Self.left + position / Double(decades) * plotWidth
        }
        func y(_ microseconds: Double) -> Double {
            let fraction: Double
            if logarithmic {
                let value = log10(Swift.max(microseconds / scale, pow(10, logMin)))
                fraction = (value - logMin) / (logMax - logMin)
            } else {
                fraction = microseconds / scale / yMax
            }
            return Self.top + plotHeight - Swift.min(fraction, 1.02) * plotHeight
        }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="\(Int(totalHeight))" \
            viewBox="0 0 \(Int(Self.width)) \(Int(totalHeight))" \
            font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Self.left)" y="30" font-size="18" font-weight="bold">\(Self.escape(title))</text>
            <text x="\(Self.left)" y="52" fill="#555">\(Self.escape(subtitle))</text>

            """
        // Grid and axes.
        var ticks: [(value: Double, label: String)] = []
        if logarithmic {
            for exponent in Int(logMin)..<Int(logMax) {
                for mantissa in [1.0, 2, 5] {
                    let value = mantissa * pow(10, Double(exponent))
                    ticks.append((value, Self.tickLabel(value, step: Swift.min(value, 1))))
                }
            }
            ticks.append((pow(10, logMax), Self.tickLabel(pow(10, logMax), step: Swift.min(pow(10, logMax), 1))))
        } else {
            var tick = 0.0
            while tick <= yMax + yStep / 2 {
                ticks.append((tick, Self.tickLabel(tick, step: yStep)))
                tick += yStep
            }
        }
        for tick in ticks {
            let position = y(tick.value * scale)
            svg +=
                "<line x1=\"\(r(Self.left))\" y1=\"\(r(position))\" x2=\"\(r(Self.left + plotWidth))\" "
                + "y2=\"\(r(position))\" stroke=\"#e4e4e4\"/>\n"
            svg +=
                "<text x=\"\(r(Self.left - 8))\" y=\"\(r(position + 4))\" text-anchor=\"end\">\(tick.label)</text>\n"
        }
        for decade in 0...decades {
            let position = Self.left + Double(decade) / Double(decades) * plotWidth
            svg +=
                "<line x1=\"\(r(position))\" y1=\"\(r(Self.top))\" x2=\"\(r(position))\" "
                + "y2=\"\(r(Self.top + plotHeight))\" stroke=\"#e4e4e4\"/>\n"
            svg +=
                "<text x=\"\(r(position))\" y=\"\(r(Self.top + plotHeight + 20))\" text-anchor=\"middle\">"
                + "\(Self.percentileLabel(decade))</text>\n"
        }
        svg +=
            "<rect x=\"\(r(Self.left))\" y=\"\(r(Self.top))\" width=\"\(r(plotWidth))\" height=\"\(r(plotHeight))\" "
            + "fill=\"none\" stroke=\"#444\"/>\n"
        svg +=
            "<text x=\"\(r(Self.left + plotWidth / 2))\" y=\"\(r(Self.height - 22))\" text-anchor=\"middle\">"
            + "Percentile (log scale of 1/(1-p))</text>\n"
        let yTitleX = 24.0
        let yTitleY = Self.top + plotHeight / 2
        svg +=
            "<text x=\"\(r(yTitleX))\" y=\"\(r(yTitleY))\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 \(r(yTitleX)) \(r(yTitleY)))\">"
            + "Latency (\(milliseconds ? "ms" : "µs")\(logarithmic ? ", log scale" : ""))</text>\n"

        // The lines.
        for (index, run) in series.enumerated() where !run.points.isEmpty {
            let colour = Self.colours[index % Self.colours.count]
            let coordinates = run.points.map { "\(r(x($0.percentile))),\(r(y($0.microseconds)))" }
            svg +=
                "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" stroke-linejoin=\"round\" "
                + "points=\"\(coordinates.joined(separator: " "))\"/>\n"
        }
        // Legend, under the plot: it never hides a line.
        for (index, run) in series.enumerated() {
            let colour = Self.colours[index % Self.colours.count]
            let rowY = Self.height + Self.legendRow * Double(index) + 4
            svg +=
                "<line x1=\"\(r(Self.left))\" y1=\"\(r(rowY - 4))\" "
                + "x2=\"\(r(Self.left + 28))\" y2=\"\(r(rowY - 4))\" stroke=\"\(colour)\" stroke-width=\"3\"/>\n"
            svg += "<text x=\"\(r(Self.left + 36))\" y=\"\(r(rowY))\">\(Self.escape(run.label))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// The latency at `percentile` in a run's distribution (the first point at or above it).
    static func value(at percentile: Double, in points: [LoadReport.Point]) -> Double {
        (points.first { $0.percentile >= percentile } ?? points.last)?.microseconds ?? 0
    }

    /// A round axis maximum ≥ `value` and a step giving 4–10 ticks (1, 2 or 5 × 10ⁿ).
    static func niceAxis(_ value: Double) -> (maximum: Double, step: Double) {
        let rough = value / 8
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        return ((value / step).rounded(.up) * step, step)
    }

    private static func tickLabel(_ value: Double, step: Double) -> String {
        let decimals = step >= 1 ? 0 : Int((-log10(step)).rounded(.up))
        return String(format: "%.\(decimals)f", value)
    }

    /// 0 → "0%", 1 → "90%", 2 → "99%", 3 → "99.9%", …
    private static func percentileLabel(_ decade: Int) -> String {
        switch decade {
        case 0: "0%"
        case 1: "90%"
        case 2: "99%"
        default: "99." + String(repeating: "9", count: decade - 2) + "%"
        }
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    private func r(_ value: Double) -> String { String(format: "%.1f", value) }
}

extension LatencyPlot.Series {
    /// The line of one report, labelled with its throughput and p99.
    init(report: LoadReport) {
        let p99 = report.latencyMicroseconds.p99
        let p99Text = p99 >= 1000 ? "\(format(p99 / 1000, 2)) ms" : "\(format(p99, 0)) µs"
        self.init(
            label: "\(report.label): \(format(report.requestsPerSecond, 0)) req/s, p99 \(p99Text)",
            points: report.percentileDistribution, count: report.requests)
    }
}
