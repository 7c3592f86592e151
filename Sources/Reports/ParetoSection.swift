import Foundation
import Charts
import Ledger
import StudyEngine

/// A multi-objective objective's trials in metric space (a bounded sample per optimizer; every
/// trial of the study's front is kept).
public struct ParetoPanel: Codable, Sendable, Equatable {
    public struct Point: Codable, Sendable, Equatable {
        public var optimizer: String
        public var seed: Int
        public var n: Int
        public var metrics: [Double]
        public var onFront: Bool
    }
    public var objective: String
    public var metrics: [String]
    public var points: [Point]
    /// Complete trials in the ledger, and how many `points` holds.
    public var total: Int
}

extension StudyReportBuilder {
    static func paretoPanels(_ m: StudyMetrics, options: LoadOptions) -> [ParetoPanel] {
        m.objectives.compactMap { o in
            guard let names = m.spec.objectives.first(where: { $0.name == o.name })?.metrics, let all = m.metricVectors(o) else { return nil }
            let front = Set(Pareto.frontIndices(all.map(\.v)))
            var points: [ParetoPanel.Point] = []
            for opt in m.spec.optimizers.map(\.name) {
                let mine = all.indices.filter { all[$0].run.optimizer == opt }
                let stride = max(1, Int((Double(mine.count) / Double(max(1, options.maxPointsPerSeries))).rounded(.up)))
                for (k, i) in mine.enumerated() where k % stride == 0 || front.contains(i) {
                    points.append(.init(optimizer: opt, seed: all[i].run.seed, n: all[i].trial.number, metrics: all[i].v, onFront: front.contains(i)))
                }
            }
            return ParetoPanel(objective: o.name, metrics: names, points: points, total: all.count)
        }
    }

    static func paretoSection(_ data: StudyReportData) -> ReportSection {
        var html = "<p class=\"lead\">Multi-objective objectives: every complete trial in the plane of the first two metrics (one colour per optimizer), the study's Pareto front (black, joined), the closed forms and parents (labelled), and the hypervolume against the parents' reference point per evaluation (mean over seeds, band ± one sd).</p>"
        for (i, panel) in (data.pareto ?? []).enumerated() {
            guard let s = data.summary.objectives.first(where: { $0.name == panel.objective })?.multiObjective else { continue }
            let x = panel.metrics[0], y = panel.metrics[1]
            var c = XYChart(id: "pareto-\(objectiveID(i))", title: "\(panel.objective): \(y) against \(x)", xLabel: x, yLabel: y)
            c.width = 720; c.height = 420; c.legendAtBottom = true
            for opt in data.optimizers {
                let pts = panel.points.filter { $0.optimizer == opt }
                guard !pts.isEmpty else { continue }
                c.layers.append(.marks(name: opt, points: pts.map { MarkPoint(x: $0.metrics[0], y: $0.metrics[1], title: "\(opt), seed \($0.seed), trial \($0.n)") },
                                       marker: marker(data, opt), color: color(data, opt), radius: 2.5))
                c.legend.append(LegendItem(opt, color: color(data, opt), swatch: .marker(marker(data, opt))))
            }
            let front = s.front.map { ($0.metrics[0], $0.metrics[1]) }.sorted { $0.0 < $1.0 }
            c.layers.append(.line(name: "front", points: front, color: "#000", title: "study front: \(s.front.count) trials"))
            c.layers.append(.marks(name: "front-points", points: front.map { MarkPoint(x: $0.0, y: $0.1) }, marker: .circle, color: "#000", radius: 4, filled: false,
                                   attributes: [("data-front", String(s.front.count))]))
            c.legend.append(LegendItem("Pareto front", color: "#000", swatch: .line(dashed: false)))
            for r in s.references {
                guard let v = r.metrics else { continue }
                let text = "\(r.method): " + zip(s.metrics, v).map { "\($0) \(shortNumber($1))" }.joined(separator: ", ")
                    + (r.dominated == true ? ", dominated" : "") + (r.epsilon.map { ", ε \(shortNumber($0))" } ?? "")
                c.layers.append(.marks(name: "ref-\(r.method)", points: [MarkPoint(x: v[0], y: v[1], title: text)], marker: .diamond, color: "#333",
                                       radius: 5, attributes: [("data-reference", r.method)]))
                c.layers.append(.text(r.method, at: (v[0], v[1]), color: "#333"))
            }
            html += figure(c.render(), caption: "\(panel.objective): \(panel.points.count) of \(panel.total) complete trials drawn (every front trial), front of \(s.front.count), hypervolume \(shortNumber(s.studyHypervolume)) against (\(s.referencePoint.map(shortNumber).joined(separator: ", "))); \(s.referencePointSource).",
                           attributes: " data-objective=\"\(escapeXML(panel.objective))\"")

            var h = XYChart(id: "hypervolume-\(objectiveID(i))", title: "\(panel.objective): hypervolume over evaluations", xLabel: "evaluations n", yLabel: "hypervolume")
            h.width = 720; h.height = 320; h.legendAtBottom = true
            for f in s.optimizers where !f.curve.isEmpty {
                let xs = f.curve.map { Double($0.n) }
                h.layers.append(.band(name: f.optimizer, xs: xs, lower: f.curve.map { $0.mean - ($0.sd ?? 0) }, upper: f.curve.map { $0.mean + ($0.sd ?? 0) },
                                      color: color(data, f.optimizer), title: "\(f.optimizer): ± one sd over seeds"))
                h.layers.append(.line(name: f.optimizer, points: zip(xs, f.curve.map(\.mean)).map { ($0, $1) }, color: color(data, f.optimizer),
                                      title: "\(f.optimizer): final \(fmt(f.finalHypervolumeMean)) ± \(fmt(f.finalHypervolumeSD)) over \(f.runs) seeds"))
                h.legend.append(LegendItem(f.optimizer, color: color(data, f.optimizer), swatch: .line(dashed: false)))
            }
            html += figure(h.render(), caption: "\(panel.objective): hypervolume after n evaluations, mean ± sd over seeds.")
        }
        return ReportSection(id: "pareto", title: "Pareto fronts", html: html)
    }
}
