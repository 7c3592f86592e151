import Dashboard
import Foundation
import Ledger
import StudyEngine
import Testing
import TestSupport

/// The dashboard's pages as a browser shows them: headless Chromium runs their scripts (which
/// poll the API), then the DOM is checked against the API and screenshots are taken.
@Suite(.serialized, .enabled(if: Chromium.enabled, Comment(rawValue: Chromium.skipMessage)))
struct DashboardInChromium {
    @Test func theStudyListAfterItsScriptRan() throws {
        let (dir, path) = try Fixture.finishedLedger("alpha", optimizers: ["random", "sobol"], budget: 5)
        let second = dir.appendingPathComponent("beta.toml")
        try Fixture.spec(name: "beta", optimizers: ["cmaes"], budget: 6).write(to: second, atomically: true, encoding: .utf8)
        _ = try StudyEngine.launch(specURL: second, ledgerPath: path)
        let server = try ServeProcess(ledger: path)
        let dom = try Chromium.dumpDOM(url: server.url, budgetMs: 3000)
        // The script replaced the rows from /api/studies and said when.
        #expect(DOM.text(dom, id: "conn")?.hasPrefix("updated") == true, "\(DOM.text(dom, id: "conn") ?? "no #conn")")
        let rows = DOM.elements(dom, with: "data-study").map { $0["data-study"]! }
        #expect(rows == ["alpha", "beta"])
        let list = try JSONDecoder().decode(StudyList.self, from: Data(httpGet(server.url + "api/studies").body.utf8))
        let text = DOM.plain(dom)
        for s in list.studies { #expect(text.contains("\(s.trialsDone) / \(s.trialsTotal)"), "\(s.name)") }
        let png = Scratch.path("index") + ".png"
        try Chromium.screenshot(url: server.url, to: URL(fileURLWithPath: png), width: 1200, height: 500, budgetMs: 2000)
        let size = try #require(pngSize(URL(fileURLWithPath: png)))
        #expect(size.width == 1200 && size.height == 500)
        #expect(server.stop() == 0)
    }

    @Test func aStudyPageAfterItsScriptRan() throws {
        let (_, path) = try Fixture.finishedLedger("gamma", optimizers: ["random", "cmaes"], budget: 6)
        let server = try ServeProcess(ledger: path)
        let dom = try Chromium.dumpDOM(url: server.url + "studies/gamma", budgetMs: 3000)
        #expect(DOM.text(dom, id: "conn")?.hasPrefix("updated") == true, "\(DOM.text(dom, id: "conn") ?? "no #conn")")
        let entry = try JSONDecoder().decode(StudyEntry.self, from: Data(httpGet(server.url + "api/studies/gamma").body.utf8))
        #expect(DOM.text(dom, id: "trials") == "\(entry.trialsDone) / \(entry.trialsTotal)")
        #expect(DOM.text(dom, id: "runs") == "\(entry.runsDone) / \(entry.runsTotal)")
        #expect(DOM.text(dom, id: "status") == "done")
        let sections = try JSONDecoder().decode(SectionList.self, from: Data(httpGet(server.url + "api/studies/gamma/sections").body.utf8))
        let shown = DOM.elements(dom, with: "data-section").map { $0["data-section"]! }
        #expect(shown == sections.sections.map(\.id))
        #expect(server.stop() == 0)
    }

    @Test func aFailurePageInTheBrowser() throws {
        let path = Scratch.path("unlaunched") + ".sqlite"
        let server = try ServeProcess(ledger: path)
        let dom = try Chromium.dumpDOM(url: server.url, budgetMs: 500)
        let failure = try #require(DOM.elements(dom, with: "data-kind").first)
        #expect(failure["data-kind"] == "missing_ledger")
        #expect(DOM.text(dom, id: "failure")?.contains(path) == true)
        #expect(server.stop() == 0)
    }
}

/// The report inside the dashboard, as the browser has it after the page's script ran: its
/// figures exist with one series per optimizer, one point per evaluation, labelled axes, and the
/// numbers drawn are the summary's.
@Suite(.serialized, .enabled(if: Chromium.enabled, Comment(rawValue: Chromium.skipMessage)))
struct ReportInChromium {
    static let optimizers = ["random", "sobol", "cmaes"]
    static let budget = 8

