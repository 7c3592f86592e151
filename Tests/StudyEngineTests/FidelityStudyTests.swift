import Foundation
import Testing
import Ledger
import Testbed
@testable import StudyEngine

/// Objectives with fidelities and the multi-fidelity optimizer (asha): spec, budget in cost,
/// the fidelity each evaluator gets, replay and resume.
@Suite("Fidelities")
struct FidelityStudyTests {
    static let directory = try! TestbedFamily.locate()
    static let fidelities = "fidelities = [{ value = 25, cost = 1 }, { value = 50, cost = 2 }, { value = 100, cost = 4 }]"

    func testbedSpec(_ fidelities: String = FidelityStudyTests.fidelities, optimizer: String = "asha", budget: Int = 2) -> String {
        """
        name = "mf"
        seeds = 1
        budget = \(budget)
        [[optimizers]]
        kind = "\(optimizer)"
        [[objectives]]
        kind = "testbed"
        scenario = "language"
        method = "task_arithmetic"
        directory = "\(Self.directory.path)"
        bounds = { vl_weight = [0, 4], exp_weight = [0, 2] }
        \(fidelities)
        """
    }

    /// A command evaluator whose score depends on the point and on the fidelity it was given.
    static let fidelityEvaluator = "[\"python3\", \"-c\", \"import sys, json; p = json.loads(sys.argv[1]); print(-(p['x'] - 0.3) ** 2 - p['y'] ** 2 + 0.001 * int(sys.argv[2]))\", \"{params_json}\", \"{fidelity}\"]"

    @Test func specErrorsNameTheKey() throws {
        func key(_ text: String) throws -> (String, String)? { try specError(text).map { ($0.key, $0.message) } }
        let descending = try #require(try key(testbedSpec("fidelities = [{ value = 50 }, { value = 25 }]")))
        #expect(descending.0 == "objectives[0].fidelities[1].value", "\(descending)")
        let one = try #require(try key(testbedSpec("fidelities = [{ value = 25 }]")))
        #expect(one.0 == "objectives[0].fidelities")
        let partial = try #require(try key(testbedSpec("fidelities = [{ value = 25, cost = 1 }, { value = 50 }]")))
        #expect(partial.0 == "objectives[0].fidelities[1].cost")
        let negative = try #require(try key(testbedSpec("fidelities = [{ value = 25, cost = -1 }, { value = 50, cost = 2 }]")))
        #expect(negative.0 == "objectives[0].fidelities[0].cost")
        let typo = try #require(try key(testbedSpec("fidelities = [{ value = 25, costs = 1 }, { value = 50 }]")))
        #expect(typo.0 == "objectives[0].fidelities[0].costs")
        let tooMany = try #require(try key(testbedSpec("fidelities = [{ value = 25 }, { value = 150 }]")))
        #expect(tooMany.0 == "objectives[0].fidelities[1].value" && tooMany.1.contains("100"), "\(tooMany)")
        let noFidelities = try #require(try key(commandSpec(command: pythonEvaluator("print(1)"), optimizer: "asha")))
        #expect(noFidelities.0 == "optimizers[0].fidelities" && noFidelities.1.contains("needs an objective with fidelities"), "\(noFidelities)")
        // A command objective with fidelities must hand {fidelity} to its evaluator, and only then has one.
        let unused = try #require(try key(commandSpec(command: pythonEvaluator("print(1)"), extra: "fidelities = [{ value = 10 }, { value = 30 }]")))
        #expect(unused.0 == "objectives[0].fidelities" && unused.1.contains("{fidelity}"), "\(unused)")
        let unknown = try #require(try key(commandSpec(command: Self.fidelityEvaluator)))
        #expect(unknown.0 == "objectives[0].command" && unknown.1.contains("fidelity"), "\(unknown)")
        #expect(try specError(commandSpec(command: Self.fidelityEvaluator, extra: "fidelities = [{ value = 10 }, { value = 30 }]")) == nil)
    }

    @Test func withoutFidelitiesTheStoredSpecAndTrialsAreAsBefore() throws {
        let s = try spec(commandSpec(command: pythonEvaluator("print(1)")))
        let json = try s.canonicalJSON()
        #expect(s.objectives[0].fidelities == nil && !json.contains("fidelit"))
        let m = try spec(commandSpec(command: Self.fidelityEvaluator, extra: "fidelities = [{ value = 10 }, { value = 30 }]"))
        // Costs omitted: each fidelity costs its value.
        #expect(m.objectives[0].fidelities == [FidelitySpec(value: 10, cost: 10), FidelitySpec(value: 30, cost: 30)])
    }

