import Foundation
import Ledger
import Optimizers
import TOMLKit

/// One fidelity of an objective (`fidelities = [{ value = 25, cost = 1 }, ...]`): the value the
/// evaluator gets (testbed: examples per task; command: `{fidelity}`) and the cost of one
/// evaluation at it, in the spec's own units (only ratios matter). Guide: docs/studies.md,
/// "Fidelities"; design: docs/architecture.md, "Multi-fidelity".
public struct FidelitySpec: Codable, Sendable, Equatable {
    public var value: Int
    public var cost: Double
    public init(value: Int, cost: Double) { self.value = value; self.cost = cost }
}

extension ObjectiveSpec {
    /// The cost of one evaluation at full fidelity (1 without fidelities).
    public var fullCost: Double { fidelities?.last?.cost ?? 1 }

    /// The cost of a trial recorded at `fidelity` (nil: full fidelity), in the spec's units.
    public func cost(fidelity: Int?) -> Double {
        guard let f = fidelity, let list = fidelities, f >= 0, f < list.count else { return fullCost }
        return list[f].cost
    }

    /// Whether a trial recorded at `fidelity` was evaluated at full fidelity.
    public func isFullFidelity(_ fidelity: Int?) -> Bool {
        guard let f = fidelity, let list = fidelities else { return true }
        return f == list.count - 1
    }

    /// A trial's cost in full-fidelity evaluations (the x axis of regret curves by cost).
    public func relativeCost(fidelity: Int?) -> Double { cost(fidelity: fidelity) / fullCost }
}

enum FidelitySupport {
    static let keys = ["value", "cost"]

    /// Reads `fidelities` into `o` (testbed and command objectives). Values are positive and
    /// ascending (the last is full fidelity); costs are positive, given for every fidelity or
    /// for none (then a fidelity's cost is its value).
    static func parse(_ t: TableReader, into o: inout ObjectiveSpec) throws {
        guard let v = t.table["fidelities"] else { return }
        let key = t.key("fidelities")
        let example = "e.g. fidelities = [{ value = 25, cost = 1 }, { value = 100, cost = 4 }]"
        guard let list = v.array, list.count >= 2 else {
            throw SpecError(file: t.file, key: key, "expected at least two fidelities, ascending, the last one full fidelity (\(example))")
        }
        var values: [Int] = []
        var costs: [Double?] = []
        for (i, item) in list.enumerated() {
            let k = "\(key)[\(i)]"
            guard let table = item.table else { throw SpecError(file: t.file, key: k, "expected a table like { value = 25, cost = 1 }") }
            let r = TableReader(table: table, file: t.file, path: k)
            try r.allowOnly(keys)
            guard let value = table["value"]?.int, value >= 1 else {
                throw SpecError(file: t.file, key: r.key("value"), "expected a positive integer (testbed: examples per task; command: the {fidelity} placeholder)")
            }
            if let last = values.last, value <= last {
                throw SpecError(file: t.file, key: r.key("value"), "fidelities ascend: \(value) is not above the previous \(last)")
            }
            values.append(value)
            if let c = table["cost"] {
                guard let x = StudySpec.number(c), x.isFinite, x > 0 else {
                    throw SpecError(file: t.file, key: r.key("cost"), "expected a positive number")
                }
                costs.append(x)
            } else {
                costs.append(nil)
            }
        }
        let given = costs.compactMap { $0 }
        guard given.isEmpty || given.count == costs.count else {
            let missing = costs.firstIndex { $0 == nil }!
            throw SpecError(file: t.file, key: "\(key)[\(missing)].cost", "give a cost for every fidelity or for none (then each costs its value)")
        }
        o.fidelities = zip(values, costs).map { FidelitySpec(value: $0, cost: $1 ?? Double($0)) }
    }
}

// MARK: The coordinator's side

extension Coordinator.RunState {
    /// The cost budget of a run: `budget` full-fidelity evaluations.
    var costBudget: Double { Double(record.budget) * spec.fullCost }

    /// The cost of every trial handed out so far (pending ones included).
    var committedCost: Double { trials.reduce(0) { $0 + spec.cost(fidelity: $1.fidelity) } }

