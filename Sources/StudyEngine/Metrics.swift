import Foundation
import Ledger

// Study metrics (Skill-Injection §4.2), computed from the ledger alone:
//   r(n) = (f_max − f_best(n)) / (f_max − f_min),  RoR = mean_seeds r_method(N) / mean_seeds r_random(N).

/// One point of a regret curve.
public struct CurvePoint: Codable, Sendable, Equatable {
    public var n: Int
    public var state: String
    public var value: Double?
    /// Best score among the first n trials (nil while all failed); with fidelities, among the
    /// full-fidelity ones only (a cheaper score is not comparable).
    public var best: Double?
    public var regret: Double
    /// The trial's fidelity index (nil: full fidelity of an objective without fidelities).
    public var fidelity: Int? = nil
    /// Cost of the first n trials in full-fidelity evaluations (n for an objective without
    /// fidelities): the x axis of regret curves by cost.
    public var cost: Double = 0
}

/// A run's trials turned into its regret curve.
public struct RunCurve: Sendable {
    public var objective: String
    public var optimizer: String
    public var seed: Int
    public var budget: Int
    public var complete: Bool
    public var points: [CurvePoint]
    public var finalRegret: Double? { complete ? points.last?.regret : nil }
    public var bests: [Double?] { points.map(\.best) }
}

public struct OptimizerResult: Codable, Sendable, Equatable {
    public var optimizer: String
    /// Finished runs (seeds) the numbers below are over.
    public var runs: Int
    public var meanFinalRegret: Double?
    public var medianFinalRegret: Double?
    /// Mean final regret over that of the random baseline on this objective; nil without one.
    public var ror: Double?
}

public struct ReferenceResult: Codable, Sendable, Equatable {
    public var method: String
    public var params: [String: Double]?
    public var value: Double
    public var regret: Double
    /// Per optimizer: the median over seeds of the first n with f_best(n) > value; nil means
    /// "never" (more than half of the seeds never beat it within the budget).
    public var evaluationsToBeat: [String: Int?]
    /// An objective with fidelities: the same median in cost (full-fidelity evaluations spent
    /// up to and including the first full-fidelity trial that beats it), the budget's unit; nil
    /// otherwise. Cheap trials count in the cost, never as beating it (Fidelities.swift).
    public var costToBeat: [String: Double?]? = nil
}

public struct ObjectiveSummary: Codable, Sendable, Equatable {
    public var name: String
    public var kind: String
    public var fMin: Double
    public var fMax: Double
    public var budget: Int
    public var optimizers: [OptimizerResult]
    public var references: [ReferenceResult]
    public var sumToOne: SumToOneAnalysis?
    /// Multi-objective objectives: fronts and hypervolumes (absent otherwise).
    public var multiObjective: MultiObjectiveSummary? = nil
    /// The objective's fidelities (nil: none): its budget is then in full-fidelity evaluations
    /// of cost, and its regret is at full fidelity.
    public var fidelities: [FidelitySpec]? = nil
}

public struct OverallResult: Codable, Sendable, Equatable {
    public var optimizer: String
    /// Objectives with an RoR for this optimizer.
    public var objectives: Int
    public var meanRoR: Double?
    public var medianRoR: Double?
}

public struct StudySummary: Codable, Sendable, Equatable {
    public var study: String
    public var status: String
    public var runsDone: Int
    public var runsTotal: Int
    /// The optimizer RoR divides by (the first of kind "random"); nil when the study has none.
    public var baseline: String?
    public var objectives: [ObjectiveSummary]
    public var overall: [OverallResult]
}

extension ObjectiveRecord {
    /// The fidelities of this objective in the study's spec (nil: none).
    func fidelities(in spec: StudySpec) -> [FidelitySpec]? { spec.objectives.first { $0.name == name }?.fidelities }
}

func mean(_ xs: [Double]) -> Double? { xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count) }