    /// ASHA on the live testbed: each trial is scored on the first `value` examples per task,
    /// records its fidelity and cost, and the run spends budget × full cost.
    @Test func aTestbedStudyEvaluatesEachTrialAtItsFidelityWithinTheCostBudget() throws {
        let dir = try tempDirectory()
        let s = try spec(testbedSpec(), in: dir)
        let (ledger, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("l.sqlite").path)
        #expect(result.studyDone)
        let study = try #require(try ledger.study(named: "mf"))
        let trials = try ledger.trials(study: study.id!)
        let costs = [1.0, 2, 4]
        let spent = trials.reduce(0) { $0 + costs[$1.fidelity!] }
        // Budget 2 full evaluations = cost 8; the last trial may overshoot by less than one.
        #expect(spent >= 8 && spent < 12, "\(trials.map { $0.fidelity! })")
        #expect(trials.allSatisfy { $0.cost == costs[$0.fidelity!] })
        #expect(trials.prefix(3).map(\.fidelity) == [0, 0, 0] && trials[3].fidelity == 1)
        for t in trials {
            let p = parseParams(t.params)
            let limit = [25, 50, 100][t.fidelity!]
            let evaluator = try TestbedEvaluator(directory: Self.directory, scenario: .language, limit: limit)
            let score = try evaluator.evaluate(method: .taskArithmetic, vlWeight: p["vl_weight"]!, expWeight: p["exp_weight"]!)
            #expect(t.value == score.value, "trial \(t.number) at \(limit) examples")
        }
        // Curves by cost (in full evaluations); the best is a full-fidelity trial's.
        let metrics = try StudyMetrics(ledger: ledger, studyName: "mf")
        let curve = try #require(metrics.curves.first)
        #expect(curve.complete && curve.points.last?.cost == spent / 4)
        let fullValues = trials.filter { $0.fidelity == 2 }.compactMap(\.value)
        #expect(curve.points.last?.best == fullValues.max())
        let csv = StudyReport.curvesCSV(metrics).split(separator: "\n")
        #expect(csv[0].hasSuffix(",fidelity,cost"))
    }

    /// A coordinator killed part-way through an asha study: the resumed run replays the
    /// recorded points with their fidelities and ends with exactly the trials of an unbroken run.
    @Test func aMultiFidelityStudyResumesExactly() throws {
        let dir = try tempDirectory()
        let s = try spec(testbedSpec(budget: 2), in: dir)
        let (reference, _) = try runStudy(s, ledgerAt: dir.appendingPathComponent("ref.sqlite").path)
        let referenceTrials = try reference.trials(study: 1)
        #expect(referenceTrials.count >= 5)

        let prepared = try PreparedStudy.prepare(s)
        let ledger = try Ledger(path: dir.appendingPathComponent("crash.sqlite").path)
        let study = try StudyStore.open(prepared, in: ledger)
        let dead = Owner(host: Owner.current.host, pid: Int32.max - 13, start: 1)
        _ = try ledger.claimStudy(study.id!, owner: dead)
        // Four trials recorded (the promotion among them), the fifth was being evaluated.
        try ledger.write(study: study.id!, owner: dead) { w in
            let run = try ledger.runs(study: study.id!)[0]
            try w.startRun(run.id!, batch: 1)
            for t in referenceTrials.prefix(5) {
                var copy = t
                copy.id = nil
                if t.number == 5 { copy.state = .running; copy.value = nil; copy.tellSeq = nil; copy.extras = nil }
                try w.insert(&copy)
                var a = AttemptRecord(trial: copy.id!, number: 1, state: t.number == 5 ? .running : .complete,
                                      executor: "inprocess", slot: 0, started: t.started)
                try w.insert(&a)
            }
        }
        let result = try coordinate(ledger, study, prepared)
        #expect(result.trialsReplayed == 4 && result.staleTrialsRerun == 1)
        #expect(try trialKeys(ledger, study: "mf") == trialKeys(reference, study: "mf"))
        #expect(try ledger.trials(study: study.id!).map(\.fidelity) == referenceTrials.map(\.fidelity))
        // Resuming the finished study changes nothing.
        let (_, again) = try StudyEngine.resume(name: "mf", ledgerPath: dir.appendingPathComponent("crash.sqlite").path)
        #expect(again.studyDone && again.trialsEvaluated == 0)
    }

    /// A command objective gets the fidelity's value as {fidelity}; a plain optimizer on it runs
    /// every trial at full fidelity.
    @Test func aCommandEvaluatorGetsTheFidelity() throws {
        for optimizer in ["asha", "random"] {
            let dir = try tempDirectory()
            let s = try spec(commandSpec(command: Self.fidelityEvaluator, extra: "fidelities = [{ value = 10, cost = 1 }, { value = 30, cost = 3 }]",
                                         budget: 3, optimizer: optimizer), in: dir)
            let ledgerPath = dir.appendingPathComponent("l.sqlite").path
            let (study, result) = try StudyEngine.launch(spec: s, ledgerPath: ledgerPath, options: LaunchOptions())
            #expect(result.runsCompleted == 1)
            let trials = try Ledger(path: ledgerPath).trials(study: study.id!)
            for t in trials {
                let p = parseParams(t.params)
                let x = try #require(p["x"]), y = try #require(p["y"])
                let f = [10.0, 30][try #require(t.fidelity)]
                #expect(t.value == -(x - 0.3) * (x - 0.3) - y * y + 0.001 * f, "\(t.params) at \(f)")
            }
            if optimizer == "random" {
                #expect(trials.count == 3 && trials.allSatisfy { $0.fidelity == 1 && $0.cost == 3 })
            } else {
                #expect(trials.contains { $0.fidelity == 0 } && trials.contains { $0.fidelity == 1 })
                let spent = trials.reduce(0.0) { $0 + $1.cost! }
                #expect(spent >= 9 && spent < 12)
            }
        }
    }
}
