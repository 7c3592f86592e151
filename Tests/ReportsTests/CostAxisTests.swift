import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import Ledger
@testable import Reports
import StudyEngine
import TestSupport

/// A multi-fidelity study (a command evaluator given {fidelity}, ASHA against random, budget in
/// cost): the report plots regret against cost and marks "to beat" at the summary's cost.
let costSpec = """
    name = "mfrep"
    seeds = 2
    budget = 4
    [[optimizers]]
    kind = "random"
    [[optimizers]]
    kind = "asha"
    [[objectives]]
    kind = "command"
    name = "quadratic"
    command = ["python3", "-c", "import sys, json; p = json.loads(sys.argv[1]); print(-(p['x'] - 0.3) ** 2 - p['y'] ** 2 + 0.001 * int(sys.argv[2]))", "{params_json}", "{fidelity}"]
    score = "stdout"
    bounds = { x = [0, 1], y = [-1, 1] }
    fidelities = [{ value = 10, cost = 1 }, { value = 30, cost = 3 }]
    [[objectives.references]]
    name = "frank"
    score = -0.6
    """

@Suite("CostAxis")
struct CostAxisTests {
    @Test func multiFidelityRegretIsPlottedAgainstCostAndBeatenInCost() throws {
        let dir = Scratch.directory("reports-cost")
        let url = dir.appendingPathComponent("mf.toml")
        try costSpec.write(to: url, atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("mf.sqlite").path
        _ = try StudyEngine.launch(specURL: url, ledgerPath: path, options: LaunchOptions(jobs: 1))
        let ledger = try Ledger(path: path, readOnly: true)
        let data = try StudyReportBuilder.load(ledger: ledger, study: "mfrep")
        #expect(data.objectives[0].byCost == true)
        let summary = try StudyMetrics(ledger: ledger, studyName: "mfrep").summary()
        let frank = try #require(summary.objectives[0].references.first { $0.method == "frank" })
        let costs = try #require(frank.costToBeat)
        let html = StudyReportBuilder.html(data)
        let doc = try chart(try svgs(html), "regret-o1")
        #expect(doc.rootElement()?.xmlString.contains("cost (full-fidelity evaluations)") == true)
        let marks = try nodes(doc, "//*[@data-beat='frank']")
        #expect(!marks.isEmpty && marks.count == costs.values.filter { $0 != nil }.count)
        for m in marks {
            #expect(costs[m.attr("data-optimizer")!]! == Double(m.attr("data-cost")!))
            #expect(m.attr("data-n") == nil)
        }
        // The numbers table says cost, and why.
        #expect(html.contains("<td>cost ") && html.contains("the budget is in cost, not trials"))
    }
}
