import Foundation
import Testing
import Ledger
import Optimizers
@testable import StudyEngine
import TestSupport

func tempDirectory() throws -> URL {
    Scratch.directory("study-tests")
}

/// Parses a spec written to `dir/spec.toml`.
func spec(_ text: String, in dir: URL? = nil) throws -> StudySpec {
    let dir = try dir ?? tempDirectory()
    let url = dir.appendingPathComponent("spec.toml")
    try text.write(to: url, atomically: true, encoding: .utf8)
    return try StudySpec.load(url)
}

/// The SpecError a spec raises (file and key included), or nil.
func specError(_ text: String) throws -> SpecError? {
    do { _ = try PreparedStudy.prepare(try spec(text)); return nil } catch let e as SpecError { return e }
}

let smallSpec = """
    name = "small"
    seeds = 2
    budget = { 2 = 8, 3 = 10 }

    [[optimizers]]
    kind = "random"

    [[optimizers]]
    kind = "random"
    name = "random-b"

    [[objectives]]
    kind = "analytic"
    function = "branin"

    [[objectives.references]]
    name = "centre"
    params = { x1 = 2.5, x2 = 7.5 }

    [[objectives.references]]
    name = "measured"
    score = -2.0

    [[objectives]]
    kind = "analytic"
    function = "hartmann3"
    name = "h3"
    """

/// (objective, optimizer, seed, number, state, value bits, params): what must match between ledgers.
struct TrialKey: Hashable {
    let objective: String, optimizer: String, seed: Int, number: Int, state: String, value: UInt64?, params: String, unit: String
}

func trialKeys(_ ledger: Ledger, study name: String) throws -> [TrialKey] {
    let study = try #require(try ledger.study(named: name))
    let objectives = Dictionary(uniqueKeysWithValues: try ledger.objectives(study: study.id!).map { ($0.id!, $0.name) })
    let runs = Dictionary(uniqueKeysWithValues: try ledger.runs(study: study.id!).map { ($0.id!, $0) })
    return try ledger.trials(study: study.id!).map { t in
        let run = runs[t.run]!
        return TrialKey(objective: objectives[run.objective]!, optimizer: run.optimizer, seed: run.seed, number: t.number,
                        state: t.state.rawValue, value: t.value?.bitPattern, params: t.params, unit: t.unit)
    }.sorted { ($0.objective, $0.optimizer, $0.seed, $0.number) < ($1.objective, $1.optimizer, $1.seed, $1.number) }
}

func runStudy(_ s: StudySpec, ledgerAt path: String, jobs: Int = 1) throws -> (Ledger, RunnerResult) {
    let prepared = try PreparedStudy.prepare(s)
    let ledger = try Ledger(path: path)
    let study = try StudyStore.open(prepared, in: ledger)
    return (ledger, try coordinate(ledger, study, prepared, slots: jobs))
}

/// Runs a prepared study with the in-process executor (or the given execution spec).
func coordinate(_ ledger: Ledger, _ study: StudyRecord, _ prepared: PreparedStudy, slots: Int = 1,
                execution: ExecutionSpec? = nil, stop: StopRequest = StopRequest()) throws -> RunnerResult {
    var e = execution ?? prepared.spec.execution
    if e.executor.slots == nil { e.executor.slots = slots }
    return try Coordinator(ledger: ledger, study: study, prepared: prepared, executor: try ExecutorFactory.make(e),
                           execution: e, stop: stop).run()
}

