import Foundation
import Testing
import Ledger
import Optimizers
@testable import StudyEngine

/// Two conflicting metrics on the weight plane (closeness to (0.25, 0.25) and to (0.75, 0.75)),
/// recorded in the trial's extras; the parents carry their metrics like the testbed's.
struct TwoBowls: Objective {
    var name = "bowls"
    var kind: String { "custom" }
    var space = try! SearchSpace([Parameter(name: "vl_weight", lower: 0, upper: 1), Parameter(name: "exp_weight", lower: 0, upper: 1)])
    static func metrics(_ x: [Double]) -> [String: Double] {
        let a = (x[0] - 0.25) * (x[0] - 0.25) + (x[1] - 0.25) * (x[1] - 0.25)
        let b = (x[0] - 0.75) * (x[0] - 0.75) + (x[1] - 0.75) * (x[1] - 0.75)
        return ["near": -a, "far": -b, "other": 1]
    }
    var builtInReferences: [ReferenceSpec] {
        [ReferenceSpec(name: "vlm", params: ["vl_weight": 1, "exp_weight": 0], score: Self.metrics([1, 0])["near"]!, extras: Self.metrics([1, 0])),
         ReferenceSpec(name: "expert", params: ["vl_weight": 0, "exp_weight": 1], score: Self.metrics([0, 1])["near"]!, extras: Self.metrics([0, 1])),
         ReferenceSpec(name: "middle", params: nil, score: Self.metrics([0.5, 0.5])["near"]!, extras: Self.metrics([0.5, 0.5]))]
    }
    func evaluate(_ x: [Double]) throws -> Double { Self.metrics(x)["near"]! }
    func evaluateWithExtras(_ x: [Double]) throws -> (value: Double, extras: [String: Double]?) { (0, Self.metrics(x)) }
    func extrema() throws -> (minimum: Double, maximum: Double) { (-1.125, 0) }
}

@Suite("Multi-objective studies")
struct MultiObjectiveStudyTests {
    static let text = """
        name = "moo"
        seeds = 2
        budget = { 2 = 10 }
        [[optimizers]]
        kind = "random"
        [[optimizers]]
        kind = "sobol"
        [[optimizers]]
        kind = "parego"
        initial_points = 4
        [[objectives]]
        kind = "analytic"
        function = "branin"
        """

    func prepared(in dir: URL, constraint: ConstraintSpec? = nil) throws -> PreparedStudy {
        var s = try spec(Self.text, in: dir)
        var o = ObjectiveSpec(name: "bowls", kind: "custom")
        o.metrics = ["near", "far"]
        o.constraints = constraint.map { [$0] }
        s.objectives = [o]
        return try PreparedStudy(spec: s, objectives: [TwoBowls()])
    }

    @Test func trialsRecordTheFirstMetricAndTheFrontAndHypervolumeAreSummarized() throws {
        let dir = try tempDirectory()
        let p = try prepared(in: dir)
        let ledger = try Ledger(path: dir.appendingPathComponent("l.sqlite").path)
        let study = try StudyStore.open(p, in: ledger)
        #expect(try coordinate(ledger, study, p).studyDone)
        let trials = try ledger.trials(study: study.id!)
        #expect(trials.count == 3 * 2 * 10)
        for t in trials {
            let x = parseParams(t.params)
            let m = TwoBowls.metrics([x["vl_weight"]!, x["exp_weight"]!])
            #expect(t.value == m["near"])  // the objective's own value (0) is replaced by the first metric
        }
        let metrics = try StudyMetrics(ledger: ledger, studyName: "moo")
        let s = try #require(metrics.summary().objectives[0].multiObjective)
        // Reference point: the component-wise minimum of the parents' metrics (both −0.625 by symmetry).
        #expect(s.referencePoint == [-0.625, -0.625] && s.referencePointSource.hasPrefix("parents"))
        // The study's front is the brute-force front of every complete trial.
        let all = trials.map { t in [TwoBowls.metrics(parseParams(t.params).sortedValues)["near"]!, TwoBowls.metrics(parseParams(t.params).sortedValues)["far"]!] }
        let front = ParetoTests.bruteFront(all).map { all[$0] }
        #expect(Set(s.front.map(\.metrics)) == Set(front))
        #expect(s.studyHypervolume == Pareto.hypervolume(all, reference: s.referencePoint))
        for f in s.optimizers {
            #expect(f.runs == 2 && f.curve.count == 10 && f.curve.allSatisfy { $0.runs == 2 })
            // Hypervolume never decreases with n, and the final mean is the curve's last point.
            #expect(zip(f.curve, f.curve.dropFirst()).allSatisfy { $0.mean <= $1.mean })
            #expect(f.finalHypervolumeMean == f.curve.last!.mean)
        }
        // The middle reference (0.5, 0.5) is on the segment between the optima: the study's
        // trials may or may not dominate it, but it is placed with its metrics.
        let middle = try #require(s.references.first { $0.method == "middle" })
        #expect(middle.metrics == [-0.125, -0.125] && middle.dominated != nil && middle.epsilon != nil)
        let vlm = try #require(s.references.first { $0.method == "vlm" })
        #expect(vlm.dominated == true && vlm.epsilon! > 0)
        // Summary outputs and exports carry it.
        let table = try StudyReport.render(metrics.summary(), format: .table)
        #expect(table.contains("Pareto front of near × far") && table.contains("parego"))
        let csv = try StudyReport.render(metrics.summary(), format: .csv)
        #expect(csv.contains("pareto,bowls,parego,,final_hypervolume_mean,"))
        let json = try StudyReport.render(metrics.summary(), format: .json)
        #expect(json.contains("\"studyHypervolume\""))
        let frontCSV = StudyReport.frontCSV(metrics)
        #expect(frontCSV.split(separator: "\n").count == 1 + s.front.count + 3 + 1)
        #expect(frontCSV.split(separator: "\n")[0].hasSuffix("metric_near,metric_far"))
        let hv = StudyReport.hypervolumeCSV(metrics)
        #expect(hv.split(separator: "\n").count == 1 + 3 * 10)
    }

