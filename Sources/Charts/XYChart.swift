import Foundation

/// A point of a scatter layer with its own tooltip and data attributes (e.g. data-seed).
public struct MarkPoint: Sendable {
    public var x: Double
    public var y: Double
    public var title: String?
    public var attributes: [(String, String)]
    public init(x: Double, y: Double, title: String? = nil, attributes: [(String, String)] = []) {
        self.x = x; self.y = y; self.title = title; self.attributes = attributes
    }
}

/// A horizontal bar of a timeline (x from start to end, on row `row`).
public struct Bar: Sendable {
    public var row: Int
    public var start: Double
    public var end: Double
    public var color: String
    public var title: String?
    public var attributes: [(String, String)]
    public init(row: Int, start: Double, end: Double, color: String, title: String? = nil, attributes: [(String, String)] = []) {
        self.row = row; self.start = start; self.end = end; self.color = color; self.title = title; self.attributes = attributes
    }
}

/// A regular grid of values for a heatmap: z[j][i] at (xs[i], ys[j]) (cell centres, ascending).
public struct Grid: Sendable {
    public var xs: [Double]
    public var ys: [Double]
    public var z: [[Double]]
    public init(xs: [Double], ys: [Double], z: [[Double]]) { self.xs = xs; self.ys = ys; self.z = z }
    public var finiteRange: ClosedRange<Double>? {
        let v = z.joined().filter(\.isFinite)
        guard let lo = v.min(), let hi = v.max() else { return nil }
        return lo...hi
    }
}

/// One layer of an x–y chart, drawn in order.
public enum Layer: Sendable {
    /// A polyline (a step line when `step`: horizontal, then vertical).
    case line(name: String, points: [(Double, Double)], color: String, dashed: Bool = false, step: Bool = false, title: String? = nil)
    /// A filled band between `lower` and `upper` at each x (e.g. the interquartile range).
    case band(name: String, xs: [Double], lower: [Double], upper: [Double], color: String, title: String? = nil)
    /// A horizontal line across the plot at y = value, labelled at its right end.
    case reference(label: String, value: Double, color: String, title: String? = nil, attributes: [(String, String)] = [])
    /// Scatter points with one marker shape (filled shapes outlined in `outline` when given).
    case marks(name: String, points: [MarkPoint], marker: Marker, color: String, radius: Double = 3, filled: Bool = true,
               attributes: [(String, String)] = [], outline: String? = nil)
    /// A text label at a data point (offset right of it), e.g. a reference's name.
    case text(String, at: (Double, Double), color: String)
    /// A heatmap over the grid's cells, coloured by value (higher = brighter).
    case heatmap(Grid, range: ClosedRange<Double>)
    /// Contour lines of the grid at the given levels (marching squares).
    case contours(Grid, levels: [Double])
    /// A straight line between two data points (clipped to the plot), labelled.
    case segment(label: String, from: (Double, Double), to: (Double, Double), color: String, dashed: Bool = true)
    /// Timeline bars.
    case bars([Bar], height: Double)
}

public struct LegendItem: Sendable {
    public var name: String
    public var color: String
    public enum Swatch: Sendable { case line(dashed: Bool), marker(Marker), band, ramp(ClosedRange<Double>) }
    public var swatch: Swatch
    public init(_ name: String, color: String, swatch: Swatch) { self.name = name; self.color = color; self.swatch = swatch }
}

/// An x–y chart: axes with nice ticks, layers, a legend to the right of the plot area (never
/// over data) and a title. Every element carries `data-role` (and `data-series` or
/// `data-label`) attributes and a <title> tooltip.
public struct XYChart: Sendable {
    public var id: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var width: Double = 640
    public var height: Double = 360
    public var xLog = false
    public var yLog = false
    /// Exact domains (a parameter box); otherwise nice ticks around the data.
    public var xDomain: ClosedRange<Double>?
    public var yDomain: ClosedRange<Double>?
    public var layers: [Layer] = []
    public var legend: [LegendItem] = []
    /// Tick labels for categorical rows (timeline): row index → label.
    public var rowLabels: [String]?
    /// Extra attributes on the <svg> element.
    public var attributes: [(String, String)] = []
    /// The legend under the plot (in rows) instead of to its right; reference lines are then
    /// labelled in the right margin, outside the data, nudged apart so that no two overlap.
    public var legendAtBottom = false