func median(_ xs: [Double]) -> Double? {
    guard !xs.isEmpty else { return nil }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Reads a study out of a ledger and computes its curves and summary.
public struct StudyMetrics {
    public let study: StudyRecord
    public let spec: StudySpec
    public let objectives: [ObjectiveRecord]
    public let runs: [RunRecord]
    public let references: [ReferenceRecord]
    /// Curves of all runs (finished or not), in run order.
    public let curves: [RunCurve]
    /// Effective extremes per objective id: the stored f_min/f_max widened to every recorded value.
    public let extremes: [Int64: (min: Double, max: Double)]
    let trialsByRun: [Int64: [TrialRecord]]
    /// Every attempt of every trial, by trial id (v3; one per trial for older ledgers).
    public let attemptsByTrial: [Int64: [AttemptRecord]]

    public init(ledger: Ledger, studyName: String) throws {
        let (study, spec) = try StudyStore.spec(of: studyName, in: ledger)
        self.study = study
        self.spec = spec
        objectives = try ledger.objectives(study: study.id!)
        runs = try ledger.runs(study: study.id!)
        references = try ledger.references(study: study.id!)
        let trials = try ledger.trials(study: study.id!)
        let trialsByRun = Dictionary(grouping: trials, by: \.run)
        self.trialsByRun = trialsByRun
        attemptsByTrial = try ledger.attempts(study: study.id!)

        // A surrogate's extremes come from a dense search; an optimizer can land a hair beyond
        // them, so widen them to what was recorded (regret then stays in [0, 1]).
        var extremes: [Int64: (min: Double, max: Double)] = [:]
        let objectiveOfRun = Dictionary(uniqueKeysWithValues: runs.map { ($0.id!, $0.objective) })
        for o in objectives { extremes[o.id!] = (o.fMin, o.fMax) }
        let objectiveSpecs = Dictionary(objectives.map { o in (o.id!, spec.objectives.first { $0.name == o.name }) }, uniquingKeysWith: { a, _ in a })
        for t in trials {
            guard let v = t.value, let oid = objectiveOfRun[t.run], let e = extremes[oid] else { continue }
            // Only full-fidelity scores bound the regret (fidelities: Fidelities.swift).
            guard objectiveSpecs[oid]??.isFullFidelity(t.fidelity) ?? true else { continue }
            extremes[oid] = (min(e.min, v), max(e.max, v))
        }
        // A reference (a closed form scored live, a measured score) may beat the surrogate's
        // maximum too: widen by every reference, so that its regret is not negative.
        for r in references where r.value.isFinite {
            guard let e = extremes[r.objective] else { continue }
            extremes[r.objective] = (min(e.min, r.value), max(e.max, r.value))
        }
        // A command objective without references and without a finished trial has no extremes
        // yet (its stored sentinels are the widest finite pair, min > max): say so with NaN.
        for (k, e) in extremes where e.min > e.max { extremes[k] = (.nan, .nan) }
        self.extremes = extremes

        let names = Dictionary(uniqueKeysWithValues: objectives.map { ($0.id!, $0.name) })
        curves = runs.map { run in
            let e = extremes[run.objective]!
            let range = e.max - e.min
            var best: Double?
            var points: [CurvePoint] = []
            let o = objectiveSpecs[run.objective] ?? nil
            var cost = 0.0
            for t in trialsByRun[run.id!] ?? [] where t.state.isFinal {
                cost += o?.relativeCost(fidelity: t.fidelity) ?? 1
                if let v = t.value, o?.isFullFidelity(t.fidelity) ?? true { best = max(best ?? v, v) }
                let regret = best.map { range > 0 ? (e.max - $0) / range : 0 } ?? 1
                points.append(CurvePoint(n: t.number, state: t.state.rawValue, value: t.value, best: best, regret: regret,
                                         fidelity: t.fidelity, cost: cost))
            }
            // A run budgeted in cost has as many trials as its fidelities made room for.
            let allTrials = o?.fidelities != nil || points.count == run.budget
            return RunCurve(objective: names[run.objective] ?? "?", optimizer: run.optimizer, seed: run.seed,
                            budget: run.budget, complete: run.status == "done" && allTrials, points: points)
        }
    }

    public func trials(ofRun id: Int64) -> [TrialRecord] { trialsByRun[id] ?? [] }

    /// The optimizer RoR divides by: the first one of kind "random".
    public var baseline: String? { spec.optimizers.first { $0.config.kind == "random" }?.name }

    public func summary() -> StudySummary {
        let optimizerNames = spec.optimizers.map(\.name)
        var objectiveSummaries: [ObjectiveSummary] = []
        var rorsByOptimizer: [String: [Double]] = [:]
        for o in objectives {
            let e = extremes[o.id!]!
            let range = e.max - e.min
            let curvesHere = curves.filter { $0.objective == o.name }
            var results: [OptimizerResult] = []
            var meanByOptimizer: [String: Double] = [:]
            for name in optimizerNames {
                let finals = curvesHere.filter { $0.optimizer == name }.compactMap(\.finalRegret)
                let m = mean(finals)
                if let m { meanByOptimizer[name] = m }
                results.append(OptimizerResult(optimizer: name, runs: finals.count, meanFinalRegret: m,
                                               medianFinalRegret: median(finals), ror: nil))
            }
            if let base = baseline, let denominator = meanByOptimizer[base], denominator > 0 {
                for i in results.indices {
                    guard let m = results[i].meanFinalRegret else { continue }
                    results[i].ror = m / denominator
                    rorsByOptimizer[results[i].optimizer, default: []].append(m / denominator)
                }
            }
            let refs = references.filter { $0.objective == o.id! }.map { r -> ReferenceResult in
                var toBeat: [String: Int?] = [:]
                var costToBeat: [String: Double?]? = o.fidelities(in: spec) == nil ? nil : [:]
                for name in optimizerNames {
                    let finished = curvesHere.filter { $0.optimizer == name && $0.complete }
                    guard !finished.isEmpty else { continue }
                    // Each seed's first point with f_best > value (its n, and its cost); never = +∞.
                    // The lower median of the seeds is "never" exactly when more than half of
                    // them never beat the reference.
                    let firsts = finished.map { c in c.points.first { ($0.best ?? -.infinity) > r.value } }
                    func lowerMedian<T: Comparable>(_ xs: [T]) -> T { xs.sorted()[(xs.count - 1) / 2] }
                    let n = lowerMedian(firsts.map { $0?.n ?? Int.max })
                    toBeat[name] = n == Int.max ? Optional<Int>.none : n
                    if costToBeat != nil {
                        let cost = lowerMedian(firsts.map { $0?.cost ?? .infinity })
                        costToBeat![name] = cost.isFinite ? cost : Optional<Double>.none
                    }
                }
                return ReferenceResult(method: r.method, params: r.params.map(parseParams), value: r.value,
                                       regret: range > 0 ? (e.max - r.value) / range : 0, evaluationsToBeat: toBeat,
                                       costToBeat: costToBeat)
            }
            var analysis: SumToOneAnalysis?
            if let text = o.analysis { analysis = try? JSONDecoder().decode(SumToOneAnalysis.self, from: Data(text.utf8)) }
            let budget = runs.first { $0.objective == o.id! }?.budget ?? 0
            objectiveSummaries.append(ObjectiveSummary(name: o.name, kind: o.kind, fMin: e.min, fMax: e.max, budget: budget,
                                                       optimizers: results, references: refs, sumToOne: analysis,
                                                       fidelities: spec.objectives.first { $0.name == o.name }?.fidelities))
            objectiveSummaries[objectiveSummaries.count - 1].multiObjective = multiObjectiveSummary(o)
        }
        let overall = optimizerNames.map { name in
            let rors = rorsByOptimizer[name] ?? []
            return OverallResult(optimizer: name, objectives: rors.count, meanRoR: mean(rors), medianRoR: median(rors))
        }
        return StudySummary(study: study.name, status: study.status,
                            runsDone: runs.filter { $0.status == "done" }.count, runsTotal: runs.count,
                            baseline: baseline, objectives: objectiveSummaries, overall: overall)
    }
}