    /// Elements of each `<figure>` in a fragment, in order.
    static func figures(_ html: String) -> [[DOM.Element]] {
        let all = DOM.elements(html)
        var out: [[DOM.Element]] = []
        for e in all {
            if e.tag == "figure" { out.append([e]) } else if !out.isEmpty { out[out.count - 1].append(e) }
        }
        return out
    }

    @Test func figuresSeriesPointsAxesAndNumbersMatchTheSummary() throws {
        let (_, path) = try Fixture.finishedLedger("report", optimizers: Self.optimizers, budget: Self.budget)
        let server = try ServeProcess(ledger: path)
        let dom = try Chromium.dumpDOM(url: server.url + "studies/report", budgetMs: 3000)
        #expect(DOM.text(dom, id: "conn")?.hasPrefix("updated") == true)
        let summary = try JSONDecoder().decode(StudySummary.self, from: Data(httpGet(server.url + "api/studies/report/summary").body.utf8))

        // Regret curves: one figure per objective; a band and a line per optimizer, `budget` points each.
        let regret = try #require(DOM.inner(dom, id: "section-regret"), "no regret section")
        let regretFigures = Self.figures(regret).filter { $0[0]["data-objective"] != nil }
        #expect(regretFigures.map { $0[0]["data-objective"]! } == summary.objectives.map(\.name))
        for (figure, objective) in zip(regretFigures, summary.objectives) {
            let lines = figure.filter { $0["data-role"] == "line" }
            #expect(lines.map { $0["data-series"]! } == Self.optimizers, "\(objective.name)")
            #expect(lines.allSatisfy { $0["data-points"] == String(Self.budget) }, "\(objective.name): \(lines.map { $0["data-points"] ?? "" })")
            #expect(figure.filter { $0["data-role"] == "band" }.count == Self.optimizers.count)
            #expect(figure.filter { $0["data-role"] == "axis-label" }.count == 2, "\(objective.name)")
            #expect(figure.filter { $0["data-role"] == "axis" }.count == 2)
            // Reference lines at the summary's regret.
            let drawn = figure.filter { $0["data-role"] == "reference" }.compactMap { e in e["data-label"].map { ($0, Double(e["data-regret"] ?? "") ?? .nan) } }
            for r in objective.references {
                #expect(drawn.contains { $0.0 == r.method && $0.1 == r.regret }, "\(objective.name) \(r.method): \(drawn)")
            }
        }
        let regretText = DOM.plain(regret)
        #expect(regretText.contains("evaluations n") && regretText.contains("regret r(n)"))

        // RoR: one box per optimizer; the medians and means drawn are the summary's overall numbers.
        let ror = try #require(DOM.inner(dom, id: "section-ror"), "no RoR section")
        let elements = DOM.elements(ror)
        let boxes = elements.filter { $0["data-role"] == "box" }
        #expect(boxes.map { $0["data-series"]! } == summary.overall.map(\.optimizer))
        for (i, box) in boxes.enumerated() {
            let next = i + 1 < boxes.count ? boxes[i + 1].offset : Int.max
            let inside = elements.filter { $0.offset > box.offset && $0.offset < next }
            let r = summary.overall[i]
            #expect(box["data-points"] == String(r.objectives), "\(r.optimizer)")
            if let m = r.medianRoR {
                #expect(inside.first { $0["data-role"] == "median" }.flatMap { Double($0["data-value"] ?? "") } == m, "\(r.optimizer) median")
            }
            if let m = r.meanRoR {
                #expect(inside.first { $0["data-role"] == "mean" }.flatMap { Double($0["data-value"] ?? "") } == m, "\(r.optimizer) mean")
            }
        }
        // The overview's table has the summary's optimizers.
        let overview = try #require(DOM.inner(dom, id: "section-overview"))
        #expect(DOM.elements(overview, with: "data-optimizer").map { $0["data-optimizer"]! } == summary.overall.map(\.optimizer))
        #expect(server.stop() == 0)
    }
}
