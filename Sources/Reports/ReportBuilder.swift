import Foundation
import Charts
import Mustache
import StudyEngine

/// One part of a report: an id (an HTML id, stable across refreshes), a title and its HTML
/// fragment (self-contained: its own <style> where it needs one), for a dashboard to embed.
public struct ReportSection: Codable, Sendable, Equatable {
    public var id: String
    public var title: String
    public var html: String
    public init(id: String, title: String, html: String) { self.id = id; self.title = title; self.html = html }
}

/// How a report is drawn (what it shows is fixed by `StudyReportData`).
public struct ReportOptions: Sendable {
    /// Regret axes on a log scale (regret 0 is drawn at the axis' lowest decade).
    public var logScale = false
    /// Seeds offered one at a time on the landscapes (more seeds: "all" and the first this many).
    public var maxSeedButtons = 20
    public init(logScale: Bool = false) { self.logScale = logScale }
}

/// Builds a study's report: `load` reads the ledger, `html` writes the page, `sections` its parts.
public enum StudyReportBuilder {
    public static func html(_ data: StudyReportData, options: ReportOptions = .init()) -> String {
        let sections = sections(data, options: options)
        let s = data.summary
        let context: [String: Any] = [
            "title": "Study \(s.study)",
            "study": s.study,
            "status": s.status,
            "runsDone": s.runsDone,
            "runsTotal": s.runsTotal,
            "description": data.description ?? "",
            "ledger": data.ledger,
            "generated": ISO8601DateFormatter().string(from: data.generated),
            "css": pageCSS,
            "sections": sections.map { ["id": $0.id, "title": $0.title, "html": $0.html] },
        ]
        return Templates.page.render(context)
    }

    public static func sections(_ data: StudyReportData, options: ReportOptions = .init()) -> [ReportSection] {
        var out = [overviewSection(data), regretSection(data, options), rorSection(data), landscapeSection(data, options)]
        out.append(liveSection(data, options))
        if !(data.pareto ?? []).isEmpty { out.append(paretoSection(data)) }
        if data.objectives.contains(where: { $0.closedForms != nil }) { out.append(closedFormSection(data)) }
        return out
    }

    // MARK: Helpers

    static func color(_ data: StudyReportData, _ optimizer: String) -> String {
        Palette.color(data.optimizers.firstIndex(of: optimizer) ?? 0)
    }

    static func marker(_ data: StudyReportData, _ optimizer: String) -> Marker {
        Palette.marker(data.optimizers.firstIndex(of: optimizer) ?? 0)
    }

    /// An HTML id for the i-th objective.
    static func objectiveID(_ i: Int) -> String { "o\(i + 1)" }

    static func figure(_ svg: String, caption: String, attributes: String = "") -> String {
        Templates.figure.render(["svg": svg, "caption": caption, "attributes": attributes])
    }

    static func fmt(_ x: Double?) -> String { x.map(shortNumber) ?? "n/a" }

    /// Which reference "evaluations to beat" marks: FRANK (plain) when the objective has it,
    /// else the first reference whose name starts with "frank", else none.
    static func markedReference(_ o: ObjectiveSummary) -> ReferenceResult? {
        o.references.first { $0.method == "frank" } ?? o.references.first { $0.method.hasPrefix("frank") }
    }

    // MARK: Overview

    static func overviewSection(_ data: StudyReportData) -> ReportSection {
        let s = data.summary
        let rows: [[String: Any]] = s.overall.map { r in
            ["optimizer": r.optimizer, "objectives": r.objectives, "mean": fmt(r.meanRoR), "median": fmt(r.medianRoR),
             "baseline": r.optimizer == s.baseline]
        }
        let trials = data.objectives.reduce(0) { $0 + $1.trialsTotal.values.reduce(0, +) }
        let notes = data.notes + data.objectives.flatMap { o in o.notes.map { "\(o.name): \($0)" } }
        let context: [String: Any] = [
            "rows": rows, "baseline": s.baseline ?? "", "hasBaseline": s.baseline != nil,
            "objectives": data.objectives.count, "optimizers": data.optimizers.count, "trials": trials,
            "notes": notes, "hasNotes": !notes.isEmpty,
        ]
        return ReportSection(id: "overview", title: "Overview", html: Templates.overview.render(context))
    }

