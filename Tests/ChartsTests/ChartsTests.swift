import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Charts

/// Parses SVG text as XML (FoundationXML on Linux); throws on malformed markup.
func parseSVG(_ text: String) throws -> XMLDocument {
    try XMLDocument(xmlString: text, options: [])
}

extension XMLElement {
    /// An attribute's value (FoundationXML's attribute(forName:) misses attributes of elements in a default namespace).
    func attr(_ name: String) -> String? { attributes?.first { $0.name == name }?.stringValue }
}

/// Elements anywhere below the root whose attribute `name` equals `value`.
func elements(_ doc: XMLDocument, _ name: String, _ value: String) throws -> [XMLElement] {
    try doc.nodes(forXPath: "//*[@\(name)='\(value)']").compactMap { $0 as? XMLElement }
}

struct TickTests {
    @Test func unitIntervalGivesFifths() {
        let t = niceTicks(0, 1, count: 6)
        #expect(t.ticks == [0, 0.2, 0.4, 0.6, 0.8, 1])
        #expect(t.step == 0.2)
        #expect(Scale.linear(0, 1).label(0.6) == "0.6")
    }

    @Test func budgetAxisGivesTens() {
        #expect(niceTicks(1, 40, count: 6).ticks == [0, 10, 20, 30, 40])
    }

    @Test func negativeToPositiveWidensToMultiplesOfFive() {
        // range 15.9 → nice 20; step nice(4) = 5; −3.7 widens to −5 and 12.2 to 15.
        #expect(niceTicks(-3.7, 12.2, count: 6).ticks == [-5, 0, 5, 10, 15])
    }

    @Test func smallRangeKeepsItsDigits() {
        let t = niceTicks(-1.562, -1.248, count: 5)
        #expect(t.ticks == [-1.6, -1.5, -1.4, -1.3, -1.2])
        #expect(t.digits == 1)
    }

    @Test func logAxisGivesDecades() {
        #expect(logTicks(0.0013, 0.87) == [0.001, 0.01, 0.1, 1])
        let s = Scale.log(0.0013, 0.87, from: 0, to: 300)
        #expect(s(0.001) == 0)
        #expect(abs(s(0.01) - 100) < 1e-9)
        #expect(s.label(0.001) == "0.001")
    }

    @Test func singleValueStillGivesAnAxis() {
        let t = niceTicks(5, 5)
        #expect(t.ticks.first! < 5 && t.ticks.last! > 5)
    }
}

struct MarchingSquaresTests {
    @Test func oneCellWithAVerticalCrossing() {
        // z rises left to right: the 0.5 contour is the vertical line x = 0.5.
        let s = marchingSquares(xs: [0, 1], ys: [0, 1], z: [[0, 1], [0, 1]], level: 0.5)
        #expect(s == [ContourSegment(0.5, 0, 0.5, 1)])
    }

    @Test func peakInTheMiddleGivesADiamond() {
        // A single peak at (1, 1) on a 3×3 grid: each of the four cells cuts its corner at the
        // midpoints of the two edges that meet the peak.
        let z: [[Double]] = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
        let s = marchingSquares(xs: [0, 1, 2], ys: [0, 1, 2], z: z, level: 0.5)
        #expect(s.count == 4)
        #expect(s[0] == ContourSegment(1, 0.5, 0.5, 1))      // cell (0,0): right edge, top edge
        #expect(s[1] == ContourSegment(1, 0.5, 1.5, 1))      // cell (1,0): left edge, top edge
        #expect(s[2] == ContourSegment(0.5, 1, 1, 1.5))      // cell (0,1): bottom edge, right edge
        #expect(s[3] == ContourSegment(1, 1.5, 1.5, 1))      // cell (1,1): left edge, bottom edge
    }