    /// Whether the run's budget is counted in cost (its objective has fidelities) rather than
    /// in trials.
    var budgetsCost: Bool { spec.fidelities != nil }
}

extension Coordinator {
    /// The next point of a run and its fidelity index (nil: the objective has no fidelities).
    /// A multi-fidelity optimizer chooses the fidelity; a plain one evaluates at full fidelity.
    func askPoint(_ state: RunState) throws -> (unit: [Double], fidelity: Int?) {
        guard let fidelities = state.spec.fidelities else { return (try state.optimizer.ask(), nil) }
        if let mf = state.optimizer as? any MultiFidelityOptimizer {
            let (x, f) = try mf.askWithFidelity()
            return (x, f)
        }
        return (try state.optimizer.ask(), fidelities.count - 1)
    }

    /// Replay of an ask: the recorded point, with its recorded fidelity.
    func adoptRecorded(_ state: RunState, _ unit: [Double], fidelity: Int?) throws {
        if let mf = state.optimizer as? any MultiFidelityOptimizer, let f = fidelity {
            try mf.adopt(unit, fidelity: f)
        } else {
            try state.optimizer.adopt(unit)
        }
    }

    /// Whether the run may hand out another trial, counting `plannedCost` of this scheduling
    /// round's asks: under its trial budget, or (fidelities) while its committed cost is under
    /// the cost budget (the last trial may overshoot it by less than one full evaluation).
    func underBudget(_ state: RunState, planned: Int, plannedCost: Double) -> Bool {
        guard state.budgetsCost else { return state.trials.count + planned < state.record.budget }
        return state.committedCost + plannedCost < state.costBudget
    }

    /// Whether the run has spent its budget once `told` trials are told.
    func budgetSpent(_ state: RunState, told: Int) -> Bool {
        guard state.budgetsCost else { return told == state.record.budget }
        return told == state.trials.count && state.committedCost >= state.costBudget
    }
}

// MARK: Progress in cost

extension StudySpec {
    /// Whether an objective has fidelities: the study's progress and "to beat" are then in cost.
    public var hasFidelities: Bool { objectives.contains { $0.fidelities != nil } }

    /// Cost in full-fidelity evaluations of finished trials counted by objective and fidelity
    /// (a trial of an objective without fidelities, or one the spec lacks, counts 1).
    func costDone(_ counts: [(objective: String, fidelity: Int?, count: Int)]) -> Double {
        counts.reduce(0) { sum, c in
            sum + Double(c.count) * (objectives.first { $0.name == c.objective }?.relativeCost(fidelity: c.fidelity) ?? 1)
        }
    }
}

extension Ledger {
    /// `progress(study:)`, and for a study with fidelities the cost done (`StudyProgress.costDone`):
    /// its budgets are in full-fidelity evaluations of cost, so trials alone overshoot them.
    public func progress(of study: StudyRecord, spec: StudySpec? = nil) throws -> StudyProgress {
        var p = try progress(study: study.id!)
        guard let spec = spec ?? (try? StudySpec.fromJSON(study.spec)), spec.hasFidelities else { return p }
        p.costDone = spec.costDone(try finishedTrialsByFidelity(study: study.id!))
        return p
    }
}

extension StudyProgress {
    /// "12/40 trials" (`unit`), or for a study with fidelities "cost 18.25/20 full-fidelity
    /// evaluations (52 trials)": the budget is in cost there.
    public func doneText(unit: String) -> String {
        guard let c = costDone else { return "\(trialsDone)/\(trialsTotal) \(unit)" }
        return "cost \(Self.costText(c))/\(trialsTotal) full-fidelity evaluations (\(trialsDone) trials)"
    }

    /// The share of the budget spent, in cost where the study has fidelities.
    public var fractionDone: Double {
        guard trialsTotal > 0 else { return 1 }
        return min(1, (costDone ?? Double(trialsDone)) / Double(trialsTotal))
    }

    static func costText(_ c: Double) -> String {
        let r = (c * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r).replacingOccurrences(of: #"0$"#, with: "", options: .regularExpression)
    }
}