    // MARK: Regret curves (Fig. 4 style; one chart per objective)

    static func regretSection(_ data: StudyReportData, _ options: ReportOptions) -> ReportSection {
        var html = "<p class=\"lead\">Normalized regret r(n) = (f_max − f_best(n)) / (f_max − f_min) after n evaluations: the median over seeds (line) and the interquartile range (band); dashed lines are the closed-form references at their regret; a black circle marks the median number of evaluations each optimizer needs to beat FRANK (as the summary counts them).</p>"
        for (i, o) in data.objectives.enumerated() {
            guard let s = data.summary.objectives.first(where: { $0.name == o.name }) else { continue }
            html += figure(regretChart(data, o, s, id: "regret-\(objectiveID(i))", log: options.logScale).render(),
                           caption: regretCaption(o, s), attributes: " data-objective=\"\(escapeXML(o.name))\"")
            html += referenceTable(data, s)
        }
        return ReportSection(id: "regret", title: "Regret curves", html: html)
    }

    static func regretChart(_ data: StudyReportData, _ o: ObjectiveReport, _ s: ObjectiveSummary, id: String, log: Bool) -> XYChart {
        let byCost = o.byCost == true
        var c = XYChart(id: id, title: "\(o.name): regret over " + (byCost ? "cost" : "evaluations"),
                        xLabel: byCost ? "cost (full-fidelity evaluations)" : "evaluations n", yLabel: log ? "regret r(n) (log)" : "regret r(n)")
        c.width = 720; c.height = 360
        c.legendAtBottom = true
        c.yLog = log
        if !log { c.yDomain = 0...1 }
        // Log: values of 0 sit at the lowest decade that still shows the smallest positive one.
        let floor = log ? max(1e-6, (o.curves.flatMap { $0.q1 + $0.median } + s.references.map(\.regret)).filter { $0 > 0 }.min() ?? 1e-3) : 0
        func y(_ v: Double) -> Double { log ? max(v, floor) : v }
        for curve in o.curves where !curve.n.isEmpty {
            let color = color(data, curve.optimizer)
            let xs = curve.n.map(Double.init)
            c.layers.append(.band(name: curve.optimizer, xs: xs, lower: curve.q1.map(y), upper: curve.q3.map(y), color: color,
                                  title: "\(curve.optimizer): interquartile range over \(curve.runs) seeds"))
        }
        for curve in o.curves where !curve.n.isEmpty {
            c.layers.append(.line(name: curve.optimizer, points: zip(curve.n, curve.median).map { (Double($0), y($1)) },
                                  color: color(data, curve.optimizer), title: "\(curve.optimizer): median regret over \(curve.runs) seeds"))
        }
        for r in s.references {
            c.layers.append(.reference(label: r.method, value: y(r.regret), color: "#333",
                                       title: "\(r.method): score \(shortNumber(r.value)), regret \(shortNumber(r.regret))",
                                       attributes: [("data-regret", dataNumber(r.regret)), ("data-score", dataNumber(r.value))]))
        }
        // On a cost axis the mark is at the cost to beat (the summary's costToBeat), on the curve
        // at the first whole cost at or after it.
        if byCost, let frank = markedReference(s), let costs = frank.costToBeat {
            for curve in o.curves {
                guard let entry = costs[curve.optimizer], let cost = entry, let k = curve.n.firstIndex(where: { Double($0) >= cost - 1e-9 }) else { continue }
                c.layers.append(.marks(name: "beat-\(curve.optimizer)",
                                       points: [MarkPoint(x: cost, y: y(curve.median[k]), title: "\(curve.optimizer) beats \(frank.method) after cost \(shortNumber(cost)) (full-fidelity evaluations, median over seeds)")],
                                       marker: .circle, color: "#000", radius: 4.5, filled: false,
                                       attributes: [("data-beat", frank.method), ("data-optimizer", curve.optimizer), ("data-cost", dataNumber(cost))]))
            }
        }
        if !byCost, let frank = markedReference(s) {
            for curve in o.curves {
                guard let entry = frank.evaluationsToBeat[curve.optimizer], let n = entry, let k = curve.n.firstIndex(of: n) else { continue }
                c.layers.append(.marks(name: "beat-\(curve.optimizer)",
                                       points: [MarkPoint(x: Double(n), y: y(curve.median[k]), title: "\(curve.optimizer) beats \(frank.method) after \(n) evaluations (median over seeds)")],
                                       marker: .circle, color: "#000", radius: 4.5, filled: false,
                                       attributes: [("data-beat", frank.method), ("data-optimizer", curve.optimizer), ("data-n", String(n))]))
            }
        }
        c.legend = o.curves.map { LegendItem($0.optimizer, color: color(data, $0.optimizer), swatch: .line(dashed: false)) }
        return c
    }

