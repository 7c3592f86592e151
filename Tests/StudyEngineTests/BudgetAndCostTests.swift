import Foundation
import Testing
import Ledger
@testable import StudyEngine

/// A single `budget = N` at every number of parameters (identity of older specs kept), and a
/// multi-fidelity study's progress and "to beat" in cost, the unit of its budget (issue 11).
@Suite("BudgetAndCost")
struct BudgetAndCostTests {
    /// A 20-D command objective (an analytic one's dense-grid extrema are for d ≤ 3) and a 2-D one.
    static let wide = """
        name = "wide"
        seeds = 1
        budget = 25
        [[optimizers]]
        kind = "random"
        [[objectives]]
        kind = "command"
        name = "sum20"
        command = \(pythonEvaluator("print(sum(p.values()))"))
        score = "stdout"
        bounds = { \((0..<20).map { "x\($0) = [0, 1]" }.joined(separator: ", ")) }
        [[objectives]]
        kind = "analytic"
        function = "branin"
        """

    @Test func aSingleBudgetCoversEveryNumberOfParameters() throws {
        let dir = try tempDirectory()
        let s = try spec(Self.wide, in: dir)
        #expect(s.budget(dimension: 20) == 25 && s.budget(dimension: 2) == 25 && s.budget(dimension: 40) == 25)
        // The runs the ledger gets: 25 trials each, the 20-D one included (not the default 400).
        let (ledger, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("w.sqlite").path)
        #expect(result.studyDone)
        let runs = try ledger.runs(study: 1)
        #expect(runs.map(\.budget) == [25, 25])
        #expect(try ledger.trials(study: 1).count == 50)
        // Without `budget`, the default rule (20 per parameter, 40/60 for the paper's 2/3).
        let defaults = try spec(Self.wide.replacingOccurrences(of: "budget = 25\n", with: ""), in: dir)
        #expect(defaults.budget(dimension: 20) == 400 && defaults.budget(dimension: 2) == 40 && defaults.uniformBudget == nil)
    }

    /// A ledger written before the rule covered every dimension stored `budgets` 1–16 only; the
    /// same spec file read now is the same study (it resumes), and specs without `budget = N`
    /// store exactly what they stored before.
    @Test func anOlderLedgerOfASingleBudgetKeepsItsIdentity() throws {
        let dir = try tempDirectory()
        let s = try spec(Self.wide, in: dir)
        let json = try s.canonicalJSON()
        #expect(json.contains("\"uniformBudget\":25"))
        var object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        object.removeValue(forKey: "uniformBudget")
        let legacyJSON = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        let legacy = try StudySpec.fromJSON(legacyJSON)
        #expect(legacy.uniformBudget == nil && legacy.budgets == Dictionary(uniqueKeysWithValues: (1...16).map { ($0, 25) }))
        #expect(legacy.sameStudy(as: s) && s.sameStudy(as: legacy))
        let ledger = try Ledger(path: dir.appendingPathComponent("old.sqlite").path)
        let record = StudyRecord(name: "wide", spec: legacyJSON, created: Date())
        try StudyStore.checkSame(record, s, ledger)  // throws specMismatch if the identity changed
        // Another budget is still another study.
        let other = try spec(Self.wide.replacingOccurrences(of: "budget = 25", with: "budget = 26"), in: dir)
        #expect(!legacy.sameStudy(as: other))
        // A table or the defaults: no uniformBudget stored.
        let table = try spec(Self.wide.replacingOccurrences(of: "budget = 25", with: "budget = { 20 = 30, 8 = 10 }"), in: dir)
        #expect(!(try table.canonicalJSON()).contains("uniformBudget") && table.budget(dimension: 20) == 30)
    }

