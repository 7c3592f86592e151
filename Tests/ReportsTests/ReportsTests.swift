import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import Charts
import Ledger
@testable import Reports
import StudyEngine
import TestSupport

// A small study (a surrogate landscape with a sum-to-one line and references, and an analytic
// three-parameter function), run once for the whole suite; its report is checked against the
// numbers of `study summary --format json`.

let testLandscape = """
    # Synthetic test landscape (not a measurement)
    #@bounds vl_weight=0:2 exp_weight=0:2
    #@reference frank score=0.58
    #@reference vlm vl_weight=1 exp_weight=0 score=0.66
    # reference frank: {"layers":[[0.1,0.9],[0.2,0.8]],"other":[0.3,0.7]}
    vl_weight,exp_weight,score
    0,0,0.46
    0,1,0.55
    0,2,0.50
    1,0,0.66
    1,1,0.70
    1,2,0.52
    2,0,0.60
    2,1,0.57
    2,2,0.40
    """

let testSpec = """
    name = "rep"
    description = "report test <study> & friends"
    seeds = 3
    budget = { 2 = 12, 3 = 9 }
    [[optimizers]]
    kind = "random"
    [[optimizers]]
    kind = "sobol"
    [[optimizers]]
    kind = "pattern"
    [[objectives]]
    name = "land"
    kind = "surrogate"
    landscape = "land.csv"
    sum_to_one = ["vl_weight", "exp_weight"]
    [[objectives]]
    name = "h3"
    kind = "analytic"
    function = "hartmann3"
    """

/// The study's ledger, built once per test process.
let studyLedger: String = {
    let dir = Scratch.directory("reports-tests")
    try! testLandscape.write(to: dir.appendingPathComponent("land.csv"), atomically: true, encoding: .utf8)
    let spec = dir.appendingPathComponent("spec.toml")
    try! testSpec.write(to: spec, atomically: true, encoding: .utf8)
    let path = dir.appendingPathComponent("ledger.sqlite").path
    _ = try! StudyEngine.launch(specURL: spec, ledgerPath: path, options: LaunchOptions(jobs: 1))
    return path
}()

/// The report data with the default options, loaded once (a debug-build load evaluates every grid).
let defaultData: StudyReportData = try! StudyReportBuilder.load(ledger: try! Ledger(path: studyLedger, readOnly: true), study: "rep")

func loadData(_ options: LoadOptions? = nil) throws -> StudyReportData {
    guard let options else { return defaultData }
    return try StudyReportBuilder.load(ledger: try Ledger(path: studyLedger, readOnly: true), study: "rep", options: options)
}

/// The summary as `study summary --format json` prints it, read back with JSONDecoder
/// (Foundation's JSONSerialization on Linux rounds some doubles by an ulp; JSONDecoder is exact).
func summaryJSON() throws -> StudySummary {
    let metrics = try StudyMetrics(ledger: try Ledger(path: studyLedger, readOnly: true), studyName: "rep")
    let text = try StudyReport.render(metrics.summary(), format: .json)
    return try JSONDecoder().decode(StudySummary.self, from: Data(text.utf8))
}

/// Every <svg>…</svg> of an HTML text, parsed as XML (each must be well-formed).
func svgs(_ html: String) throws -> [XMLDocument] {
    var out: [XMLDocument] = []
    var rest = html[...]
    while let start = rest.range(of: "<svg "), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
        out.append(try XMLDocument(xmlString: String(rest[start.lowerBound..<end.upperBound]), options: []))
        rest = rest[end.upperBound...]
    }
    return out
}

extension XMLElement {
    func attr(_ name: String) -> String? { attributes?.first { $0.name == name }?.stringValue }
}

func nodes(_ doc: XMLDocument, _ xpath: String) throws -> [XMLElement] {
    try doc.nodes(forXPath: xpath).compactMap { $0 as? XMLElement }
}

func chart(_ docs: [XMLDocument], _ id: String) throws -> XMLDocument {
    try #require(docs.first { $0.rootElement()?.attr("data-chart") == id }, "no chart \(id)")
}


struct ReportTests {
    @Test func regretChartsHaveOneSeriesPerOptimizerWithBudgetPoints() throws {
        let data = try loadData()
        let docs = try svgs(StudyReportBuilder.html(data))
        for (i, (name, budget)) in [("land", 12), ("h3", 9)].enumerated() {
            let doc = try chart(docs, "regret-o\(i + 1)")
            let lines = try nodes(doc, "//*[@data-role='line']")
            #expect(lines.map { $0.attr("data-series") } == ["random", "sobol", "pattern"], "\(name)")
            #expect(lines.allSatisfy { $0.attr("data-points") == String(budget) }, "\(name)")
            #expect(try nodes(doc, "//*[@data-role='band']").count == 3)
        }
    }