    static func regretCaption(_ o: ObjectiveReport, _ s: ObjectiveSummary) -> String {
        let runs = o.curves.map(\.runs).max() ?? 0
        return "\(o.name) (\(o.kind)): budget \(s.budget), \(runs) seeds per optimizer; f_min \(shortNumber(s.fMin)), f_max \(shortNumber(s.fMax))."
    }

    static func referenceTable(_ data: StudyReportData, _ s: ObjectiveSummary) -> String {
        guard !s.references.isEmpty else { return "" }
        let optimizers = data.summary.overall.map(\.optimizer)
        let rows: [[String: Any]] = s.references.map { r in
            ["method": r.method, "value": shortNumber(r.value), "regret": shortNumber(r.regret),
             "cells": optimizers.map { name -> [String: Any] in
                 if let costs = r.costToBeat {  // fidelities: in cost, the budget's unit
                     guard let c = costs[name] else { return ["text": "—"] }
                     return ["text": c.map { "cost " + shortNumber($0) } ?? "never"]
                 }
                 guard let e = r.evaluationsToBeat[name] else { return ["text": "—"] }
                 return ["text": e.map(String.init) ?? "never"]
             }]
        }
        let finals: [[String: Any]] = s.optimizers.map { r in
            ["optimizer": r.optimizer, "mean": fmt(r.meanFinalRegret), "median": fmt(r.medianFinalRegret), "ror": fmt(r.ror), "runs": r.runs]
        }
        return Templates.referenceTable.render(["objective": s.name, "optimizers": optimizers.map { ["name": $0] }, "rows": rows, "finals": finals,
                                                  "byCost": s.fidelities != nil])
    }

    // MARK: RoR across objectives (Skill-Injection Fig. 2)

    static func rorSection(_ data: StudyReportData) -> ReportSection {
        let s = data.summary
        guard s.baseline != nil else {
            return ReportSection(id: "ror", title: "Regret over random", html: "<p class=\"note\">The study has no optimizer of kind random: no RoR.</p>")
        }
        let groups = s.overall.map { r -> BoxGroup in
            let pairs = s.objectives.compactMap { o -> (String, Double)? in
                guard let v = o.optimizers.first(where: { $0.optimizer == r.optimizer })?.ror else { return nil }
                return (o.name, v)
            }
            return BoxGroup(name: r.optimizer, values: pairs.map(\.1), labels: pairs.map(\.0), mean: r.meanRoR, median: r.medianRoR,
                            color: color(data, r.optimizer))
        }
        var box = BoxPlot(id: "ror", title: "Regret over random (RoR) across objectives", yLabel: "RoR = r_method(N) / r_random(N)", groups: groups)
        box.width = 720
        box.references = [(label: "random (1)", value: 1)]
        let html = "<p class=\"lead\">Per objective, an optimizer's mean final regret over seeds divided by that of \(escapeXML(s.baseline!)); below 1 beats random search. One point per objective; the box spans the quartiles, the thick line is the median and the diamond the mean over objectives (the summary's overall numbers).</p>"
            + figure(box.render(), caption: "RoR per optimizer over \(s.objectives.count) objectives.")
        return ReportSection(id: "ror", title: "Regret over random", html: html)
    }

