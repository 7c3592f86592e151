import Foundation
import Testing
@testable import Reports
import StudyEngine
import Ledger
import TestSupport

/// The "Pareto fronts" section of a multi-objective study (a live testbed objective, 3 trials).
@Suite struct ParetoSectionTests {
    @Test func aMultiObjectiveStudyGetsAParetoSectionWithItsFrontAndReferences() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = Scratch.directory("pareto-report")
        let url = dir.appendingPathComponent("spec.toml")
        try """
            name = "pareto-report"
            seeds = 1
            budget = { 2 = 3 }
            [[optimizers]]
            kind = "random"
            [[objectives]]
            kind = "testbed"
            scenario = "language"
            directory = "\(root.appendingPathComponent("Testbed").path)"
            metrics = ["target", "perception"]
            """.write(to: url, atomically: true, encoding: .utf8)
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        _ = try StudyEngine.launch(spec: try StudySpec.load(url), ledgerPath: ledgerPath)
        let data = try StudyReportBuilder.load(ledger: try Ledger(path: ledgerPath), study: "pareto-report")
        let panel = try #require(data.pareto?.first)
        #expect(panel.metrics == ["target", "perception"] && panel.total == 3 && panel.points.count == 3)
        let mo = try #require(data.summary.objectives[0].multiObjective)
        #expect(panel.points.filter(\.onFront).count == mo.front.count)
        let section = try #require(StudyReportBuilder.sections(data).first { $0.id == "pareto" })
        #expect(section.html.contains("data-front=\"\(mo.front.count)\""))
        for r in ["frank", "metagpt", "nan", "vlm", "expert"] { #expect(section.html.contains("data-reference=\"\(r)\"")) }
        #expect(section.html.contains("hypervolume over evaluations"))
    }
}