/// Trials of a fixture CSV (objective,optimizer,seed,number,"[unit]",value,state) as lines
/// "objective|optimizer|seed|number|unit|value bits|state".
func recordedTrials(_ url: URL) throws -> [String] {
    let csv = try String(contentsOf: url, encoding: .utf8)
    return csv.split(separator: "\n").dropFirst().map { line in
        let parts = line.components(separatedBy: "\"")
        let head = parts[0].split(separator: ",").map(String.init)
        let tail = parts[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let value = Double(tail[1]).map { "\($0.bitPattern)" } ?? "-"
        return [head[0], head[1], head[2], head[3], parts[1], value, tail[2]].joined(separator: "|")
    }
}

func fixtureOrder(_ a: String, _ b: String) -> Bool {
    let x = a.split(separator: "|"), y = b.split(separator: "|")
    return (x[0], x[1], Int(x[2])!, Int(x[3])!) < (y[0], y[1], Int(y[2])!, Int(y[3])!)
}

/// A ledger's trials in the same form, in fixture order.
func trialLines(_ ledger: Ledger, study: String) throws -> [String] {
    try trialKeys(ledger, study: study).map { k in
        [k.objective, k.optimizer, "\(k.seed)", "\(k.number)", k.unit, k.value.map { "\($0)" } ?? "-", k.state].joined(separator: "|")
    }
}

/// A custom objective: score = −(a + b − 1.5)², failing (throwing) where a > 0.9, NaN where b > 0.95.
struct Bowl: Objective {
    var name = "bowl"
    var kind: String { "custom" }
    var space = try! SearchSpace([Parameter(name: "vl_weight", lower: 0, upper: 1), Parameter(name: "exp_weight", lower: 0, upper: 1)])
    var builtInReferences: [ReferenceSpec] { [] }
    var failing = true
    struct Boom: Error, CustomStringConvertible { var description: String { "boom: out of memory" } }
    func evaluate(_ x: [Double]) throws -> Double {
        if failing && x[0] > 0.9 { throw Boom() }
        if failing && x[1] > 0.95 { return .nan }
        let s = x[0] + x[1] - 1.5
        return -s * s
    }
    func extrema() throws -> (minimum: Double, maximum: Double) { (-2.25, 0) }
}

@Suite("Study specs")
struct SpecTests {
    @Test func parsesAFullSpecWithDefaults() throws {
        let s = try spec(smallSpec)
        #expect(s.name == "small")
        #expect(s.seeds == [0, 1])
        #expect(s.budget(dimension: 2) == 8 && s.budget(dimension: 3) == 10)
        #expect(s.optimizers.map(\.name) == ["random", "random-b"])
        #expect(s.objectives.map(\.name) == ["branin", "h3"])
        #expect(s.objectives[0].references == [ReferenceSpec(name: "centre", params: ["x1": 2.5, "x2": 7.5], score: nil),
                                                ReferenceSpec(name: "measured", params: nil, score: -2)])
        let d = try spec("""
            name = "d"
            [[optimizers]]
            kind = "random"
            [[objectives]]
            kind = "analytic"
            function = "six_hump_camel"
            """)
        #expect(d.seeds == Array(0..<10))
        #expect(d.budget(dimension: 2) == 40 && d.budget(dimension: 3) == 60)
    }

    @Test func theSpecRoundTripsThroughTheLedgerJSON() throws {
        let s = try PreparedStudy.prepare(try spec(smallSpec)).spec
        let back = try StudySpec.fromJSON(try s.canonicalJSON())
        #expect(back == s)
        #expect(try back.canonicalJSON() == s.canonicalJSON())
    }

    @Test func errorsNameTheFileAndTheKey() throws {
        let base = """
            name = "e"
            [[optimizers]]
            kind = "random"
            """
        let unknownOptimizer = try #require(try specError(base + """

            [[optimizers]]
            kind = "simulated_annealing"
            [[objectives]]
            kind = "analytic"
            function = "branin"
            """))
        #expect(unknownOptimizer.key == "optimizers[1].kind")
        #expect(unknownOptimizer.file.hasSuffix("spec.toml"))
        #expect(unknownOptimizer.description.contains("spec.toml: optimizers[1].kind: unknown optimizer 'simulated_annealing'"))

        let unknownKernel = try #require(try specError(base + """

            [[objectives]]
            kind = "surrogate"
            landscape = "nowhere.csv"
            kernel = "tps"
            """))
        #expect(unknownKernel.key == "objectives[0].kernel")
        #expect(unknownKernel.message.contains("thin_plate_spline"))

        let badBounds = try #require(try specError(base + """

            [[objectives]]
            kind = "analytic"
            function = "branin"
            bounds = { x1 = [0, 1], y = [0, 1] }
            """))
        #expect(badBounds.key == "objectives[0].bounds")

        let unknownOption = try #require(try specError(base.replacingOccurrences(of: "kind = \"random\"", with: "kind = \"random\"\nsigma = 0.3") + """

            [[objectives]]
            kind = "analytic"
            function = "branin"
            """))
        #expect(unknownOption.key == "optimizers[0].sigma")

        let typo = try #require(try specError(base + """

            [[objectives]]
            kind = "analytic"
            functon = "branin"
            """))
        #expect(typo.key == "objectives[0].function" || typo.key == "objectives[0].functon")

        let referenceOutside = try #require(try specError(base + """

            [[objectives]]
            kind = "analytic"
            function = "branin"
            [[objectives.references]]
            name = "far"
            params = { x1 = 50, x2 = 1 }
            """))
        #expect(referenceOutside.key == "objectives[0].references[0].params.x1")

        let syntax = try #require(try specError("name = \"x\"\n[[optimizers]\n"))
        #expect(syntax.message.contains("line 2"))

        let seeds = try #require(try specError("seeds = [1, 1]\n" + base))
        #expect(seeds.key == "seeds")
    }

    @Test func aBudgetBelowTheOptimizersMinimumNamesTheBudgetKey() throws {
        // CMA-ES needs at least one full generation per run.
        let kind = "cmaes"
        #expect(try OptimizerFactory.minimumBudget(OptimizerConfig(kind: kind), dimension: 2) > 1)
        let e = try #require(try specError("""
            name = "b"
            budget = { 2 = 1 }
            [[optimizers]]
            kind = "\(kind)"
            [[objectives]]
            kind = "analytic"
            function = "branin"
            """))
        #expect(e.key == "budget.2")
    }

    @Test func optimizerSeedsAreStableAndDistinct() {
        // Pinned: changing the derivation would silently change every study's trials.
        #expect(optimizerSeed(studySeed: 0, objective: "branin", optimizer: "random") == optimizerSeed(studySeed: 0, objective: "branin", optimizer: "random"))
        let seeds = Set((0..<10).flatMap { s in ["a", "b"].flatMap { o in ["random", "gp"].map { optimizerSeed(studySeed: s, objective: o, optimizer: $0) } } })
        #expect(seeds.count == 40)
        #expect(optimizerSeed(studySeed: 3, objective: "branin", optimizer: "gp") == 0x67d0_2b01_bffd_39da)  // FNV-1a + SplitMix64, computed independently
    }
}

@Suite("Study runner")
struct RunnerTests {
    @Test func runsEveryRunToItsBudgetAndRecordsReferences() throws {
        let dir = try tempDirectory()
        let (ledger, result) = try runStudy(try spec(smallSpec, in: dir), ledgerAt: dir.appendingPathComponent("l.sqlite").path)
        #expect(result.runsCompleted == 8)
        #expect(result.trialsEvaluated == 2 * 2 * (8 + 10))
        #expect(result.studyDone)
        let study = try #require(try ledger.study(named: "small"))
        #expect(study.status == "done")
        let runs = try ledger.runs(study: study.id!)
        #expect(runs.count == 8)
        for run in runs {
            let trials = try ledger.trials(run: run.id!)
            #expect(trials.map(\.number) == Array(1...run.budget))
            #expect(trials.allSatisfy { $0.state == .complete && $0.value != nil && $0.finished != nil && $0.seconds != nil })
            #expect(run.optimizerSeedValue == optimizerSeed(studySeed: run.seed, objective: run.objective == 1 ? "branin" : "h3", optimizer: run.optimizer))
        }
        let refs = try ledger.references(study: study.id!)
        #expect(refs.map(\.method) == ["centre", "measured"])
        let branin = TestFunction.branin
        #expect(refs[0].value == -branin([2.5, 7.5]))
        #expect(refs[1].value == -2)
        let objectives = try ledger.objectives(study: study.id!)
        #expect(abs(objectives[0].fMax - (-0.397887357729738)) < 1e-12)
        #expect(abs(objectives[0].fMin - (-308.129096)) < 1e-4)  // Branin's maximum, at (−5, 0)
        #expect(abs(objectives[1].fMax - 3.86278214782076) < 1e-5)
    }

    @Test func resultsAreIdenticalForAnyNumberOfJobs() throws {
        let dir = try tempDirectory()
        let s = try spec(smallSpec, in: dir)
        let (one, _) = try runStudy(s, ledgerAt: dir.appendingPathComponent("one.sqlite").path, jobs: 1)
        let (four, _) = try runStudy(s, ledgerAt: dir.appendingPathComponent("four.sqlite").path, jobs: 4)
        let a = try trialKeys(one, study: "small"), b = try trialKeys(four, study: "small")
        #expect(a.count == 72)
        #expect(a == b)
    }

    @Test func failedEvaluationsAreRecordedAndCountTowardTheBudget() throws {
        let dir = try tempDirectory()
        var s = try spec(smallSpec, in: dir)
        s.objectives = [ObjectiveSpec(name: "bowl", kind: "custom")]
        s.seeds = [0, 1, 2]
        s.budgets = [2: 30]; s.budgetKeys = [2]
        let prepared = try PreparedStudy(spec: s, objectives: [Bowl()])
        let ledger = try Ledger(path: dir.appendingPathComponent("l.sqlite").path)
        let study = try StudyStore.open(prepared, in: ledger)
        let result = try coordinate(ledger, study, prepared, slots: 2)
        #expect(result.studyDone)
        let trials = try ledger.trials(study: study.id!)
        #expect(trials.count == 6 * 30)
        let failed = trials.filter { $0.state == .fail }
        #expect(!failed.isEmpty)
        #expect(failed.allSatisfy { $0.value == nil && $0.error != nil })
        #expect(failed.contains { $0.error == "objective_error: boom: out of memory" })
        #expect(failed.contains { $0.error?.hasPrefix("non_finite:") == true && $0.error?.contains("nan") == true })
        // Each failure is an attempt with its reason class.
        let attempts = try ledger.attempts(study: study.id!)
        #expect(failed.allSatisfy { attempts[$0.id!]?.map(\.reason) == [$0.error!.components(separatedBy: ":")[0]] })
        // A sum-to-one analysis was made for the two weights: best on the line is −0.25.
        let objective = try ledger.objectives(study: study.id!)[0]
        let analysis = try JSONDecoder().decode(SumToOneAnalysis.self, from: Data(try #require(objective.analysis).utf8))
        #expect(abs(analysis.lineBest - (-0.25)) < 1e-12)
    }

    @Test func resumeReplaysTheLedgerAndRerunsAnInterruptedAttempt() throws {
        let dir = try tempDirectory()
        let s = try spec(smallSpec, in: dir)
        let (reference, _) = try runStudy(s, ledgerAt: dir.appendingPathComponent("ref.sqlite").path)

        // A coordinator that died (kill -9): it recorded three trials of the first two runs and
        // was evaluating the fourth of each in-process.
        let prepared = try PreparedStudy.prepare(s)
        let ledger = try Ledger(path: dir.appendingPathComponent("crash.sqlite").path)
        let study = try StudyStore.open(prepared, in: ledger)
        let dead = Owner(host: Owner.current.host, pid: Int32.max - 11, start: 1)
        _ = try ledger.claimStudy(study.id!, owner: dead)
        let referenceTrials = try reference.trials(study: study.id!)
        try ledger.write(study: study.id!, owner: dead) { w in
            for run in try ledger.runs(study: study.id!).prefix(2) {
                try w.startRun(run.id!, batch: 1)
                let recorded = referenceTrials.filter { $0.run == run.id! }
                for t in recorded.prefix(4) {
                    var copy = t
                    copy.id = nil
                    if t.number == 4 { copy.state = .running; copy.value = nil; copy.tellSeq = nil }
                    try w.insert(&copy)
                    var a = AttemptRecord(trial: copy.id!, number: 1, state: t.number == 4 ? .running : .complete,
                                          executor: "inprocess", slot: 0, started: t.started)
                    try w.insert(&a)
                }
            }
        }
        // Another coordinator may not take it while the first is alive; a dead one is replaced.
        let result = try coordinate(ledger, study, prepared, slots: 3)
        #expect(result.trialsReplayed == 6)
        #expect(result.staleTrialsRerun == 2)
        #expect(result.trialsEvaluated == 72 - 6 + 0)
        #expect(try trialKeys(ledger, study: "small") == trialKeys(reference, study: "small"))
        // The interrupted attempt is kept beside the one that finished the trial.
        let attempts = try ledger.attempts(study: study.id!)
        let rerun = attempts.values.filter { $0.count == 2 }
        #expect(rerun.count == 2)
        #expect(rerun.allSatisfy { $0[0].reason == "interrupted" && $0[1].state == .complete })
    }

    @Test func aSecondCoordinatorOfARunningStudyIsRefused() throws {
        let dir = try tempDirectory()
        let s = try spec(smallSpec, in: dir)
        let prepared = try PreparedStudy.prepare(s)
        let ledger = try Ledger(path: dir.appendingPathComponent("l.sqlite").path)
        let study = try StudyStore.open(prepared, in: ledger)
        // This very process holds it under another token (as a second process would see it).
        let alive = Owner(host: Owner.current.host, pid: Owner.current.pid, start: Owner.current.start)
        _ = try ledger.claimStudy(study.id!, owner: alive)
        let other = Owner(host: "elsewhere", pid: 1, start: 1)
        #expect(throws: LedgerError.studyBusy(study: "small", owner: alive.description)) {
            _ = try Coordinator(ledger: ledger, study: study, prepared: prepared, executor: try ExecutorFactory.make(ExecutionSpec()),
                                execution: ExecutionSpec(), owner: other).run()
        }
        #expect(try ledger.trials(study: study.id!).isEmpty)
    }

    @Test func aV2LedgerKilledPartWayIsResumedToTheFirstReleasesResult() throws {
        // Fixtures/v2-partial.sqlite: the first release (ledger v2) killed with SIGKILL part-way
        // (4 runs done, 2 with a RUNNING trial, 6 pending); v2-partial-complete.csv: its
        // uninterrupted result.
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        let dir = try tempDirectory()
        let path = dir.appendingPathComponent("v2.sqlite").path
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("v2-partial.sqlite").path, toPath: path)
        let (study, result) = try StudyEngine.resume(name: "v2-partial", ledgerPath: path, options: LaunchOptions(jobs: 2))
        #expect(result.studyDone)
        #expect(result.trialsReplayed == 18)  // the 66 recorded trials less the 4 finished runs' 48
        #expect(result.staleTrialsRerun == 2)
        let ledger = try Ledger(path: path, readOnly: true)
        #expect(try trialLines(ledger, study: study.name) == recordedTrials(fixtures.appendingPathComponent("v2-partial-complete.csv")).sorted(by: fixtureOrder))
    }

    @Test func oneSlotPerRunEqualsTheFirstReleaseTrialForTrial() throws {
        // The first release's sequential runner recorded these trials (Fixtures/sequential-v2.toml).
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        let dir = try tempDirectory()
        let s = try StudySpec.load(fixtures.appendingPathComponent("sequential-v2.toml"))
        let (ledger, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("l.sqlite").path, jobs: 2)
        #expect(result.studyDone)
        let expected = try recordedTrials(fixtures.appendingPathComponent("sequential-v2-trials.csv"))
        let got = try trialLines(ledger, study: "sequential-v2")
        #expect(got.count == expected.count)
        let sortedExpected = expected.sorted { a, b in
            let x = a.split(separator: "|"), y = b.split(separator: "|")
            return (x[0], x[1], Int(x[2])!, Int(x[3])!) < (y[0], y[1], Int(y[2])!, Int(y[3])!)
        }
        let firstDifference = zip(got, sortedExpected).first { $0 != $1 }
        #expect(firstDifference == nil, "first difference: \(String(describing: firstDifference))")
        #expect(got == expected.sorted { a, b in
            let x = a.split(separator: "|"), y = b.split(separator: "|")
            return (x[0], x[1], Int(x[2])!, Int(x[3])!) < (y[0], y[1], Int(y[2])!, Int(y[3])!)
        })
    }

    @Test func relaunchingWithAnotherSpecUnderTheSameNameFails() throws {
        let dir = try tempDirectory()
        _ = try runStudy(try spec(smallSpec, in: dir), ledgerAt: dir.appendingPathComponent("l.sqlite").path)
        let changed = try spec(smallSpec.replacingOccurrences(of: "seeds = 2", with: "seeds = 3"), in: dir)
        #expect(throws: StudyError.self) {
            _ = try runStudy(changed, ledgerAt: dir.appendingPathComponent("l.sqlite").path)
        }
        // The same spec again: nothing left to do.
        let (_, again) = try runStudy(try spec(smallSpec, in: dir), ledgerAt: dir.appendingPathComponent("l.sqlite").path)
        #expect(again.trialsEvaluated == 0)
        #expect(again.studyDone)
    }
}

@Suite("Study metrics")
struct MetricsTests {
    /// A study written straight into a ledger: objective f in [0, 10]; optimizers random and
    /// smart, two seeds each, budget 3, values chosen by hand.
    func handMadeLedger(extraReferences: [ReferenceRecord] = []) throws -> Ledger {
        let dir = try tempDirectory()
        let ledger = try Ledger(path: dir.appendingPathComponent("m.sqlite").path)
        var s = try spec(smallSpec, in: dir)
        s.name = "m"
        s.optimizers = [OptimizerSpec(name: "random", config: OptimizerConfig(kind: "random")),
                        OptimizerSpec(name: "smart", config: OptimizerConfig(kind: "random"))]
        s.objectives = [ObjectiveSpec(name: "f", kind: "custom")]
        s.seeds = [0, 1]
        let values: [String: [[Double?]]] = [
            "random": [[2, 5, 4], [1, nil, 6]],  // final regrets 0.5, 0.4
            "smart": [[8, 7, 9], [nil, 10, 3]],  // final regrets 0.1, 0.0
        ]
        var runs: [RunRecord] = []
        for o in ["random", "smart"] { for seed in [0, 1] { runs.append(RunRecord(study: 0, objective: 0, optimizer: o, seed: seed, optimizerSeed: 0, budget: 3, status: "pending")) } }
        let (study, _) = try ledger.createStudy(
            StudyRecord(name: "m", spec: try s.canonicalJSON(), created: Date()),
            objectives: [.init(objective: ObjectiveRecord(study: 0, name: "f", kind: "custom", definition: "{}", fMin: 0, fMax: 10),
                               references: [ReferenceRecord(objective: 0, method: "frank", params: "{\"a\":1}", value: 7.5),
                                            ReferenceRecord(objective: 0, method: "oracle", params: nil, value: 9.5)] + extraReferences,
                               runs: runs)])
        _ = try ledger.claimStudy(study.id!)
        try ledger.write(study: study.id!) { w in
            for run in try ledger.runs(study: study.id!) {
                let v = values[run.optimizer]![run.seed]
                for (i, value) in v.enumerated() {
                    var t = TrialRecord(run: run.id!, number: i + 1, params: "{\"a\":\(i)}", unit: "[0]", value: value,
                                        state: value == nil ? .fail : .complete, error: value == nil ? "x" : nil, started: Date(),
                                        askSeq: 2 * i, tellSeq: 2 * i + 1, attempts: 1)
                    try w.insert(&t)
                }
                try w.finishRun(run.id!)
            }
        }
        try ledger.releaseStudy(study.id!, status: "done")
        return ledger
    }

    @Test func aReferenceAboveTheMaximumWidensTheExtremesAndJSONHasNoNonFiniteNumbers() throws {
        let ledger = try handMadeLedger(extraReferences: [ReferenceRecord(objective: 0, method: "better", params: nil, value: 12),
                                                          ReferenceRecord(objective: 0, method: "broken", params: nil, value: .infinity)])
        let m = try StudyMetrics(ledger: ledger, studyName: "m")
        let summary = try m.summary()
        let refs = summary.objectives[0].references
        #expect(refs.first { $0.method == "better" }?.regret == 0)
        #expect(refs.allSatisfy { !$0.regret.isFinite || $0.regret >= 0 })
        #expect(summary.objectives[0].fMax == 12)
        let json = try StudyReport.render(summary, format: .json)
        #expect(json.contains("null"))
        #expect(try JSONSerialization.jsonObject(with: Data(json.utf8)) is [String: Any])
    }

    @Test func anInfiniteExtremeIsRefusedAtLaunchNamingTheObjective() throws {
        let dir = try tempDirectory()
        let s = try spec(smallSpec.replacingOccurrences(of: "function = \"branin\"\n", with: "function = \"branin\"\nbounds = { x1 = [-1e300, 1e300], x2 = [0, 15] }\n"), in: dir)
        #expect {
            _ = try runStudy(s, ledgerAt: dir.appendingPathComponent("l.sqlite").path)
        } throws: { error in
            "\(error)".contains("objectives[0]") && "\(error)".contains("'branin' has non-finite extremes")
        }
    }

    @Test func regretCurvesRoRAndReferences() throws {
        let ledger = try handMadeLedger()
        let m = try StudyMetrics(ledger: ledger, studyName: "m")
        let curve = try #require(m.curves.first { $0.optimizer == "random" && $0.seed == 1 })
        #expect(curve.points.map(\.regret) == [0.9, 0.9, 0.4])
        #expect(curve.points.map(\.state) == ["COMPLETE", "FAIL", "COMPLETE"])
        let failedFirst = try #require(m.curves.first { $0.optimizer == "smart" && $0.seed == 1 })
        #expect(failedFirst.points.map(\.regret) == [1, 0, 0])  // nothing yet: regret 1

        let s = m.summary()
        #expect(s.baseline == "random")
        let f = try #require(s.objectives.first)
        let random = try #require(f.optimizers.first { $0.optimizer == "random" })
        let smart = try #require(f.optimizers.first { $0.optimizer == "smart" })
        #expect(abs(random.meanFinalRegret! - 0.45) < 1e-12)
        #expect(abs(smart.meanFinalRegret! - 0.05) < 1e-12)
        #expect(abs(smart.ror! - 0.05 / 0.45) < 1e-12)
        #expect(random.ror == 1)
        let overall = try #require(s.overall.first { $0.optimizer == "smart" })
        #expect(abs(overall.meanRoR! - 1.0 / 9) < 1e-12 && abs(overall.medianRoR! - 1.0 / 9) < 1e-12)

        let frank = try #require(f.references.first { $0.method == "frank" })
        #expect(frank.regret == 0.25)
        // smart beats 7.5 at n = 1 (seed 0) and n = 2 (seed 1): lower median 1; random never does.
        #expect(frank.evaluationsToBeat["smart"] == .some(1))
        #expect(frank.evaluationsToBeat["random"] == .some(nil))
        let oracle = try #require(f.references.first { $0.method == "oracle" })
        // Only one of smart's two seeds beats 9.5: not more than half, so n = 2.
        #expect(oracle.evaluationsToBeat["smart"] == .some(2))
    }

    @Test func exportsHaveOneRowPerPointAndPerTrial() throws {
        let ledger = try handMadeLedger()
        let m = try StudyMetrics(ledger: ledger, studyName: "m")
        let curves = StudyReport.curvesCSV(m).split(separator: "\n")
        #expect(curves[0] == "study,objective,optimizer,seed,n,state,value,best,regret")
        #expect(curves.count == 1 + 12)
        #expect(curves[1] == "m,f,random,0,1,COMPLETE,2.0,2.0,0.8")
        let trials = StudyReport.trialsCSV(m).split(separator: "\n")
        #expect(trials.count == 1 + 12)
        #expect(trials[0].hasSuffix(",params,param_a"))
        #expect(trials.contains { $0.contains(",FAIL,,x,") })
        for format in StudyReport.Format.allCases { #expect(!(try StudyReport.render(m.summary(), format: format)).isEmpty) }
        let json = try StudyReport.render(m.summary(), format: .json)
        let decoded = try JSONDecoder().decode(StudySummary.self, from: Data(json.utf8))
        #expect(decoded == m.summary())
    }

    @Test func sumToOneOnABandAroundTheLine() throws {
        // Best at a + b = 1.5: the line loses 0.25, a band of ±0.1 loses 0.16.
        let a = try #require(SumToOneAnalysis.analyze(Bowl(failing: false), weights: ["vl_weight", "exp_weight"], band: 0.1, fMin: -2.25, fMax: 0))
        #expect(abs(a.lineBest + 0.25) < 1e-12)
        #expect(abs(a.bandBest + 0.16) < 1e-9)
        #expect(abs(a.lineNormalizedRegret - 0.25 / 2.25) < 1e-12)
        #expect(a.lineRelativeRegretPercent.isFinite)
        #expect(abs(a.lineParams["vl_weight"]! + a.lineParams["exp_weight"]! - 1) < 1e-12)
    }

    @Test func plainProgressLinesWhenNotATerminal() throws {
        let lock = NSLock()
        nonisolated(unsafe) var lines: [String] = []
        let reporter = ProgressReporter(interactive: false) { s in lock.lock(); lines.append(s); lock.unlock() }
        let dir = try tempDirectory()
        let prepared = try PreparedStudy.prepare(try spec(smallSpec, in: dir))
        let ledger = try Ledger(path: dir.appendingPathComponent("p.sqlite").path)
        let study = try StudyStore.open(prepared, in: ledger)
        _ = try Coordinator(ledger: ledger, study: study, prepared: prepared, executor: try ExecutorFactory.make(ExecutionSpec()),
                            execution: ExecutionSpec(), reporter: reporter).run()
        #expect(lines.count == 1 + 8 + 1)
        #expect(lines.allSatisfy { $0.hasPrefix("[small] ") && $0.hasSuffix("\n") && !$0.contains("\r") })
        #expect(lines[8].contains("8/8 runs, 72/72 evals"))
    }

    @Test func aRedrawnBarOnATerminal() throws {
        let lock = NSLock()
        nonisolated(unsafe) var out = ""
        let reporter = ProgressReporter(interactive: true) { s in lock.lock(); out += s; lock.unlock() }
        let dir = try tempDirectory()
        let prepared = try PreparedStudy.prepare(try spec(smallSpec, in: dir))
        let ledger = try Ledger(path: dir.appendingPathComponent("p.sqlite").path)
        let study = try StudyStore.open(prepared, in: ledger)
        _ = try Coordinator(ledger: ledger, study: study, prepared: prepared, executor: try ExecutorFactory.make(ExecutionSpec()),
                            execution: ExecutionSpec(), reporter: reporter).run()
        // Redrawn in place (carriage return, erase line), ending with the full bar and a summary line.
        #expect(out.hasPrefix("\r\u{1b}[2K[small] ["))
        #expect(out.contains("[########################] 8/8 runs  72/72 evals"))
        #expect(out.contains("ETA"))
        #expect(out.contains("0 running, 0 waiting"))
        #expect(out.hasSuffix("\n[small] 8/8 runs done, 72 evaluations in " + out.components(separatedBy: "evaluations in ").last!))
    }
}