    // MARK: Landscapes (Fig. 3 style)

    static func landscapeSection(_ data: StudyReportData, _ options: ReportOptions) -> ReportSection {
        var html = "<p class=\"lead\">The objective over its first two parameters (colour: score, brighter is better; white lines: contours), the measured points of its landscape file (small white dots), the sum-to-one line λ_V + λ_R = 1 (dashed), the references that have coordinates (stars) and each optimizer's trials. Pick a seed to show that seed's trials only.</p>"
        var any = false
        for (i, o) in data.objectives.enumerated() {
            guard let l = o.landscape, o.parameterNames.count >= 2 else { continue }
            any = true
            html += landscapeFigure(data, o, l, id: objectiveID(i), options: options)
        }
        if !any { html += "<p class=\"note\">No objective has two or three parameters to draw.</p>" }
        return ReportSection(id: "landscapes", title: "Landscapes", html: html)
    }

    static func landscapeFigure(_ data: StudyReportData, _ o: ObjectiveReport, _ l: LandscapeData, id: String, options: ReportOptions) -> String {
        let seeds = Array(o.seeds.prefix(options.maxSeedButtons))
        let group = "seed-\(id)"
        var css = ""
        // The first seed is shown first: all seeds at once (hundreds of points) hide the landscape.
        var switcher = "<div class=\"seed-switch\" data-role=\"seed-switch\" data-objective=\"\(escapeXML(o.name))\"><span>trials of seed</span>"
        for (k, seed) in seeds.enumerated() {
            switcher += "<input type=\"radio\" name=\"\(group)\" id=\"\(group)-\(seed)\"\(k == 0 ? " checked" : "")><label for=\"\(group)-\(seed)\">\(seed)</label>"
            css += "#\(group)-\(seed):checked ~ .panels [data-seed]:not([data-seed=\"\(seed)\"]){display:none}\n"
        }
        switcher += "<input type=\"radio\" name=\"\(group)\" id=\"\(group)-all\"\(seeds.isEmpty ? " checked" : "")><label for=\"\(group)-all\">all seeds</label>"
        let panels = l.panels.isEmpty ? [nil] : l.panels.map { Optional($0) }
        // One colour scale for all panels of an objective, so that densities compare.
        let values = l.panels.flatMap { $0.z.joined() }.filter(\.isFinite)
        let range = values.min().flatMap { lo in values.max().map { lo...$0 } }
        var svgs = ""
        for (k, panel) in panels.enumerated() {
            svgs += landscapeChart(data, o, l, panel: panel, range: range, id: "land-\(id)-\(k)").render()
        }
        let shown = o.trialsShown.values.reduce(0, +), total = o.trialsTotal.values.reduce(0, +)
        var caption = "\(o.name): " + (l.source == "none" ? (l.note ?? "trials only") : "colour from the \(l.source == "surrogate" ? "RBF surrogate of the landscape file" : "analytic function") on a \(l.panels.first?.xs.count ?? 0)×\(l.panels.first?.ys.count ?? 0) grid")
        caption += shown < total ? "; showing \(shown) of \(total) trials (spread evenly over seeds)" : "; all \(total) trials"
        caption += seeds.isEmpty ? "." : ", one seed at a time (seed \(seeds[0]) first) or all at once."
        let noCoordinates = o.references.filter { $0.params == nil }.map(\.method)
        if !noCoordinates.isEmpty { caption += " References without a point in this plane (per-layer or score only): \(noCoordinates.joined(separator: ", "))." }
        return "<style>\(css)</style>" + switcher + "<div class=\"panels\">" + figure(svgs, caption: caption, attributes: " data-objective=\"\(escapeXML(o.name))\"") + "</div></div>"
    }

