import Foundation
import Testing
import Fusion
import Ledger
import Testbed
@testable import StudyEngine

/// A live testbed objective: every trial merges the shipped family in memory.
@Suite("Testbed objectives in studies")
struct TestbedStudyTests {
    static let directory = try! TestbedFamily.locate()

    func liveSpec(_ extra: String = "", budget: Int = 3) -> String {
        """
        name = "live"
        seeds = 5
        budget = { 2 = \(budget) }
        [[optimizers]]
        kind = "random"
        [[objectives]]
        kind = "testbed"
        scenario = "language"
        method = "task_arithmetic"
        directory = "\(Self.directory.path)"
        seeds = 1
        bounds = { vl_weight = [0, 4], exp_weight = [0, 2] }
        \(extra)
        """
    }

    @Test func aLiveStudyRecordsTrialsThatMatchTheEvaluator() throws {
        let dir = try tempDirectory()
        let s = try spec(liveSpec(), in: dir)
        #expect(s.objectives[0].name == "testbed-language-task_arithmetic")
        #expect(s.objectives[0].seeds == [0])  // the objective's seeds override the study's 5
        let (ledger, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("l.sqlite").path, jobs: 2)
        #expect(result.studyDone && result.trialsEvaluated == 3)

        let study = try #require(try ledger.study(named: "live"))
        let o = try ledger.objectives(study: study.id!)[0]
        #expect(o.kind == "testbed")
        let refs = try ledger.references(study: study.id!)
        #expect(refs.map(\.method) == ["frank", "metagpt", "nan", "vlm", "expert"])
        // Extremes before any trial: the lowest and highest reference measured at creation.
        #expect(o.fMin == refs.map(\.value).min() && o.fMax == refs.map(\.value).max())

        let evaluator = try TestbedEvaluator(directory: Self.directory, scenario: .language)
        let frankNow = try evaluator.evaluate(spec: MergeSpec(method: .frank)).value
        #expect(refs[0].value == frankNow, "recorded \(refs[0].value), now \(frankNow)")
        let trials = try ledger.trials(study: study.id!)
        #expect(trials.count == 3)
        for t in trials {
            #expect(t.state == .complete)
            let p = parseParams(t.params)
            let (v, e) = (try #require(p["vl_weight"]), try #require(p["exp_weight"]))
            #expect(v >= 0 && v <= 4 && e >= 0 && e <= 2)
            let score = try evaluator.evaluate(method: .taskArithmetic, vlWeight: v, expWeight: e)
            #expect(t.value == score.value)  // deterministic: the same merge scores the same, bit for bit
            let extras = parseParams(try #require(t.extras))
            #expect(extras["perception"] == score.perception && extras["skill"] == score.skill && extras["target"] == score.target)
        }
        // The trials export carries the sub-scores.
        let csv = StudyReport.trialsCSV(try StudyMetrics(ledger: ledger, studyName: "live"))
        #expect(csv.split(separator: "\n")[0].contains("extra_perception"))
    }

    @Test func testbedSpecErrorsNameTheKey() throws {
        let scenario = try #require(try specError(liveSpec().replacingOccurrences(of: "\"language\"", with: "\"vision\"")))
        #expect(scenario.key == "objectives[0].scenario" && scenario.message.contains("vision"))
        let method = try #require(try specError(liveSpec().replacingOccurrences(of: "\"task_arithmetic\"", with: "\"frank\"")))
        #expect(method.key == "objectives[0].method")
        let bounds = try #require(try specError(liveSpec().replacingOccurrences(of: "exp_weight = [0, 2]", with: "density = [0, 2]")))
        #expect(bounds.key == "objectives[0].bounds")
        let sum = try #require(try specError(liveSpec("sum_to_one = [\"vl_weight\", \"exp_weight\"]")))
        #expect(sum.key == "objectives[0].sum_to_one")
        let dir = try #require(try specError(liveSpec().replacingOccurrences(of: Self.directory.path, with: "/nonexistent")))
        #expect(dir.key == "objectives[0].directory")
    }
}
