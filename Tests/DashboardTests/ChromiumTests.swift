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