    static func landscapeChart(_ data: StudyReportData, _ o: ObjectiveReport, _ l: LandscapeData, panel: LandscapePanel?,
                               range: ClosedRange<Double>?, id: String) -> XYChart {
        let names = o.parameterNames
        var c = XYChart(id: id, title: "\(o.name)" + (panel?.label.map { " · \($0)" } ?? ""), xLabel: names[0], yLabel: names[1])
        c.width = panel?.level != nil ? 470 : 560; c.height = panel?.level != nil ? 400 : 460
        if l.bounds.count >= 2 { c.xDomain = l.bounds[0][0]...l.bounds[0][1]; c.yDomain = l.bounds[1][0]...l.bounds[1][1] }
        else {
            let xs = o.trials.map { $0.params[0] }, ys = o.trials.map { $0.params[1] }
            if let a = xs.min(), let b = xs.max(), a < b { c.xDomain = a...b }
            if let a = ys.min(), let b = ys.max(), a < b { c.yDomain = a...b }
        }
        // Three parameters: this panel shows the trials nearest to its level.
        let levels = l.panels.compactMap(\.level)
        func inPanel(_ p: [Double]) -> Bool {
            guard let level = panel?.level, p.count > 2 else { return true }
            return levels.min { abs($0 - p[2]) < abs($1 - p[2]) } == level
        }
        if let panel {
            let grid = Grid(xs: panel.xs, ys: panel.ys, z: panel.z)
            if let range = range ?? grid.finiteRange {
                c.layers.append(.heatmap(grid, range: range))
                let t = niceTicks(range.lowerBound, range.upperBound, count: 9).ticks.filter { $0 > range.lowerBound && $0 < range.upperBound }
                c.layers.append(.contours(grid, levels: t))
                c.legend.append(LegendItem("score", color: "#000", swatch: .ramp(range)))
            }
        }
        let measured = l.measured.filter(inPanel).map { MarkPoint(x: $0[0], y: $0[1], title: "measured point (\($0.map(shortNumber).joined(separator: ", ")))") }
        if !measured.isEmpty {
            c.layers.append(.marks(name: "measured", points: measured, marker: .circle, color: "#ffffff", radius: 1.8, attributes: [("data-kind", "measured")]))
        }
        if l.sumToOne, let x = c.xDomain, let y = c.yDomain {
            // λ_x + λ_y = 1 clipped to the box.
            let candidates = [(x.lowerBound, 1 - x.lowerBound), (x.upperBound, 1 - x.upperBound), (1 - y.lowerBound, y.lowerBound), (1 - y.upperBound, y.upperBound)]
                .filter { x.contains($0.0) && y.contains($0.1) }.sorted { $0.0 < $1.0 }
            if let a = candidates.first, let b = candidates.last, a.0 < b.0 {
                c.layers.append(.segment(label: "\(names[0]) + \(names[1]) = 1", from: a, to: b, color: "#ffffff"))
            }
        }
        for opt in data.optimizers {
            let pts = o.trials.filter { $0.optimizer == opt && inPanel($0.params) }.map { t in
                MarkPoint(x: t.params[0], y: t.params[1],
                          title: "\(opt) seed \(t.seed) n \(t.n): " + t.params.map(shortNumber).joined(separator: ", ") + " → " + (t.value.map(shortNumber) ?? "failed"),
                          attributes: [("data-seed", String(t.seed))])
            }
            c.layers.append(.marks(name: opt, points: pts, marker: marker(data, opt), color: color(data, opt), radius: 3.4,
                                   attributes: [("data-total", String(o.trialsTotal[opt] ?? 0)), ("data-shown", String(o.trialsShown[opt] ?? 0))],
                                   outline: "#222"))
            c.legend.append(LegendItem(opt, color: color(data, opt), swatch: .marker(marker(data, opt))))
        }
        for r in o.references {
            guard let p = r.params, p.count >= 2, p.allSatisfy(\.isFinite), inPanel(p) else { continue }
            c.layers.append(.marks(name: "ref-\(r.method)", points: [MarkPoint(x: p[0], y: p[1], title: "\(r.method): score \(shortNumber(r.value)), regret \(shortNumber(r.regret))")],
                                   marker: .star, color: "#ffffff", radius: 5, attributes: [("data-reference", r.method), ("data-value", dataNumber(r.value))]))
            c.layers.append(.text(r.method, at: (p[0], p[1]), color: "#ffffff"))
        }
        if o.references.contains(where: { ($0.params?.count ?? 0) >= 2 }) { c.legend.append(LegendItem("reference", color: "#ffffff", swatch: .marker(.star))) }
        return c
    }