    /// ASHA on the live testbed: many cheap trials, a budget of 4 full evaluations. Progress in
    /// trials would read > 100 %; in cost it ends at the budget (the last trial may overshoot by
    /// less than one full evaluation), and says so.
    @Test func multiFidelityProgressIsInCost() throws {
        let dir = try tempDirectory()
        let text = FidelityStudyTests().testbedSpec(budget: 4) + """

            [[objectives.references]]
            name = "low"
            score = -9.0
            """
        let s = try spec(text, in: dir)
        let lock = NSLock()
        nonisolated(unsafe) var lines: [String] = []
        let reporter = ProgressReporter(interactive: false) { l in lock.lock(); lines.append(l); lock.unlock() }
        let prepared = try PreparedStudy.prepare(s)
        let ledger = try Ledger(path: dir.appendingPathComponent("mf.sqlite").path)
        let study = try StudyStore.open(prepared, in: ledger)
        let result = try Coordinator(ledger: ledger, study: study, prepared: prepared, executor: try ExecutorFactory.make(ExecutionSpec()),
                                     execution: ExecutionSpec(), reporter: reporter).run()
        #expect(result.studyDone)
        let trials = try ledger.trials(study: study.id!)
        let spent = trials.reduce(0.0) { $0 + [1.0, 2, 4][$1.fidelity!] } / 4  // fidelities cost 1, 2, 4
        #expect(trials.count > 4 && spent >= 4 && spent < 5)

        let p = try ledger.progress(of: study)
        #expect(p.trialsTotal == 4 && p.trialsDone == trials.count)
        #expect(p.costDone == spent && result.progress.costDone == spent)
        #expect(p.fractionDone == 1)
        #expect(p.doneText(unit: "trials") == "cost \(StudyProgress.costText(spent))/4 full-fidelity evaluations (\(trials.count) trials)")
        let status = try StudyControl.status(ledger, name: "mf")
        #expect(status.contains("1/1 runs done, cost \(StudyProgress.costText(spent))/4 full-fidelity evaluations"), "\(status)")
        #expect(try StudyReport.show(ledger, name: "mf").contains("evaluations: cost "))
        #expect(lines.first == "[mf] 0/1 runs done, cost 0/4 full-fidelity evaluations (0 trials) recorded\n", "\(lines)")
        #expect(lines.last?.contains("\(trials.count) evaluations (cost \(StudyProgress.costText(spent)) full-fidelity evaluations) in ") == true, "\(lines)")

        // "To beat" in cost: the cost of the trials up to and including the first full-fidelity
        // one whose score beats the reference (one seed: the median is that run's).
        let summary = try StudyMetrics(ledger: ledger, studyName: "mf").summary()
        let low = try #require(summary.objectives[0].references.first { $0.method == "low" })
        let beat = try #require(trials.first { $0.fidelity == 2 && ($0.value ?? -.infinity) > -9.0 })
        let costUpTo = trials.filter { $0.number <= beat.number }.reduce(0.0) { $0 + [1.0, 2, 4][$1.fidelity!] } / 4
        #expect(low.costToBeat?["asha"] == .some(costUpTo))
        #expect(low.evaluationsToBeat["asha"] == .some(beat.number))
        #expect(costUpTo != Double(beat.number))  // cheap trials cost less than one: the two differ here
        let table = try StudyReport.render(summary, format: .table)
        #expect(table.contains("median cost to beat them, in full-fidelity evaluations"))
        #expect(try StudyReport.render(summary, format: .csv).contains("cost_to_beat,\(costUpTo)"))
    }

    @Test func anOrdinaryStudyCountsTrials() throws {
        let dir = try tempDirectory()
        let s = try spec(smallSpec, in: dir)
        let (ledger, _) = try runStudy(s, ledgerAt: dir.appendingPathComponent("o.sqlite").path)
        let study = try #require(try ledger.study(named: "small"))
        let p = try ledger.progress(of: study)
        #expect(p.costDone == nil && p.trialsDone == 72 && p.doneText(unit: "trials") == "72/72 trials")
        #expect(try StudyControl.status(ledger, name: "small").contains("8/8 runs done, 72/72 trials done"))
        let summary = try StudyMetrics(ledger: ledger, studyName: "small").summary()
        #expect(summary.objectives.allSatisfy { $0.references.allSatisfy { $0.costToBeat == nil } })
        #expect(try StudyReport.render(summary, format: .table).contains("median evaluations to beat them"))
    }
}
