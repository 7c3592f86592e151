import Foundation
import Testing
import Executors
import Ledger
import Optimizers
@testable import StudyEngine
import TestSupport

/// Every optimizer kind, 3 trials in flight per run, on two analytic objectives.
let batchSpec = """
    name = "batch"
    seeds = 2
    budget = { 2 = 14, 3 = 16 }

    [[optimizers]]
    kind = "random"
    [[optimizers]]
    kind = "sobol"
    [[optimizers]]
    kind = "gp"
    [[optimizers]]
    kind = "cmaes"
    [[optimizers]]
    kind = "pattern"
    [[optimizers]]
    kind = "powell"

    [[objectives]]
    kind = "analytic"
    function = "branin"

    [[objectives.references]]
    name = "centre"
    params = { x1 = 2.5, x2 = 7.5 }

    [[objectives]]
    kind = "analytic"
    function = "hartmann3"

    [executor]
    batch = 3
    deterministic = true
    """

/// The (run, event) sequence of each run: "a<number>" for an ask, "t<number>" for a tell.
func eventSequences(_ ledger: Ledger, study name: String) throws -> [Int64: [String]] {
    let study = try #require(try ledger.study(named: name))
    var out: [Int64: [(Int, String)]] = [:]
    for t in try ledger.trials(study: study.id!) {
        out[t.run, default: []].append((t.askSeq!, "a\(t.number)"))
        if let s = t.tellSeq { out[t.run, default: []].append((s, "t\(t.number)")) }
    }
    return out.mapValues { $0.sorted { $0.0 < $1.0 }.map(\.1) }
}

@Suite("Asynchronous study core")
struct AsyncStudyTests {
    @Test func deterministicModeGivesTheSameTrialsForAnyNumberOfSlots() throws {
        let dir = try tempDirectory()
        let s = try spec(batchSpec, in: dir)
        var results: [[TrialKey]] = []
        for slots in [1, 5] {
            let (ledger, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("l\(slots).sqlite").path, jobs: slots)
            #expect(result.studyDone)
            results.append(try trialKeys(ledger, study: "batch"))
            // Three asks before the first tell, then one ask after each tell: a1 a2 a3 t1 a4 t2 a5 ...
            for (_, events) in try eventSequences(ledger, study: "batch") {
                #expect(Array(events.prefix(5)) == ["a1", "a2", "a3", "t1", "a4"], "\(events)")
                #expect(events.filter { $0.hasPrefix("t") } == events.filter { $0.hasPrefix("t") }.sorted { Int($0.dropFirst())! < Int($1.dropFirst())! })
            }
        }
        #expect(results[0].count == 12 * 14 + 12 * 16)
        #expect(results[0] == results[1])
    }

    @Test func asynchronousModeKeepsEveryRunToItsBudgetWithPendingTrials() throws {
        let dir = try tempDirectory()
        var s = try spec(batchSpec, in: dir)
        s.execution.deterministic = false
        s.execution.batch = 4
        let (ledger, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("l.sqlite").path, jobs: 4)
        #expect(result.studyDone)
        let trials = try ledger.trials(study: 1)
        #expect(trials.count == 12 * 14 + 12 * 16)
        #expect(trials.allSatisfy { $0.state == .complete && $0.tellSeq != nil && $0.attempts == 1 })
        // Random and Sobol points do not depend on arrival order: equal to a sequential run's.
        var sequential = try spec(batchSpec, in: dir)
        sequential.execution.batch = 1
        let (one, _) = try runStudy(sequential, ledgerAt: dir.appendingPathComponent("one.sqlite").path, jobs: 1)
        let pick = { (keys: [TrialKey]) in keys.filter { $0.optimizer == "random" || $0.optimizer == "sobol" } }
        #expect(pick(try trialKeys(ledger, study: "batch")) == pick(try trialKeys(one, study: "batch")))
    }