    // MARK: Live: progress over wall time, executor timeline, failures

    static func liveSection(_ data: StudyReportData, _ options: ReportOptions) -> ReportSection {
        let live = data.live
        var html = "<p class=\"lead\">Status \(escapeXML(data.summary.status)): \(data.summary.runsDone) of \(data.summary.runsTotal) runs done, \(live.running) attempts running, \(live.failuresTotal) failed attempts.</p>"
        var c = XYChart(id: "best-over-time", title: "Best so far against wall time", xLabel: "seconds since the first trial", yLabel: "mean best-so-far regret")
        c.width = 720; c.height = 320; c.legendAtBottom = true
        c.yLog = options.logScale
        if !options.logScale { c.yDomain = 0...1 }
        for curve in live.bestOverTime {
            c.layers.append(.line(name: curve.optimizer, points: curve.points.map { ($0.seconds, options.logScale ? max($0.regret, 1e-6) : $0.regret) },
                                  color: color(data, curve.optimizer), step: true, title: "\(curve.optimizer): mean over its runs of the best regret so far"))
        }
        c.legend = live.bestOverTime.map { LegendItem($0.optimizer, color: color(data, $0.optimizer), swatch: .line(dashed: false)) }
        html += figure(c.render(), caption: "Per optimizer, the mean over all its runs (every objective and seed) of each run's best regret so far; a run counts 1 until its first result.")

        if !live.attempts.isEmpty {
            let slots = Array(Set(live.attempts.map(\.slot))).sorted { a, b in a.localizedStandardCompare(b) == .orderedAscending }
            let row = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1, $0) })
            let stateColor = ["COMPLETE": "#009E73", "FAIL": "#D55E00", "RUNNING": "#0072B2"]
            let bars = live.attempts.map { a in
                Bar(row: row[a.slot]!, start: a.start, end: a.end, color: stateColor[a.state] ?? "#999",
                    title: "\(a.label), attempt \(a.attempt): \(a.state.lowercased())" + (a.reason.map { " (\($0))" } ?? "") + String(format: ", %.2f s", a.end - a.start),
                    attributes: [("data-state", a.state), ("data-attempt", String(a.attempt))] + (a.attempt > 1 ? [("stroke", "#000"), ("stroke-width", "0.8")] : []))
            }
            var t = XYChart(id: "timeline", title: "Attempts per executor slot", xLabel: "seconds since the first trial", yLabel: "")
            t.width = 720; t.height = max(140, Double(slots.count) * 22 + 80)
            t.rowLabels = slots
            t.layers = [.bars(bars, height: 0.7)]
            t.legendAtBottom = true
            t.legend = [LegendItem("complete", color: stateColor["COMPLETE"]!, swatch: .marker(.square)),
                        LegendItem("failed", color: stateColor["FAIL"]!, swatch: .marker(.square)),
                        LegendItem("running", color: stateColor["RUNNING"]!, swatch: .marker(.square))]
            let shown = live.attempts.count < live.attemptsTotal ? "the last \(live.attempts.count) of \(live.attemptsTotal) attempts" : "all \(live.attemptsTotal) attempts"
            html += figure(t.render(), caption: "One bar per attempt, on the slot that ran it (\(shown)); a retry (attempt 2 or later) has a black outline.")
        }
        let counts = live.failureCounts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { ["reason": $0.key, "count": $0.value] as [String: Any] }
        let rows: [[String: Any]] = live.failures.map { f in
            ["objective": f.objective, "optimizer": f.optimizer, "seed": f.seed, "n": f.n, "attempt": f.attempt, "reason": f.reason,
             "detail": f.detail, "final": f.final ? "failed" : "retried"]
        }
        html += Templates.failures.render(["counts": counts, "rows": rows, "any": !rows.isEmpty,
                                           "more": live.failuresTotal > live.failures.count ? "showing \(live.failures.count) of \(live.failuresTotal) failed attempts" : ""])
        return ReportSection(id: "live", title: "Progress, executors and failures", html: html)
    }

    // MARK: Closed forms per layer

    static func closedFormSection(_ data: StudyReportData) -> ReportSection {
        var html = "<p class=\"lead\">Per decoder layer, the coefficients of the closed forms (λ_V solid, λ_R dashed) and, where the checkpoints were at hand, the norms of the task vectors τ_V, τ_R and their cosine (as <code>mergetune diagnose</code> prints them).</p>"
        for (i, o) in data.objectives.enumerated() {
            guard let cf = o.closedForms else { continue }
            var c = XYChart(id: "layers-\(objectiveID(i))", title: "\(o.name): closed-form coefficients per layer", xLabel: "decoder layer", yLabel: "λ")
            c.width = 720; c.height = 320; c.legendAtBottom = true
            for (k, m) in cf.coefficients.enumerated() {
                let color = Palette.color(k + 2)
                let layers = (1...max(1, m.vl.count)).map(Double.init)
                c.layers.append(.line(name: "\(m.method) λ_V", points: Array(zip(layers, m.vl)), color: color, title: "\(m.method) λ_V: " + m.vl.map(shortNumber).joined(separator: ", ")))
                c.layers.append(.line(name: "\(m.method) λ_R", points: Array(zip(layers, m.exp)), color: color, dashed: true, title: "\(m.method) λ_R: " + m.exp.map(shortNumber).joined(separator: ", ")))
                c.layers.append(.marks(name: "\(m.method)-points", points: zip(layers, m.vl).map { MarkPoint(x: $0, y: $1) } + zip(layers, m.exp).map { MarkPoint(x: $0, y: $1) },
                                       marker: .circle, color: color, radius: 2.5))
                c.legend.append(LegendItem("\(m.method) λ_V", color: color, swatch: .line(dashed: false)))
                c.legend.append(LegendItem("\(m.method) λ_R", color: color, swatch: .line(dashed: true)))
            }
            html += figure(c.render(), caption: "\(o.name): \(cf.source)." + (cf.note.map { " \($0)." } ?? ""))
            let rows: [[String: Any]] = cf.coefficients.map { m in
                ["method": m.method, "cells": zip(m.vl, m.exp).map { ["text": "\(shortNumber($0)) / \(shortNumber($1))"] },
                 "other": m.other.map { $0.map(shortNumber).joined(separator: " / ") } ?? ""]
            }
            let layerCount = cf.coefficients.map(\.vl.count).max() ?? 0
            html += Templates.layerTable.render(["layers": (0..<layerCount).map { ["l": $0 + 1] }, "rows": rows])
            if let d = cf.diagnostics {
                var n = XYChart(id: "norms-\(objectiveID(i))", title: "\(o.name): task-vector norms and cosine per layer", xLabel: "decoder layer", yLabel: "‖τ‖ / cos")
                n.width = 720; n.height = 280; n.legendAtBottom = true
                let layers = (1...max(1, d.normV.count)).map(Double.init)
                n.layers = [.line(name: "‖τ_V‖", points: Array(zip(layers, d.normV)), color: Palette.color(0)),
                            .line(name: "‖τ_R‖", points: Array(zip(layers, d.normR)), color: Palette.color(1)),
                            .line(name: "cos(τ_V, τ_R)", points: Array(zip(layers, d.cosine)), color: Palette.color(7), dashed: true)]
                n.legend = [LegendItem("‖τ_V‖", color: Palette.color(0), swatch: .line(dashed: false)),
                            LegendItem("‖τ_R‖", color: Palette.color(1), swatch: .line(dashed: false)),
                            LegendItem("cos(τ_V, τ_R)", color: Palette.color(7), swatch: .line(dashed: true))]
                html += figure(n.render(), caption: "\(o.name): per-layer ‖τ_V‖, ‖τ_R‖ and cosine.")
            }
        }
        return ReportSection(id: "closed-forms", title: "Closed forms per layer", html: html)
    }
}