    @Test func interpolatesAlongEdges() {
        // Bottom-right 4, the rest 0; level 1 crosses the bottom edge a quarter of the way from
        // the left (x = 0.5 of 2) and the right edge three quarters of the way down from 4 to 0.
        let s = marchingSquares(xs: [0, 2], ys: [0, 1], z: [[0, 4], [0, 0]], level: 1)
        #expect(s == [ContourSegment(0.5, 0, 2, 0.75)])
    }

    @Test func saddleIsResolvedByTheCentre() {
        let z: [[Double]] = [[1, 0], [0, 1]]  // a and c above
        // Centre 0.5 ≥ 0.5: the above-corners connect, the below-corners are cut off.
        #expect(marchingSquares(xs: [0, 1], ys: [0, 1], z: z, level: 0.5)
                == [ContourSegment(0, 0.5, 0.5, 1), ContourSegment(0.5, 0, 1, 0.5)])
        // Centre 0.5 < 0.6: the above-corners are cut off.
        let s = marchingSquares(xs: [0, 1], ys: [0, 1], z: z, level: 0.6)
        #expect(s.count == 2)
        #expect(abs(s[0].y0 - 0.4) < 1e-12 && s[0].x0 == 0 && abs(s[0].x1 - 0.4) < 1e-12 && s[0].y1 == 0)
    }

    @Test func flatOrNonFiniteCellsGiveNothing() {
        #expect(marchingSquares(xs: [0, 1], ys: [0, 1], z: [[1, 1], [1, 1]], level: 0.5).isEmpty)
        #expect(marchingSquares(xs: [0, 1], ys: [0, 1], z: [[0, .nan], [1, 1]], level: 0.5).isEmpty)
    }
}

struct SVGTests {
    @Test func escapesTextAndAttributes() {
        #expect(escapeXML("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;")
        #expect(escapeXML("bell\u{7}") == "bell")
    }

    @Test func pixelsHaveOneDecimal() {
        #expect(px(12.34) == "12.3")
        #expect(px(-0.04) == "0")
        #expect(px(-2.25) == "-2.3" || px(-2.25) == "-2.2")
        #expect(px(40) == "40")
    }

    func lineChart() -> XYChart {
        var c = XYChart(id: "r<1>", title: "regret & \"more\"", xLabel: "n", yLabel: "regret")
        let xs = (1...40).map(Double.init)
        c.layers = [
            .band(name: "gp", xs: xs, lower: xs.map { 0.5 / $0 }, upper: xs.map { 1.5 / $0 }, color: Palette.color(0)),
            .line(name: "gp", points: xs.map { ($0, 1 / $0) }, color: Palette.color(0)),
            .line(name: "random <baseline>", points: xs.map { ($0, 2 / ($0 + 1)) }, color: Palette.color(1)),
            .reference(label: "frank", value: 0.123, color: "#000"),
            .marks(name: "beat", points: [MarkPoint(x: 7, y: 1.0 / 7, title: "gp beats frank at n = 7", attributes: [("data-n", "7")])],
                   marker: .circle, color: "#000"),
        ]
        c.legend = [LegendItem("gp", color: Palette.color(0), swatch: .line(dashed: false)),
                    LegendItem("random <baseline>", color: Palette.color(1), swatch: .line(dashed: false))]
        return c
    }