    public init(id: String, title: String, xLabel: String, yLabel: String) {
        self.id = id; self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
    }

    /// Labels of reference lines (drawn in the right margin when the legend is at the bottom).
    var referenceLabels: [String] {
        layers.compactMap { if case let .reference(label, _, _, _, _) = $0 { return label } else { return nil } }
    }

    /// Rows of the bottom legend: items placed left to right, wrapping at the chart's width.
    func legendRows() -> [[(LegendItem, Double)]] {
        var rows: [[(LegendItem, Double)]] = [[]]
        var x = 64.0
        for item in legend {
            let w = Double(item.name.count) * 6.6 + 40
            if x + w > width - 8, !rows[rows.count - 1].isEmpty { rows.append([]); x = 64 }
            rows[rows.count - 1].append((item, x))
            x += w
        }
        return legend.isEmpty ? [] : rows
    }

    /// The height of the whole SVG (the bottom legend adds its rows).
    public var totalHeight: Double { legendAtBottom ? height + Double(legendRows().count) * 17 : height }

    /// Width the legend needs: its longest entry at ~6.6 px per character, plus the swatch.
    var legendWidth: Double {
        if legendAtBottom {
            let longest = referenceLabels.map(\.count).max() ?? 0
            return longest == 0 ? 0 : min(160, Double(longest) * 6.2 + 10)
        }
        guard !legend.isEmpty else { return 0 }
        let longest = legend.map { item -> Int in
            if case .ramp(let r) = item.swatch { return max(item.name.count, shortNumber(r.upperBound).count + 4) }
            return item.name.count
        }.max() ?? 0
        return min(220, Double(longest) * 6.6 + 40)
    }

    /// Data extent over the layers that have coordinates.
    func extent() -> (x: ClosedRange<Double>, y: ClosedRange<Double>) {
        var xs: [Double] = [], ys: [Double] = []
        for layer in layers {
            switch layer {
            case .line(_, let p, _, _, _, _): xs += p.map(\.0); ys += p.map(\.1)
            case .band(_, let x, let lo, let hi, _, _): xs += x; ys += lo + hi
            case .reference(_, let v, _, _, _): ys.append(v)
            case .marks(_, let p, _, _, _, _, _, _): xs += p.map(\.x); ys += p.map(\.y)
            case .text(_, let at, _): xs.append(at.0); ys.append(at.1)
            case .heatmap(let g, _), .contours(let g, _): xs += [g.xs.first ?? 0, g.xs.last ?? 1]; ys += [g.ys.first ?? 0, g.ys.last ?? 1]
            case .segment: break
            case .bars(let b, _): xs += b.flatMap { [$0.start, $0.end] }; ys += b.map { Double($0.row) }
            }
        }
        func range(_ v: [Double], log: Bool) -> ClosedRange<Double> {
            let f = v.filter { $0.isFinite && (!log || $0 > 0) }
            guard let lo = f.min(), let hi = f.max() else { return log ? 0.1...1 : 0...1 }
            return lo...hi
        }
        return (range(xs, log: xLog), range(ys, log: yLog))
    }