    @Test func aKilledStudyResumesToTheSameTrialsAsAnUninterruptedOne() throws {
        let dir = try tempDirectory()
        let p = try prepared(in: dir)
        let reference = try Ledger(path: dir.appendingPathComponent("ref.sqlite").path)
        let refStudy = try StudyStore.open(p, in: reference)
        _ = try coordinate(reference, refStudy, p)

        // A coordinator killed after 7 trials of every run, with the 8th running in-process.
        let ledger = try Ledger(path: dir.appendingPathComponent("crash.sqlite").path)
        let study = try StudyStore.open(p, in: ledger)
        let dead = Owner(host: Owner.current.host, pid: Int32.max - 12, start: 1)
        _ = try ledger.claimStudy(study.id!, owner: dead)
        let recorded = try reference.trials(study: refStudy.id!)
        try ledger.write(study: study.id!, owner: dead) { w in
            for run in try ledger.runs(study: study.id!) {
                try w.startRun(run.id!, batch: 1)
                for t in recorded.filter({ $0.run == run.id! }).prefix(8) {
                    var copy = t
                    copy.id = nil
                    if t.number == 8 { copy.state = .running; copy.value = nil; copy.tellSeq = nil; copy.extras = nil }
                    try w.insert(&copy)
                    var a = AttemptRecord(trial: copy.id!, number: 1, state: t.number == 8 ? .running : .complete,
                                          executor: "inprocess", slot: 0, started: t.started)
                    try w.insert(&a)
                }
            }
        }
        let result = try coordinate(ledger, study, p)
        #expect(result.trialsReplayed == 6 * 7)
        #expect(try trialKeys(ledger, study: "moo") == trialKeys(reference, study: "moo"))
        let extras = { (l: Ledger, id: Int64) in try l.trials(study: id).map(\.extras) }
        #expect(try extras(ledger, study.id!) == extras(reference, refStudy.id!))
        let a = try StudyMetrics(ledger: ledger, studyName: "moo").summary().objectives[0].multiObjective
        let b = try StudyMetrics(ledger: reference, studyName: "moo").summary().objectives[0].multiObjective
        #expect(a == b)
    }

    @Test func constraintsMakeTrialsInfeasibleAndKeepThemOffTheFront() throws {
        let dir = try tempDirectory()
        let p = try prepared(in: dir, constraint: ConstraintSpec(metric: "far", min: -0.3125, max: nil, relativeTo: nil))
        let ledger = try Ledger(path: dir.appendingPathComponent("l.sqlite").path)
        let study = try StudyStore.open(p, in: ledger)
        _ = try coordinate(ledger, study, p)
        let trials = try ledger.trials(study: study.id!)
        let bound = -0.3125
        let infeasible = trials.filter { $0.error?.hasPrefix("infeasible") == true }
        #expect(!infeasible.isEmpty)
        #expect(infeasible.allSatisfy { $0.state == .fail && parseParams($0.extras!)["far"]! < bound })
        #expect(trials.filter { $0.state == .complete }.allSatisfy { parseParams($0.extras!)["far"]! >= bound })
        let s = try #require(try StudyMetrics(ledger: ledger, studyName: "moo").summary().objectives[0].multiObjective)
        #expect(s.front.allSatisfy { $0.metrics[1] >= bound })
    }

