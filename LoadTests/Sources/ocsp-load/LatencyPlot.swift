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
    private static let colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// The SVG document.
    func svg() -> String {
        let plotWidth = Self.width - Self.left - Self.right
        let plotHeight = Self.height - Self.top - Self.bottom
        // x: as many nines as the largest run can resolve, 2…6.
        let largest = Double(series.map(\.count).max() ?? 1)
        let decades = Swift.min(6, Swift.max(2, Int(log10(Swift.max(largest, 1)).rounded(.up))))
        let peak = series.flatMap { $0.points.map(\.microseconds) }.max() ?? 1
        let milliseconds = peak >= 2000
        let scale = milliseconds ? 1000.0 : 1.0
        let (yMax, yStep) = Self.niceAxis(Swift.max(peak / scale, 0.001))

        func x(_ percentile: Double) -> Double {
            let fraction = Swift.min(percentile / 100, 1)
            let position = fraction >= 1 ? Double(decades) : Swift.min(Double(decades), log10(1 / (1 - fraction)))
            return Self.left + position / Double(decades) * plotWidth
        }
        func y(_ microseconds: Double) -> Double {
            Self.top + plotHeight - Swift.min(microseconds / scale / yMax, 1.02) * plotHeight
        }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="\(Int(Self.height))" \
            viewBox="0 0 \(Int(Self.width)) \(Int(Self.height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" \
            font-size="13">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Self.left)" y="30" font-size="18" font-weight="bold">\(Self.escape(title))</text>
            <text x="\(Self.left)" y="52" fill="#555">\(Self.escape(subtitle))</text>

            """
        // Grid and axes.
        var tick = 0.0
        while tick <= yMax + yStep / 2 {
            let position = y(tick * scale)
            svg += "<line x1=\"\(r(Self.left))\" y1=\"\(r(position))\" x2=\"\(r(Self.left + plotWidth))\" "
                + "y2=\"\(r(position))\" stroke=\"#e4e4e4\"/>\n"
            svg += "<text x=\"\(r(Self.left - 8))\" y=\"\(r(position + 4))\" text-anchor=\"end\">"
                + "\(Self.tickLabel(tick, step: yStep))</text>\n"
            tick += yStep
        }
        for decade in 0...decades {
            let position = Self.left + Double(decade) / Double(decades) * plotWidth
            svg += "<line x1=\"\(r(position))\" y1=\"\(r(Self.top))\" x2=\"\(r(position))\" "
                + "y2=\"\(r(Self.top + plotHeight))\" stroke=\"#e4e4e4\"/>\n"
            svg += "<text x=\"\(r(position))\" y=\"\(r(Self.top + plotHeight + 20))\" text-anchor=\"middle\">"
                + "\(Self.percentileLabel(decade))</text>\n"
        }
        svg += "<rect x=\"\(r(Self.left))\" y=\"\(r(Self.top))\" width=\"\(r(plotWidth))\" height=\"\(r(plotHeight))\" "
            + "fill=\"none\" stroke=\"#444\"/>\n"
        svg += "<text x=\"\(r(Self.left + plotWidth / 2))\" y=\"\(r(Self.height - 22))\" text-anchor=\"middle\">"
            + "Percentile (log scale of 1/(1-p))</text>\n"
        let yTitleX = 24.0
        let yTitleY = Self.top + plotHeight / 2
        svg += "<text x=\"\(r(yTitleX))\" y=\"\(r(yTitleY))\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 \(r(yTitleX)) \(r(yTitleY)))\">Latency (\(milliseconds ? "ms" : "µs"))</text>\n"

        // The lines.
        for (index, run) in series.enumerated() where !run.points.isEmpty {
            let colour = Self.colours[index % Self.colours.count]
            let coordinates = run.points.map { "\(r(x($0.percentile))),\(r(y($0.microseconds)))" }
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" stroke-linejoin=\"round\" "
                + "points=\"\(coordinates.joined(separator: " "))\"/>\n"
        }
        // Legend, top left inside the plot (the lines rise to the right).
        let rowHeight = 20.0
        let legendWidth = Swift.min(plotWidth - 20, 16 + 7.2 * Double(series.map(\.label.count).max() ?? 10) + 40)
        svg += "<rect x=\"\(r(Self.left + 10))\" y=\"\(r(Self.top + 10))\" width=\"\(r(legendWidth))\" "
            + "height=\"\(r(rowHeight * Double(series.count) + 10))\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>\n"
        for (index, run) in series.enumerated() {
            let colour = Self.colours[index % Self.colours.count]
            let rowY = Self.top + 10 + rowHeight * Double(index) + 19
            svg += "<line x1=\"\(r(Self.left + 18))\" y1=\"\(r(rowY - 4))\" x2=\"\(r(Self.left + 46))\" y2=\"\(r(rowY - 4))\" "
                + "stroke=\"\(colour)\" stroke-width=\"3\"/>\n"
            svg += "<text x=\"\(r(Self.left + 54))\" y=\"\(r(rowY))\">\(Self.escape(run.label))</text>\n"
        }
        svg += "</svg>\n"
        return svg
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