    @Test func referenceLinesAndFinalsEqualTheSummaryJSON() throws {
        let data = try loadData()
        let docs = try svgs(StudyReportBuilder.html(data))
        let json = try summaryJSON()
        let land = try #require(json.objectives.first { $0.name == "land" })
        #expect(land.references.map(\.method).sorted() == ["frank", "vlm"])
        let doc = try chart(docs, "regret-o1")
        for r in land.references {
            let line = try #require(try nodes(doc, "//*[@data-role='reference'][@data-label='\(r.method)']").first)
            #expect(Double(line.attr("data-value")!) == r.regret)
            #expect(Double(line.attr("data-regret")!) == r.regret)
            #expect(Double(line.attr("data-score")!) == r.value)
        }
        // Evaluations to beat FRANK: one mark per optimizer that beats it, at the summary's n.
        let frank = try #require(land.references.first { $0.method == "frank" })
        let marks = try nodes(doc, "//*[@data-beat='frank']")
        for m in marks {
            #expect(frank.evaluationsToBeat[m.attr("data-optimizer")!]! == Int(m.attr("data-n")!))
        }
        #expect(marks.count == frank.evaluationsToBeat.values.filter { $0 != nil }.count)
        // The final median of each curve is the summary's median final regret (same arithmetic).
        for r in land.optimizers {
            let curve = try #require(data.objectives[0].curves.first { $0.optimizer == r.optimizer })
            #expect(curve.median.last == r.medianFinalRegret)
            #expect(curve.n.last == land.budget)
        }
    }

    @Test func rorBoxesEqualTheSummaryJSON() throws {
        let docs = try svgs(StudyReportBuilder.html(try loadData()))
        let json = try summaryJSON()
        let doc = try chart(docs, "ror")
        for o in json.overall {
            let box = try #require(try nodes(doc, "//*[@data-role='box'][@data-series='\(o.optimizer)']").first)
            #expect(Double(box.attr("data-mean")!) == o.meanRoR)
            #expect(Double(box.attr("data-median")!) == o.medianRoR)
            let values = try nodes(doc, "//*[@data-series='\(o.optimizer)']/*[@data-role='value']").map { Double($0.attr("data-value")!)! }
            let expected = json.objectives.compactMap { obj in obj.optimizers.first { $0.optimizer == o.optimizer }?.ror }
            #expect(values == expected)
            #expect(values.count == 2)
        }
    }

    @Test func landscapesShowHeatmapTrialsAndSeedSwitch() throws {
        let data = try loadData()
        let html = StudyReportBuilder.html(data)
        let docs = try svgs(html)
        let land = try chart(docs, "land-o1-0")
        let heat = try #require(try nodes(land, "//*[@data-role='heatmap']").first)
        #expect(Int(heat.attr("data-cells-total") ?? heat.attr("data-cells")!) == 48 * 48)
        #expect(try nodes(land, "//*[@data-role='contour']").count > 0)
        #expect(try nodes(land, "//*[@data-role='segment']").count == 1)  // the sum-to-one line
        #expect(try nodes(land, "//*[@data-kind='measured']").first?.attr("data-points") == "9")
        #expect(try nodes(land, "//*[@data-reference='vlm']").count == 1)  // frank has no coordinates here
        for opt in ["random", "sobol", "pattern"] {
            let marks = try #require(try nodes(land, "//*[@data-role='marks'][@data-series='\(opt)']").first)
            #expect(marks.attr("data-points") == "36")  // 3 seeds × 12
            #expect(Set(try nodes(land, "//*[@data-series='\(opt)']/*[@data-seed]").map { $0.attr("data-seed")! }) == ["0", "1", "2"])
        }
        // Seed switch: "all" plus one radio per seed, and a CSS rule per seed.
        #expect(html.components(separatedBy: "name=\"seed-o1\"").count - 1 == 4)
        #expect(html.contains("#seed-o1-1:checked ~ .panels [data-seed]:not([data-seed=\"1\"]){display:none}"))
        // Three parameters: one panel per level of the third (no measured grid: low, middle, high).
        let panels = docs.filter { ($0.rootElement()?.attr("data-chart") ?? "").hasPrefix("land-o2-") }
        #expect(panels.count == 3)
        let shown = try panels.map { try nodes($0, "//*[@data-role='marks'][@data-series='random']").first!.attr("data-points")! }
        #expect(shown.compactMap { Int($0) }.reduce(0, +) == 27)  // every trial in exactly one panel
    }