    @Test func specErrors() throws {
        let dir = try tempDirectory()
        var s = try spec(Self.text.replacingOccurrences(of: "kind = \"sobol\"", with: "kind = \"gp\""), in: dir)
        var o = ObjectiveSpec(name: "bowls", kind: "custom")
        o.metrics = ["near", "far"]
        s.objectives = [o]
        let e = try #require(throws: SpecError.self) { _ = try PreparedStudy(spec: s, objectives: [TwoBowls()]) }
        #expect(e.key == "optimizers[1].kind" && e.message.contains("'gp'") && e.message.contains("random, sobol, parego"))
        // Absent metrics: the stored spec has no `metrics` key (old specs keep their identity).
        #expect(!(try spec(Self.text, in: dir).canonicalJSON().contains("metrics")))
    }
}

extension Dictionary where Key == String, Value == Double {
    /// (vl_weight, exp_weight) of a params object.
    var sortedValues: [Double] { [self["vl_weight"]!, self["exp_weight"]!] }
}

@Suite("Multi-objective testbed objectives")
struct MultiObjectiveTestbedTests {
    func liveSpec(_ metrics: String, optimizer: String = "sobol") -> String {
        """
        name = "live-moo"
        budget = { 2 = 3 }
        seeds = 1
        [[optimizers]]
        kind = "\(optimizer)"
        [[objectives]]
        kind = "testbed"
        scenario = "language"
        directory = "\(TestbedStudyTests.directory.path)"
        metrics = \(metrics)
        [[objectives.constraints]]
        metric = "perception"
        min = -1e9
        """
    }

    @Test func parentsRecordTheirMetricsAndTrialsTheFirstMetric() throws {
        let dir = try tempDirectory()
        let s = try spec(liveSpec("[\"perception\", \"target\"]"), in: dir)
        #expect(s.objectives[0].metrics == ["perception", "target"] && s.objectives[0].constraints?.count == 1)
        let (ledger, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("l.sqlite").path)
        #expect(result.studyDone)
        let study = try #require(try ledger.study(named: "live-moo"))
        for r in try ledger.references(study: study.id!) {
            let extras = parseParams(try #require(r.extras))
            #expect(r.value == extras["perception"])  // the first metric, like the trials
            #expect(extras["target"] != nil)
        }
        for t in try ledger.trials(study: study.id!) {
            #expect(t.state == .complete && t.value == parseParams(t.extras!)["perception"])
        }
        let mo = try #require(try StudyMetrics(ledger: ledger, studyName: "live-moo").summary().objectives[0].multiObjective)
        #expect(mo.referencePointSource.hasPrefix("parents") && mo.references.count == 5)
    }

    @Test func theShippedParetoSpecParsesAndItsOptimizersTakeVectors() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let s = try StudySpec.load(root.appendingPathComponent("Studies/testbed-pareto.toml"))
        #expect(s.objectives.count == 6 && s.objectives.allSatisfy { $0.metrics == ["target", "perception"] && $0.kind == "testbed" })
        #expect(s.optimizers.map(\.config.kind) == ["random", "sobol", "parego"])
        for (i, o) in s.objectives.enumerated() {
            try MultiObjective.validate(o, key: "objectives[\(i)]", optimizers: s.optimizers, file: s.source)
        }
    }

    @Test func unknownMetricsAndSingleObjectiveOptimizersAreSpecErrors() throws {
        let unknown = try #require(try specError(liveSpec("[\"target\", \"vision\"]")))
        #expect(unknown.key == "objectives[0].metrics[1]" && unknown.message.contains("perception") && unknown.message.contains("vision"))
        let one = try #require(try specError(liveSpec("[\"target\"]")))
        #expect(one.key == "objectives[0].metrics")
        let gp = try #require(try specError(liveSpec("[\"target\", \"perception\"]", optimizer: "pattern")))
        #expect(gp.key == "optimizers[0].kind" && gp.message.contains("parego"))
    }
}