    public func render() -> String {
        let rowLabelWidth = (rowLabels?.map(\.count).max()).map { Double($0) * 6.2 + 14 } ?? 0
        let margin = (left: max(64.0, rowLabelWidth), right: 14.0, top: title.isEmpty ? 14.0 : 30.0, bottom: 46.0)
        let plotRight = width - margin.right - legendWidth
        let plotBottom = height - margin.bottom
        let e = extent()
        var xScale: Scale
        var yScale: Scale
        if let d = xDomain { xScale = Scale.linearExact(d.lowerBound, d.upperBound, from: margin.left, to: plotRight) }
        else if xLog { xScale = Scale.log(e.x.lowerBound, e.x.upperBound, from: margin.left, to: plotRight) }
        else { xScale = Scale.linear(e.x.lowerBound, e.x.upperBound, from: margin.left, to: plotRight) }
        if let d = yDomain { yScale = Scale.linearExact(d.lowerBound, d.upperBound, from: plotBottom, to: margin.top) }
        else if yLog { yScale = Scale.log(e.y.lowerBound, e.y.upperBound, from: plotBottom, to: margin.top) }
        else if let rows = rowLabels { yScale = Scale(kind: .linear, lower: -0.5, upper: Double(rows.count) - 0.5, ticks: [], digits: 0, from: margin.top, to: plotBottom) }
        else { yScale = Scale.linear(e.y.lowerBound, e.y.upperBound, from: plotBottom, to: margin.top) }
        _ = xScale.from

        var w = SVGWriter()
        let clipID = "clip-\(id)"
        w.open("svg", [("xmlns", "http://www.w3.org/2000/svg"), ("viewBox", "0 0 \(px(width)) \(px(totalHeight))"),
                       ("width", px(width)), ("height", px(totalHeight)), ("class", "chart"), ("data-chart", id),
                       ("role", "img"), ("font-family", "system-ui, sans-serif"), ("font-size", "11")] + attributes,
               title: title)
        w.raw("<defs><clipPath id=\"\(escapeXML(clipID))\"><rect x=\"\(px(margin.left))\" y=\"\(px(margin.top))\" width=\"\(px(plotRight - margin.left))\" height=\"\(px(plotBottom - margin.top))\"/></clipPath></defs>")
        if !title.isEmpty {
            w.label(title, x: margin.left, y: 18, attrs: [("data-role", "chart-title"), ("font-weight", "600")], size: 13)
        }
        // Axes: grid lines and tick labels.
        w.open("g", [("data-role", "axis"), ("data-axis", "x"), ("data-scale", xScale.kind.rawValue)])
        for t in xScale.ticks {
            let x = xScale(t)
            w.leaf("line", [("x1", px(x)), ("x2", px(x)), ("y1", px(margin.top)), ("y2", px(plotBottom)), ("stroke", "#e4e4e4"), ("data-tick", dataNumber(t))])
            w.label(xScale.label(t), x: x, y: plotBottom + 14, anchor: "middle")
        }
        w.label(xLabel, x: (margin.left + plotRight) / 2, y: height - 10, anchor: "middle", attrs: [("data-role", "axis-label")])
        w.close()
        w.open("g", [("data-role", "axis"), ("data-axis", "y"), ("data-scale", yScale.kind.rawValue)])
        if let rows = rowLabels {
            for (i, r) in rows.enumerated() { w.label(r, x: margin.left - 6, y: yScale(Double(i)) + 4, anchor: "end", attrs: [("data-row", String(i))]) }
        } else {
            for t in yScale.ticks {
                let y = yScale(t)
                w.leaf("line", [("x1", px(margin.left)), ("x2", px(plotRight)), ("y1", px(y)), ("y2", px(y)), ("stroke", "#e4e4e4"), ("data-tick", dataNumber(t))])
                w.label(yScale.label(t), x: margin.left - 6, y: y + 4, anchor: "end")
            }
        }
        w.label(yLabel, x: 14, y: (margin.top + plotBottom) / 2, anchor: "middle", attrs: [("data-role", "axis-label")], rotate: true)
        w.close()
        w.leaf("rect", [("x", px(margin.left)), ("y", px(margin.top)), ("width", px(plotRight - margin.left)), ("height", px(plotBottom - margin.top)),
                        ("fill", "none"), ("stroke", "#999"), ("data-role", "plot-area")])

        func y(_ v: Double) -> Double { yLog ? yScale(max(v, yScale.lower)) : yScale(v) }
        // Right-margin labels of the reference lines, nudged at least 11 px apart, top to bottom.
        var labelY: [Int: Double] = [:]
        if legendAtBottom {
            let refs = layers.enumerated().compactMap { (i, l) -> (Int, Double)? in
                if case let .reference(_, v, _, _, _) = l { return (i, y(v) + 4) } else { return nil }
            }.sorted { $0.1 < $1.1 }
            var last = -Double.infinity
            for (i, yy) in refs { let placed = max(yy, last + 11); labelY[i] = placed; last = placed }
            // Pushed below the plot: shift the stack up.
            if let over = labelY.values.max(), over > plotBottom + 4 {
                let shift = over - (plotBottom + 4)
                for k in labelY.keys { labelY[k]! -= shift }
            }
        }
        w.open("g", [("clip-path", "url(#\(clipID))"), ("data-role", "data")])
        var outside = SVGWriter()
        for (layerIndex, layer) in layers.enumerated() {
            switch layer {
            case let .band(name, xs, lower, upper, color, title):
                guard !xs.isEmpty else { continue }
                var d = ""
                for (i, x) in xs.enumerated() { d += (i == 0 ? "M" : "L") + "\(px(xScale(x))) \(px(y(upper[i])))" }
                for (i, x) in xs.enumerated().reversed() { d += "L\(px(xScale(x))) \(px(y(lower[i])))" }
                w.leaf("path", [("d", d + "Z"), ("fill", color), ("fill-opacity", "0.18"), ("stroke", color), ("stroke-opacity", "0.35"),
                                ("stroke-width", "0.6"), ("data-role", "band"), ("data-series", name), ("data-points", String(xs.count))],
                       title: title ?? "\(name): interquartile band")
            case let .line(name, points, color, dashed, step, title):
                guard !points.isEmpty else { continue }
                var d = ""
                var previous: Double?
                for (i, p) in points.enumerated() {
                    let X = xScale(p.0), Y = y(p.1)
                    if i == 0 { d += "M\(px(X)) \(px(Y))" }
                    else if step, let prev = previous { d += "L\(px(X)) \(px(prev))L\(px(X)) \(px(Y))" }
                    else { d += "L\(px(X)) \(px(Y))" }
                    previous = Y
                }
                var a: [(String, String)] = [("d", d), ("fill", "none"), ("stroke", color), ("stroke-width", "1.8"),
                                             ("data-role", "line"), ("data-series", name), ("data-points", String(points.count))]
                if dashed { a.append(("stroke-dasharray", "5 3")) }
                w.leaf("path", a, title: title ?? name)
            case let .reference(label, value, color, title, attrs):
                let Y = y(value)
                w.open("g", [("data-role", "reference"), ("data-label", label), ("data-value", dataNumber(value))] + attrs,
                       title: title ?? "\(label): \(shortNumber(value))")
                w.leaf("line", [("x1", px(margin.left)), ("x2", px(plotRight)), ("y1", px(Y)), ("y2", px(Y)), ("stroke", color),
                                ("stroke-dasharray", "2 3"), ("stroke-width", "1.3")])
                if let ly = labelY[layerIndex] {
                    outside.label(label, x: plotRight + 4, y: ly, attrs: [("fill", color), ("data-role", "reference-label"), ("data-label", label)], size: 10)
                } else {
                    w.label(label, x: plotRight - 3, y: Y - 3, anchor: "end", attrs: [("fill", color)], size: 10)
                }
                w.close()
            case let .text(label, at, color):
                w.label(label, x: xScale(at.0) + 8, y: y(at.1) - 6, attrs: [("fill", color), ("data-role", "point-label"), ("font-weight", "600"),
                                                                            ("paint-order", "stroke"), ("stroke", "#000"), ("stroke-width", "2.5"), ("stroke-opacity", "0.6")], size: 11)
            case let .marks(name, points, marker, color, radius, filled, attrs, outline):
                w.open("g", [("data-role", "marks"), ("data-series", name), ("data-points", String(points.count))] + attrs)
                for p in points {
                    let (tag, a) = marker.element(x: xScale(p.x), y: y(p.y), r: radius, color: color, filled: filled, outline: outline)
                    w.leaf(tag, a + p.attributes + [("fill-opacity", filled ? "0.75" : "1")], title: p.title)
                }
                w.close()
            case let .heatmap(grid, range):
                guard grid.xs.count >= 1, grid.ys.count >= 1 else { continue }
                w.open("g", [("data-role", "heatmap"), ("data-cells", String(grid.xs.count * grid.ys.count)),
                             ("data-min", dataNumber(range.lowerBound)), ("data-max", dataNumber(range.upperBound))])
                let edgesX = cellEdges(grid.xs), edgesY = cellEdges(grid.ys)
                let span = range.upperBound - range.lowerBound
                // Colours in 64 steps; a run of cells of one colour along a row is one rect
                // (a 48×48 grid is then a few hundred elements, not 2,304).
                func level(_ v: Double) -> Int { v.isFinite ? Int((min(1, max(0, span > 0 ? (v - range.lowerBound) / span : 0.5)) * 63).rounded()) : -1 }
                for j in grid.ys.indices {
                    var i = 0
                    while i < grid.xs.count {
                        let k = level(grid.z[j][i])
                        var end = i + 1
                        while end < grid.xs.count && level(grid.z[j][end]) == k { end += 1 }
                        let x0 = xScale(edgesX[i]), x1 = xScale(edgesX[end]), y0 = yScale(edgesY[j + 1]), y1 = yScale(edgesY[j])
                        // Cells overlap by a fraction of a pixel so that no hairline gaps show.
                        w.leaf("rect", [("x", px(x0)), ("y", px(y0)), ("width", px(x1 - x0 + 0.4)), ("height", px(y1 - y0 + 0.4)),
                                        ("fill", k >= 0 ? Palette.ramp(Double(k) / 63) : "#fff")])
                        i = end
                    }
                }
                w.close()
            case let .contours(grid, levels):
                w.open("g", [("data-role", "contours"), ("data-levels", String(levels.count))])
                for level in levels {
                    let segs = marchingSquares(xs: grid.xs, ys: grid.ys, z: grid.z, level: level)
                    guard !segs.isEmpty else { continue }
                    var d = ""
                    for s in segs { d += "M\(px(xScale(s.x0))) \(px(yScale(s.y0)))L\(px(xScale(s.x1))) \(px(yScale(s.y1)))" }
                    w.leaf("path", [("d", d), ("fill", "none"), ("stroke", "#fff"), ("stroke-opacity", "0.7"), ("stroke-width", "0.8"),
                                    ("data-role", "contour"), ("data-level", dataNumber(level)), ("data-segments", String(segs.count))],
                           title: "contour \(shortNumber(level))")
                }
                w.close()
            case let .segment(label, from, to, color, dashed):
                var a: [(String, String)] = [("x1", px(xScale(from.0))), ("y1", px(yScale(from.1))), ("x2", px(xScale(to.0))), ("y2", px(yScale(to.1))),
                                             ("stroke", color), ("stroke-width", "1.5"), ("data-role", "segment"), ("data-label", label)]
                if dashed { a.append(("stroke-dasharray", "6 4")) }
                w.leaf("line", a, title: label)
            case let .bars(bars, height):
                w.open("g", [("data-role", "bars"), ("data-bars", String(bars.count))])
                let rowHeight = abs(yScale(1) - yScale(0)) * min(max(height, 0.1), 1)
                for b in bars {
                    let x0 = xScale(b.start), x1 = max(xScale(b.end), x0 + 1)
                    w.leaf("rect", [("x", px(x0)), ("y", px(yScale(Double(b.row)) - rowHeight / 2)), ("width", px(x1 - x0)), ("height", px(rowHeight)),
                                    ("fill", b.color)] + b.attributes, title: b.title)
                }
                w.close()
            }
        }
        w.close()
        w.raw(outside.text)
        if legendAtBottom { renderBottomLegend(&w, top: height) } else { renderLegend(&w, x: plotRight + 12, top: margin.top) }
        w.close()
        return w.text
    }