    @Test func aLandscapeEditedAfterLaunchIsNoted() throws {
        // The checksum recorded at launch matches the file as written: no note.
        #expect(defaultData.objectives[0].notes.isEmpty)
        let metrics = try StudyMetrics(ledger: try Ledger(path: studyLedger, readOnly: true), studyName: "rep")
        var spec = try JSONDecoder().decode(ObjectiveSpec.self, from: Data(metrics.objectives[0].definition.utf8))
        #expect(spec.landscapeChecksum == landscapeChecksum(try Data(contentsOf: URL(fileURLWithPath: spec.landscape!))))
        spec.landscapeChecksum = "0"
        var notes: [String] = []
        _ = StudyReportBuilder.landscapeData(spec, names: ["vl_weight", "exp_weight"], options: LoadOptions(), notes: &notes)
        #expect(notes.count == 1 && notes[0].contains("changed since the study was launched"))
    }

    @Test func trialsAreBoundedAndTheCaptionSaysSo() throws {
        var options = LoadOptions()
        options.maxPointsPerSeries = 6
        let data = try loadData(options)
        let o = data.objectives[0]
        #expect(o.trialsTotal["random"] == 36)
        #expect(o.trialsShown["random"]! <= 6)
        #expect(Set(o.trials.filter { $0.optimizer == "random" }.map(\.seed)) == [0, 1, 2])  // spread over seeds
        let html = StudyReportBuilder.html(data)
        #expect(html.contains("showing \(o.trialsShown.values.reduce(0, +)) of 108 trials"))
    }

    @Test func liveSectionHasTimelineAndProgress() throws {
        let data = try loadData()
        let docs = try svgs(StudyReportBuilder.html(data))
        let timeline = try chart(docs, "timeline")
        let bars = try #require(try nodes(timeline, "//*[@data-role='bars']").first)
        // One attempt per trial: 3 optimizers × 3 seeds × (12 + 9).
        #expect(bars.attr("data-bars") == String(3 * 3 * 21))
        #expect(data.live.attemptsTotal == 189)
        let best = try chart(docs, "best-over-time")
        #expect(try nodes(best, "//*[@data-role='line']").count == 3)
        // The mean best-so-far regret ends at the mean final regret over all runs.
        let final = data.live.bestOverTime.first { $0.optimizer == "random" }!.points.last!.regret
        let metrics = try StudyMetrics(ledger: try Ledger(path: studyLedger, readOnly: true), studyName: "rep")
        let regrets = metrics.curves.filter { $0.optimizer == "random" }.compactMap(\.finalRegret)
        #expect(abs(final - regrets.reduce(0, +) / Double(regrets.count)) < 1e-12)
    }

