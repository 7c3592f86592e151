import Foundation

/// Quantile by linear interpolation between order statistics (numpy's default, type 7).
public func quantile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let h = Double(sorted.count - 1) * p
    let lo = Int(h.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
    return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
}

/// One category of a box plot: its values (drawn as a strip), and the mean and median to mark
/// (given by the caller, so they are exactly the numbers it reports elsewhere).
public struct BoxGroup: Sendable {
    public var name: String
    public var values: [Double]
    /// A label per value for its tooltip (e.g. the objective).
    public var labels: [String]
    public var mean: Double?
    public var median: Double?
    public var color: String
    public init(name: String, values: [Double], labels: [String] = [], mean: Double?, median: Double?, color: String) {
        self.name = name; self.values = values; self.labels = labels; self.mean = mean; self.median = median; self.color = color
    }
}

/// Box-and-strip plot: per group a box (quartiles, type 7), whiskers to the furthest values
/// within 1.5 IQR, every value as a point (deterministically jittered), the median as a thick
/// line and the mean as a diamond; optional horizontal reference lines.
public struct BoxPlot: Sendable {
    public var id: String
    public var title: String
    public var yLabel: String
    public var groups: [BoxGroup]
    public var references: [(label: String, value: Double)] = []
    public var width: Double = 640
    public var height: Double = 340
    public var yLog = false

    public init(id: String, title: String, yLabel: String, groups: [BoxGroup]) {
        self.id = id; self.title = title; self.yLabel = yLabel; self.groups = groups
    }