    func renderBottomLegend(_ w: inout SVGWriter, top: Double) {
        let rows = legendRows()
        guard !rows.isEmpty else { return }
        w.open("g", [("data-role", "legend")])
        for (r, row) in rows.enumerated() {
            let y = top + Double(r) * 17 + 8
            for (item, x) in row {
                w.open("g", [("data-role", "legend-item"), ("data-series", item.name)])
                swatch(&w, item, x: x, y: y)
                w.label(item.name, x: x + 26, y: y + 4)
                w.close()
            }
        }
        w.close()
    }

    func swatch(_ w: inout SVGWriter, _ item: LegendItem, x: Double, y: Double) {
        switch item.swatch {
        case .line(let dashed):
            var a: [(String, String)] = [("x1", px(x)), ("x2", px(x + 20)), ("y1", px(y)), ("y2", px(y)), ("stroke", item.color), ("stroke-width", "2")]
            if dashed { a.append(("stroke-dasharray", "4 2")) }
            w.leaf("line", a)
        case .marker(let m):
            let (tag, a) = m.element(x: x + 10, y: y, r: 4, color: item.color)
            w.leaf(tag, a)
        case .band, .ramp:
            w.leaf("rect", [("x", px(x)), ("y", px(y - 5)), ("width", "20"), ("height", "10"), ("fill", item.color), ("fill-opacity", "0.25")])
        }
    }