    @Test func warmStartsAreEvaluatedFirstAndToldBeforeTheFirstAsk() throws {
        let dir = try tempDirectory()
        let text = batchSpec.replacingOccurrences(of: "function = \"branin\"\n", with: "function = \"branin\"\nwarm_start = [\"centre\"]\n")
        let s = try spec(text, in: dir)
        #expect(s.objectives[0].warmStart == ["centre"])
        let (ledger, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("l.sqlite").path, jobs: 3)
        #expect(result.studyDone)
        let study = try #require(try ledger.study(named: "batch"))
        let branin = try ledger.objectives(study: study.id!).first { $0.name == "branin" }!
        for run in try ledger.runs(study: study.id!) where run.objective == branin.id! {
            let trials = try ledger.trials(run: run.id!)
            #expect(trials.count == 14)
            #expect(trials[0].origin == .warmStart && parseParams(trials[0].params) == ["x1": 2.5, "x2": 7.5])
            #expect(trials.dropFirst().allSatisfy { $0.origin == .optimizer && $0.askSeq! > trials[0].tellSeq! })
        }
        // The same study resumed from a ledger holding only the warm starts gives the same trials.
        let (again, _) = try runStudy(s, ledgerAt: dir.appendingPathComponent("again.sqlite").path, jobs: 1)
        #expect(try trialKeys(again, study: "batch") == trialKeys(ledger, study: "batch"))
        // A warm start must name a reference with parameters.
        let bad = try spec(batchSpec.replacingOccurrences(of: "function = \"branin\"\n", with: "function = \"branin\"\nwarm_start = [\"nope\"]\n"), in: dir)
        #expect(throws: SpecError.self) { _ = try runStudy(bad, ledgerAt: dir.appendingPathComponent("bad.sqlite").path) }
    }

    @Test func failedAttemptsAreRetriedByPolicyAndKeptBesideEachOther() throws {
        for retryOn in [nil, ["objective_error"]] as [[String]?] {
            let dir = try tempDirectory()
            var s = try spec(smallSpec, in: dir)
            s.objectives = [ObjectiveSpec(name: "bowl", kind: "custom")]
            s.budgets = [2: 20]; s.budgetKeys = [2]
            s.execution.retries = 2
            s.execution.retryOn = retryOn
            let prepared = try PreparedStudy(spec: s, objectives: [Bowl()])
            let ledger = try Ledger(path: dir.appendingPathComponent("l.sqlite").path)
            let study = try StudyStore.open(prepared, in: ledger)
            let result = try coordinate(ledger, study, prepared, slots: 2, execution: s.execution)
            #expect(result.studyDone)
            let attempts = try ledger.attempts(study: study.id!)
            let failed = try ledger.trials(study: study.id!).filter { $0.state == .fail && $0.error!.hasPrefix("objective_error") }
            #expect(!failed.isEmpty)
            // Not retried by default; with retry_on, two retries beside the first attempt.
            let expected = retryOn == nil ? 1 : 3
            #expect(failed.allSatisfy { $0.attempts == expected && attempts[$0.id!]?.map(\.reason) == Array(repeating: "objective_error", count: expected) })
            // Non-finite scores are not in retry_on: one attempt.
            let nan = try ledger.trials(study: study.id!).filter { $0.error?.hasPrefix("non_finite") == true }
            #expect(nan.allSatisfy { $0.attempts == 1 })
        }
    }

    @Test func aBudgetForADimensionNoObjectiveHasIsAnError() throws {
        let dir = try tempDirectory()
        let s = try spec(smallSpec.replacingOccurrences(of: "budget = { 2 = 8, 3 = 10 }", with: "budget = { 2 = 8, 3 = 10, 5 = 10 }"), in: dir)
        #expect(s.budgetKeys == [2, 3, 5])
        #expect(throws: SpecError(file: s.source, key: "budget.5", "no objective has 5 parameters (the objectives have 2, 3)")) {
            _ = try PreparedStudy.prepare(s)
        }
        // The table is not part of the study's identity.
        var other = s; other.budgetKeys = nil
        #expect(s.sameStudy(as: other))
    }

    @Test func theExecutorTableIsReadWithItsKeysChecked() throws {
        let dir = try tempDirectory()
        let s = try spec(smallSpec + """

            [executor]
            kind = "local"
            gpus = [0, 1, 2, 3]
            batch = 2
            retries = 1
            retry_on = ["preempted", "lost"]
            timeout = 3600
            env = { HF_HOME = "/scratch/hf" }
            """, in: dir)
        #expect(s.execution.kind == "local" && s.execution.executor.gpus == [0, 1, 2, 3] && s.execution.executor.env == ["HF_HOME": "/scratch/hf"])
        #expect(s.execution.batch == 2 && s.execution.retries == 1 && s.execution.retryOn == ["preempted", "lost"] && s.execution.timeout == 3600)
        // The executor is not part of the study's identity: the same study may move to Slurm.
        #expect(s.sameStudy(as: try spec(smallSpec, in: dir)))
        for (bad, key) in [("kind = \"kubernetes\"", "executor.kind"), ("slots = 0", "executor.slots"), ("retry_on = [\"sometimes\"]", "executor.retry_on[0]"),
                           ("partiton = \"gpu\"", "executor.partiton"), ("batch = -1", "executor.batch")] {
            let e = try specError(smallSpec + "\n[executor]\n" + bad + "\n")
            #expect(e?.key == key, "\(bad): \(String(describing: e))")
        }
    }
}
