import Foundation
import Ledger
import Optimizers

// Multi-objective studies (docs/studies.md, "Multi-objective studies"; design: docs/architecture.md,
// "The study core"): an objective's `metrics` are maximized together. Every trial's metrics are in
// its extras (the ledger has them, so replay recovers the vectors exactly); its value is the first
// metric, so the single-objective paths (regret, exports) keep working.

enum MultiObjective {
    /// `metrics = ["target", "perception"]`: 2 or 3 distinct names from `known`; nil when absent.
    static func parseMetrics(_ t: TableReader, known: [String]) throws -> [String]? {
        guard let value = t.table["metrics"] else { return nil }
        let key = t.key("metrics")
        guard let list = value.array, let names = Optional(list.compactMap(\.string)), names.count == list.count else {
            throw SpecError(file: t.file, key: key, "expected a list of 2 or 3 metric names, e.g. [\"target\", \"perception\"] (known: \(known.joined(separator: ", ")))")
        }
        guard (2...3).contains(names.count) else {
            throw SpecError(file: t.file, key: key, "a multi-objective names 2 or 3 metrics (got \(names.count)); for one metric leave `metrics` out")
        }
        guard Set(names).count == names.count else { throw SpecError(file: t.file, key: key, "a metric appears twice") }
        for (i, n) in names.enumerated() where !known.contains(n) {
            throw SpecError(file: t.file, key: "\(key)[\(i)]", "unknown metric '\(n)' (this objective records: \(known.joined(separator: ", ")))")
        }
        return names
    }

    /// At launch: every optimizer of a study with a multi-metric objective must take vectors.
    static func validate(_ o: ObjectiveSpec, key: String, optimizers: [OptimizerSpec], file: String) throws {
        guard let metrics = o.metrics else { return }
        for (j, opt) in optimizers.enumerated() where !OptimizerFactory.multiObjectiveKinds.contains(opt.config.kind) {
            throw SpecError(file: file, key: "optimizers[\(j)].kind",
                            "optimizer '\(opt.name)' (\(opt.config.kind)) is single-objective, but objective '\(o.name)' maximizes \(metrics.joined(separator: ", ")); multi-objective kinds: \(OptimizerFactory.multiObjectiveKinds.joined(separator: ", "))")
        }
    }

    /// The metric vector of recorded extras; nil when a metric is missing or not finite.
    static func vector(_ metrics: [String], _ extras: [String: Double]?) -> [Double]? {
        let v = metrics.compactMap { extras?[$0] }
        return v.count == metrics.count && v.allSatisfy(\.isFinite) ? v : nil
    }

    /// Why `vector` found none (for the trial's detail).
    static func missing(_ metrics: [String], _ extras: [String: Double]?) -> String {
        let bad = metrics.filter { !(extras?[$0]?.isFinite ?? false) }
        return "the evaluator recorded no finite \(bad.map { "'\($0)'" }.joined(separator: ", ")) (the objective's metrics: \(metrics.joined(separator: ", ")))"
    }

    /// A measured value as recorded: the first metric for a multi-objective (throws when missing).
    static func primaryValue(_ spec: ObjectiveSpec, value: Double, extras: [String: Double]?, what: String) throws -> Double {
        guard let metrics = spec.metrics else { return value }
        guard let v = vector(metrics, extras) else {
            throw StudyError.referenceFailed(objective: spec.name, reference: what, detail: missing(metrics, extras))
        }
        return v[0]
    }

    static func extrasJSON(_ extras: [String: Double]?) -> String? {
        guard let extras, !extras.isEmpty else { return nil }
        let keys = extras.keys.sorted()
        return jsonObject(names: keys, values: keys.map { extras[$0]! })
    }

    /// A recorded trial's metric vector (nil unless complete with every metric).
    static func vector(_ metrics: [String], of t: TrialRecord) -> [Double]? {
        guard t.state == .complete, let extras = t.extras else { return nil }
        return vector(metrics, parseParams(extras))
    }
}

extension Coordinator {
    /// Tells the run's optimizer a final trial: its value, or for a multi-objective its metric
    /// vector read back from the trial's extras (so a replay tells exactly what was told live).
    func tellOptimizer(_ state: RunState, _ t: TrialRecord) throws {
        let isWarm = t.origin == .warmStart
        if let metrics = state.spec.metrics {
            guard let mo = state.optimizer as? any MultiObjectiveOptimizer else {
                throw StudyError.badRecord("\(label(state)): objective '\(state.spec.name)' has metrics, its optimizer '\(state.record.optimizer)' takes scalars only")
            }
            let v = MultiObjective.vector(metrics, of: t)
            if isWarm { try mo.warmStart(try recordedUnit(t, of: state), values: v) } else { try mo.tell(t.number - 1 - state.warmCount, values: v) }
            return
        }
        let v = t.state == .complete ? t.value : nil
        if isWarm { try state.optimizer.warmStart(try recordedUnit(t, of: state), v) } else { try state.optimizer.tell(t.number - 1 - state.warmCount, v) }
    }
}
