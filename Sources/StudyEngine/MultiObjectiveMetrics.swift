import Foundation
import Ledger

// Metrics of a multi-objective objective, from the ledger alone: the Pareto front of each run and
// of the study (non-dominated complete trials; infeasible ones are failed trials and never on it),
// the hypervolume against the parents' reference point per evaluation count, and where the
// references sit relative to the study's front.

/// Hypervolume after n evaluations, over the runs (seeds) that have reached n.
public struct HypervolumePoint: Codable, Sendable, Equatable {
    public var n: Int
    public var mean: Double
    /// Sample standard deviation over the runs (nil for one run).
    public var sd: Double?
    public var runs: Int
}

public struct OptimizerFront: Codable, Sendable, Equatable {
    public var optimizer: String
    /// Finished runs the final numbers are over.
    public var runs: Int
    public var finalHypervolumeMean: Double?
    public var finalHypervolumeSD: Double?
    /// Mean size of a finished run's own front.
    public var frontSizeMean: Double?
    public var curve: [HypervolumePoint]
}

/// A trial on the study's front.
public struct FrontTrial: Codable, Sendable, Equatable {
    public var optimizer: String
    public var seed: Int
    public var run: Int64
    public var number: Int
    public var params: [String: Double]
    public var metrics: [Double]
}

/// A reference (closed form, parent) placed against the study's front.
public struct ReferencePlacement: Codable, Sendable, Equatable {
    public var method: String
    /// Its metric vector (nil: it recorded not every metric).
    public var metrics: [Double]?
    /// Whether some trial of the study dominates it.
    public var dominated: Bool?
    /// Additive ε to the study's front (`Pareto.epsilon`): > 0 falls short by ε in the worst metric.
    public var epsilon: Double?
}

public struct MultiObjectiveSummary: Codable, Sendable, Equatable {
    public var metrics: [String]
    /// The hypervolume's reference point and where it came from.
    public var referencePoint: [Double]
    public var referencePointSource: String
    public var optimizers: [OptimizerFront]
    /// Hypervolume of the study's front (all runs together).
    public var studyHypervolume: Double
    public var front: [FrontTrial]
    public var references: [ReferencePlacement]
}

func sampleSD(_ xs: [Double]) -> Double? {
    guard xs.count >= 2, let m = mean(xs) else { return nil }
    return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
}

extension StudyMetrics {
    /// The metrics of an objective, from its spec (nil: single-objective).
    func metricNames(_ o: ObjectiveRecord) -> [String]? { spec.objectives.first { $0.name == o.name }?.metrics }

    /// The metric vectors of an objective's complete trials (nil: single-objective), in run order.
    public func metricVectors(_ o: ObjectiveRecord) -> [(run: RunRecord, trial: TrialRecord, v: [Double])]? {
        guard let metrics = metricNames(o) else { return nil }
        var all: [(run: RunRecord, trial: TrialRecord, v: [Double])] = []
        for run in runs where run.objective == o.id! {
            for t in trials(ofRun: run.id!) { if let v = MultiObjective.vector(metrics, of: t) { all.append((run, t, v)) } }
        }
        return all
    }

    public func multiObjectiveSummary(_ o: ObjectiveRecord) -> MultiObjectiveSummary? {
        guard let metrics = metricNames(o), let all = metricVectors(o) else { return nil }
        let runsHere = runs.filter { $0.objective == o.id! }
        let refs = references.filter { $0.objective == o.id! }
        func refVector(_ r: ReferenceRecord) -> [Double]? { MultiObjective.vector(metrics, r.extras.map(parseParams)) }
        // Reference point: the component-wise minimum of the parents' metric vectors; without
        // them, of everything recorded (so the hypervolume is still defined, but says so).
        var ref: [Double]
        var source: String
        let parents = ["vlm", "expert"].compactMap { name in refs.first { $0.method == name }.flatMap(refVector) }
        if parents.count == 2 {
            ref = (0..<metrics.count).map { j in parents.map { $0[j] }.min()! }
            source = "parents (vlm, expert): component-wise minimum"
        } else {
            let vs = all.map(\.v) + refs.compactMap(refVector)
            ref = vs.isEmpty ? Array(repeating: 0, count: metrics.count) : (0..<metrics.count).map { j in vs.map { $0[j] }.min()! }
            source = "observed minimum (the parents vlm and expert did not record every metric)"
        }

        var fronts: [OptimizerFront] = []
        for opt in spec.optimizers.map(\.name) {
            var byN: [Int: [Double]] = [:]
            var finals: [Double] = [], sizes: [Double] = []
            for run in runsHere where run.optimizer == opt {
                var points: [[Double]] = []
                let final = trials(ofRun: run.id!).filter { $0.state.isFinal }.sorted { $0.number < $1.number }
                for t in final {
                    if let v = MultiObjective.vector(metrics, of: t) { points.append(v) }
                    byN[t.number, default: []].append(Pareto.hypervolume(points, reference: ref))
                }
                if run.status == "done" && final.count == run.budget {
                    finals.append(Pareto.hypervolume(points, reference: ref))
                    sizes.append(Double(Pareto.frontIndices(points).count))
                }
            }
            let curve = byN.keys.sorted().map { n in HypervolumePoint(n: n, mean: mean(byN[n]!)!, sd: sampleSD(byN[n]!), runs: byN[n]!.count) }
            fronts.append(OptimizerFront(optimizer: opt, runs: finals.count, finalHypervolumeMean: mean(finals),
                                         finalHypervolumeSD: sampleSD(finals), frontSizeMean: mean(sizes), curve: curve))
        }
        let vectors = all.map(\.v)
        let onFront = Pareto.frontIndices(vectors)
        let front = onFront.map { i in
            FrontTrial(optimizer: all[i].run.optimizer, seed: all[i].run.seed, run: all[i].run.id!, number: all[i].trial.number,
                       params: parseParams(all[i].trial.params), metrics: all[i].v)
        }.sorted { $0.metrics[0] > $1.metrics[0] }
        let frontVectors = onFront.map { vectors[$0] }
        let placements = refs.map { r -> ReferencePlacement in
            guard let v = refVector(r) else { return ReferencePlacement(method: r.method, metrics: nil, dominated: nil, epsilon: nil) }
            return ReferencePlacement(method: r.method, metrics: v, dominated: vectors.contains { Pareto.dominates($0, v) },
                                      epsilon: Pareto.epsilon(v, front: frontVectors))
        }
        return MultiObjectiveSummary(metrics: metrics, referencePoint: ref, referencePointSource: source, optimizers: fronts,
                                     studyHypervolume: Pareto.hypervolume(vectors, reference: ref), front: front, references: placements)
    }
}