    @Test func failedAttemptsAreCountedListedAndDrawn() throws {
        // A copy of the ledger with one extra, failed attempt (a preempted first try of a trial
        // that then succeeded) on another executor slot.
        let dir = Scratch.directory("reports-failures")
        let path = dir.appendingPathComponent("copy.sqlite").path
        try FileManager.default.copyItem(atPath: studyLedger, toPath: path)
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: studyLedger + suffix) {
            try FileManager.default.copyItem(atPath: studyLedger + suffix, toPath: path + suffix)
        }
        let ledger = try Ledger(path: path)
        let study = try #require(try ledger.study(named: "rep"))
        let trial = try #require(try ledger.trials(study: study.id!).first)
        try ledger.writeWithoutCoordinator(study: study.id!) { w in
            var a = AttemptRecord(trial: trial.id!, number: 2, state: .fail, executor: "slurm", host: "node7", slot: 3,
                                  started: trial.started)
            a.finished = trial.started.addingTimeInterval(0.5)
            a.reason = "preempted"
            a.detail = "job 42 <PREEMPTED> & requeued"
            try w.insert(&a)
        }
        let data = try StudyReportBuilder.load(ledger: try Ledger(path: path, readOnly: true), study: "rep")
        #expect(data.live.failureCounts == ["preempted": 1])
        #expect(data.live.failures.count == 1 && data.live.failures[0].final == false)
        let live = try #require(StudyReportBuilder.sections(data).first { $0.id == "live" }).html
        #expect(live.contains("<td>preempted</td><td>1</td>"))
        #expect(live.contains("job 42 &lt;PREEMPTED&gt; &amp; requeued"))
        let timeline = try chart(try svgs(live), "timeline")
        #expect(try nodes(timeline, "//*[@data-row]").map { $0.stringValue ?? "" }.contains("slurm node7 slot 3"))
        let failed = try nodes(timeline, "//*[@data-state='FAIL']")
        #expect(failed.count == 1 && failed[0].attr("data-attempt") == "2" && failed[0].attr("stroke") == "#000")
    }

    @Test func closedFormsRecordedInTheLandscapeAreShown() throws {
        let data = try loadData()
        let cf = try #require(data.objectives[0].closedForms)
        #expect(cf.coefficients == [LayerCoefficients(method: "frank", vl: [0.1, 0.2], exp: [0.9, 0.8], other: [0.3, 0.7])])
        #expect(data.objectives[1].closedForms == nil)
        let sections = StudyReportBuilder.sections(data)
        let section = try #require(sections.first { $0.id == "closed-forms" })
        let doc = try chart(try svgs(section.html), "layers-o1")
        #expect(try nodes(doc, "//*[@data-role='line']").map { $0.attr("data-series")! } == ["frank λ_V", "frank λ_R"])
    }

    @Test func pageIsSelfContainedAndEscaped() throws {
        let data = try loadData()
        let html = StudyReportBuilder.html(data)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script src") && !html.contains("<link"))
        // The only URL is the SVG namespace.
        #expect(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").range(of: "https?://", options: .regularExpression) == nil)
        #expect(html.contains("report test &lt;study&gt; &amp; friends"))
        let ids = StudyReportBuilder.sections(data).map(\.id)
        #expect(ids == ["overview", "regret", "ror", "landscapes", "live", "closed-forms"])
        for id in ids { #expect(html.contains("<section id=\"\(id)\"")) }
    }

    @Test func logScaleDrawsDecades() throws {
        let docs = try svgs(StudyReportBuilder.html(try loadData(), options: ReportOptions(logScale: true)))
        let doc = try chart(docs, "regret-o1")
        #expect(try nodes(doc, "//*[@data-axis='y']").first?.attr("data-scale") == "log")
    }

    @Test func dataEncodesAsJSON() throws {
        let data = try loadData()
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let back = try decoder.decode(StudyReportData.self, from: try encoder.encode(data))
        #expect(back.summary == data.summary)
        #expect(back.objectives.map(\.curves) == data.objectives.map(\.curves))
    }

    @Test func testbedClosedFormsEqualTheOnesItsLandscapeRecorded() throws {
        // The shipped family's FRANK, MetaGPT and NaN, computed from its checkpoints, against the
        // coefficients `mergetune testbed grid` wrote into the landscape it measured (6 digits).
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var spec = ObjectiveSpec(name: "live", kind: "testbed")
        spec.scenario = "language"
        spec.directory = root.appendingPathComponent("Testbed").path
        var notes: [String] = []
        let cf = try #require(StudyReportBuilder.closedForms(spec, options: LoadOptions(), notes: &notes), "\(notes)")
        let text = try String(contentsOf: root.appendingPathComponent("Surrogates/testbed-language-task_arithmetic.csv"), encoding: .utf8)
        let recorded = StudyReportBuilder.recordedCoefficients(text)
        // frank_prior_paper: the probe's shares and the paper's schedule, as the grid merged it.
        for method in ["frank", "frank_prior_paper", "metagpt", "nan"] {
            let a = try #require(cf.coefficients.first { $0.method == method })
            let b = try #require(recorded.first { $0.method == method })
            #expect(a.vl.count == b.vl.count)
            for (x, y) in zip(a.vl + a.exp + (a.other ?? []), b.vl + b.exp + (b.other ?? [])) {
                #expect(abs(x - y) <= 5e-6 * max(1, abs(y)), "\(method): \(x) vs \(y)")
            }
        }
        // The `max` schedule: shown with coefficients in [0, 1] or not at all (with the reason).
        if let m = cf.coefficients.first(where: { $0.method == "frank_prior_max" }) {
            #expect((m.vl + m.exp).allSatisfy { (0...1).contains($0) }, "\(m)")
        } else {
            #expect((cf.note ?? "").contains("frank_prior_max"), "\(cf.note ?? "")")
        }
        let d = try #require(cf.diagnostics)
        #expect(d.normV.count == 4 && d.normR.count == 4)
        #expect(d.cosine.allSatisfy { (-1...1).contains($0) })
        #expect(d.normV.allSatisfy { $0 > 0 })
    }
}