    func renderLegend(_ w: inout SVGWriter, x: Double, top: Double) {
        guard !legend.isEmpty else { return }
        w.open("g", [("data-role", "legend")])
        var y = top + 8
        for item in legend {
            w.open("g", [("data-role", "legend-item"), ("data-series", item.name)])
            switch item.swatch {
            case .line(let dashed):
                var a: [(String, String)] = [("x1", px(x)), ("x2", px(x + 20)), ("y1", px(y)), ("y2", px(y)), ("stroke", item.color), ("stroke-width", "2")]
                if dashed { a.append(("stroke-dasharray", "4 2")) }
                w.leaf("line", a)
            case .marker(let m):
                let (tag, a) = m.element(x: x + 10, y: y, r: 4, color: item.color)
                w.leaf(tag, a)
            case .band:
                w.leaf("rect", [("x", px(x)), ("y", px(y - 5)), ("width", "20"), ("height", "10"), ("fill", item.color), ("fill-opacity", "0.25")])
            case .ramp(let r):
                let h = 80.0
                for k in 0..<16 {
                    let t = 1 - Double(k) / 15
                    w.leaf("rect", [("x", px(x)), ("y", px(y - 5 + Double(k) * h / 16)), ("width", "14"), ("height", px(h / 16 + 0.5)), ("fill", Palette.ramp(t))])
                }
                w.label(shortNumber(r.upperBound), x: x + 18, y: y + 4, size: 10)
                w.label(shortNumber(r.lowerBound), x: x + 18, y: y + h - 4, size: 10)
                w.label(item.name, x: x, y: y + h + 12, size: 10)
                y += h + 14
            }
            if case .ramp = item.swatch {} else { w.label(item.name, x: x + 26, y: y + 4) }
            w.close()
            y += 17
        }
        w.close()
    }
}

/// Cell boundaries around ascending centres: midpoints, and the outer halves mirrored.
func cellEdges(_ c: [Double]) -> [Double] {
    guard c.count > 1 else { return [(c.first ?? 0) - 0.5, (c.first ?? 0) + 0.5] }
    var e = [c[0] - (c[1] - c[0]) / 2]
    for i in 0..<(c.count - 1) { e.append((c[i] + c[i + 1]) / 2) }
    e.append(c[c.count - 1] + (c[c.count - 1] - c[c.count - 2]) / 2)
    return e
}