    public func render() -> String {
        let margin = (left: 64.0, right: 120.0, top: 30.0, bottom: 46.0)
        let plotRight = width - margin.right, plotBottom = height - margin.bottom
        var all = groups.flatMap(\.values) + references.map(\.value)
        all += groups.compactMap(\.mean)
        let finite = all.filter { $0.isFinite && (!yLog || $0 > 0) }
        let lo = finite.min() ?? 0, hi = finite.max() ?? 1
        let yScale = yLog ? Scale.log(lo, hi, from: plotBottom, to: margin.top)
                          : Scale.linear(min(lo, 0), hi, from: plotBottom, to: margin.top)
        func y(_ v: Double) -> Double { yLog ? yScale(max(v, yScale.lower)) : yScale(v) }
        let slot = (plotRight - margin.left) / Double(max(groups.count, 1))

        var w = SVGWriter()
        w.open("svg", [("xmlns", "http://www.w3.org/2000/svg"), ("viewBox", "0 0 \(px(width)) \(px(height))"), ("width", px(width)),
                       ("height", px(height)), ("class", "chart"), ("data-chart", id), ("role", "img"),
                       ("font-family", "system-ui, sans-serif"), ("font-size", "11")], title: title)
        w.label(title, x: margin.left, y: 18, attrs: [("data-role", "chart-title"), ("font-weight", "600")], size: 13)
        w.open("g", [("data-role", "axis"), ("data-axis", "y"), ("data-scale", yScale.kind.rawValue)])
        for t in yScale.ticks {
            w.leaf("line", [("x1", px(margin.left)), ("x2", px(plotRight)), ("y1", px(y(t))), ("y2", px(y(t))), ("stroke", "#e4e4e4"), ("data-tick", dataNumber(t))])
            w.label(yScale.label(t), x: margin.left - 6, y: y(t) + 4, anchor: "end")
        }
        w.label(yLabel, x: 14, y: (margin.top + plotBottom) / 2, anchor: "middle", attrs: [("data-role", "axis-label")], rotate: true)
        w.close()
        w.leaf("rect", [("x", px(margin.left)), ("y", px(margin.top)), ("width", px(plotRight - margin.left)), ("height", px(plotBottom - margin.top)),
                        ("fill", "none"), ("stroke", "#999"), ("data-role", "plot-area")])
        for r in references {
            w.open("g", [("data-role", "reference"), ("data-label", r.label), ("data-value", dataNumber(r.value))], title: "\(r.label): \(shortNumber(r.value))")
            w.leaf("line", [("x1", px(margin.left)), ("x2", px(plotRight)), ("y1", px(y(r.value))), ("y2", px(y(r.value))), ("stroke", "#555"), ("stroke-dasharray", "2 3")])
            w.label(r.label, x: plotRight + 4, y: y(r.value) + 4, attrs: [("fill", "#555")], size: 10)
            w.close()
        }
        for (g, group) in groups.enumerated() {
            let cx = margin.left + slot * (Double(g) + 0.5)
            let s = group.values.filter(\.isFinite).sorted()
            var attrs: [(String, String)] = [("data-role", "box"), ("data-series", group.name), ("data-points", String(s.count))]
            if let m = group.mean { attrs.append(("data-mean", dataNumber(m))) }
            if let m = group.median { attrs.append(("data-median", dataNumber(m))) }
            w.open("g", attrs, title: "\(group.name): n=\(s.count)" + (group.mean.map { ", mean \(shortNumber($0))" } ?? "") + (group.median.map { ", median \(shortNumber($0))" } ?? ""))
            let half = min(28, slot * 0.3)
            if !s.isEmpty {
                let q1 = quantile(s, 0.25), q3 = quantile(s, 0.75), iqr = q3 - q1
                let wlo = s.first { $0 >= q1 - 1.5 * iqr } ?? s[0], whi = s.last { $0 <= q3 + 1.5 * iqr } ?? s[s.count - 1]
                w.leaf("line", [("x1", px(cx)), ("x2", px(cx)), ("y1", px(y(wlo))), ("y2", px(y(whi))), ("stroke", group.color), ("data-role", "whisker")])
                w.leaf("rect", [("x", px(cx - half)), ("y", px(y(q3))), ("width", px(2 * half)), ("height", px(max(1, y(q1) - y(q3)))),
                                ("fill", group.color), ("fill-opacity", "0.2"), ("stroke", group.color), ("data-role", "iqr"),
                                ("data-q1", dataNumber(q1)), ("data-q3", dataNumber(q3))])
            }
            if let m = group.median {
                w.leaf("line", [("x1", px(cx - half)), ("x2", px(cx + half)), ("y1", px(y(m))), ("y2", px(y(m))), ("stroke", group.color),
                                ("stroke-width", "3"), ("data-role", "median"), ("data-value", dataNumber(m))], title: "median \(shortNumber(m))")
            }
            // Strip: every value (in the given order), jittered by its index.
            for (k, v) in group.values.enumerated() where v.isFinite {
                let jitter = (Double((k * 7919) % 13) / 12 - 0.5) * half * 1.2
                let label = k < group.labels.count ? group.labels[k] + ": " : ""
                w.leaf("circle", [("cx", px(cx + jitter)), ("cy", px(y(v))), ("r", "3"), ("fill", group.color), ("fill-opacity", "0.6"),
                                  ("data-role", "value"), ("data-value", dataNumber(v))], title: "\(group.name) \(label)\(shortNumber(v))")
            }
            if let m = group.mean {
                let (tag, a) = Marker.diamond.element(x: cx, y: y(m), r: 5, color: "#000", filled: false)
                w.leaf(tag, a + [("data-role", "mean"), ("data-value", dataNumber(m)), ("stroke-width", "1.5")], title: "mean \(shortNumber(m))")
            }
            w.label(group.name, x: cx, y: plotBottom + 14, anchor: "middle")
            w.close()
        }
        // Legend (outside the plot area, right): what the marks mean.
        w.open("g", [("data-role", "legend")])
        let lx = plotRight + 8
        w.leaf("line", [("x1", px(lx)), ("x2", px(lx + 16)), ("y1", px(margin.top + 60)), ("y2", px(margin.top + 60)), ("stroke", "#333"), ("stroke-width", "3")])
        w.label("median", x: lx + 22, y: margin.top + 64)
        let (tag, a) = Marker.diamond.element(x: lx + 8, y: margin.top + 80, r: 5, color: "#000", filled: false)
        w.leaf(tag, a)
        w.label("mean", x: lx + 22, y: margin.top + 84)
        w.leaf("circle", [("cx", px(lx + 8)), ("cy", px(margin.top + 100)), ("r", "3"), ("fill", "#333")])
        w.label("one objective", x: lx + 22, y: margin.top + 104)
        w.close()
        w.close()
        return w.text
    }
}