    @Test func lineChartIsWellFormedAndTagged() throws {
        let doc = try parseSVG(lineChart().render())
        let lines = try elements(doc, "data-role", "line")
        #expect(lines.count == 2)
        #expect(lines.map { $0.attr("data-points") } == ["40", "40"])
        #expect(lines[1].attr("data-series") == "random <baseline>")
        let bands = try elements(doc, "data-role", "band")
        #expect(bands.count == 1 && bands[0].attr("data-series") == "gp")
        let refs = try elements(doc, "data-role", "reference")
        #expect(refs.count == 1 && refs[0].attr("data-value") == "0.123")
        #expect(try elements(doc, "data-role", "legend-item").count == 2)
        // Tooltips: every data element has a <title>.
        for e in lines + bands + refs { #expect(e.elements(forName: "title").count == 1) }
        #expect(doc.rootElement()?.elements(forName: "title").first?.stringValue == "regret & \"more\"")
    }

    @Test func legendStaysRightOfThePlotArea() throws {
        let doc = try parseSVG(lineChart().render())
        let area = try #require(try elements(doc, "data-role", "plot-area").first)
        let right = Double(area.attr("x")!)! + Double(area.attr("width")!)!
        let legendXs = try doc.nodes(forXPath: "//*[@data-role='legend']//*[@x1 or @x]").compactMap { n -> Double? in
            let e = n as! XMLElement
            return Double((e.attr("x1") ?? e.attr("x"))!)
        }
        #expect(!legendXs.isEmpty)
        #expect(legendXs.allSatisfy { $0 > right })
    }

    @Test func logChartClampsZeroAndShowsDecades() throws {
        var c = XYChart(id: "log", title: "", xLabel: "n", yLabel: "regret")
        c.yLog = true
        c.layers = [.line(name: "a", points: [(1, 0.5), (2, 0.002), (3, 0)], color: "#000")]
        let doc = try parseSVG(c.render())
        let ticks = try doc.nodes(forXPath: "//*[@data-axis='y']/*[@data-tick]").map { ($0 as! XMLElement).attr("data-tick")! }
        #expect(ticks == ["0.001", "0.01", "0.1", "1.0"])
    }

    @Test func heatmapAndContoursAreDrawn() throws {
        let xs = [0.25, 0.75], ys = [0.25, 0.75]
        var c = XYChart(id: "h", title: "landscape", xLabel: "x", yLabel: "y")
        c.xDomain = 0...1; c.yDomain = 0...1
        let g = Grid(xs: xs, ys: ys, z: [[0, 1], [0, 1]])
        c.layers = [.heatmap(g, range: 0...1), .contours(g, levels: [0.5]),
                    .segment(label: "sum to one", from: (0, 1), to: (1, 0), color: "#fff")]
        c.legend = [LegendItem("score", color: "#000", swatch: .ramp(0...1))]
        let doc = try parseSVG(c.render())
        #expect(try elements(doc, "data-role", "heatmap").first?.attr("data-cells") == "4")
        let contour = try #require(try elements(doc, "data-role", "contour").first)
        #expect(contour.attr("data-segments") == "1")
        #expect(try elements(doc, "data-role", "segment").count == 1)
    }

    @Test func boxPlotMarksMeanAndMedian() throws {
        var b = BoxPlot(id: "ror", title: "RoR", yLabel: "RoR", groups: [
            BoxGroup(name: "gp", values: [0.2, 0.4, 0.9], labels: ["a", "b", "c"], mean: 0.5, median: 0.4, color: Palette.color(0)),
            BoxGroup(name: "random", values: [1, 1, 1], mean: 1, median: 1, color: Palette.color(1)),
        ])
        b.references = [(label: "random = 1", value: 1)]
        let doc = try parseSVG(b.render())
        let boxes = try elements(doc, "data-role", "box")
        #expect(boxes.count == 2)
        #expect(boxes[0].attr("data-mean") == "0.5")
        #expect(boxes[0].attr("data-median") == "0.4")
        let values = try doc.nodes(forXPath: "//*[@data-series='gp']/*[@data-role='value']").map { ($0 as! XMLElement).attr("data-value")! }
        #expect(values == ["0.2", "0.4", "0.9"])
        let iqr = try #require(try doc.nodes(forXPath: "//*[@data-series='gp']/*[@data-role='iqr']").first as? XMLElement)
        #expect(iqr.attr("data-q1") == "0.30000000000000004" || iqr.attr("data-q1") == "0.3")
    }

    @Test func quantilesAreType7() {
        #expect(quantile([1, 2, 3, 4], 0.25) == 1.75)
        #expect(quantile([1, 2, 3, 4], 0.5) == 2.5)
        #expect(quantile([5], 0.75) == 5)
    }
}
