import Foundation
import Fusion
import Ledger

/// The merge recipe of a recorded trial (`study export --mergekit`): the objective's merge at the
/// trial's parameters. Command objectives with a merge table and testbed objectives merge
/// checkpoints; the others (surrogates, analytic functions) have no recipe.
public enum TrialRecipe {
    public static func recipe(_ objective: ObjectiveSpec, params: [String: Double]) throws -> MergeRecipe {
        var recipe: MergeRecipe
        if let merge = objective.command?.merge {
            recipe = merge.recipe
        } else if objective.kind == "testbed", let directory = objective.directory, let scenario = objective.scenario,
                  let method = MergeMethod(rawValue: objective.method ?? "task_arithmetic") {
            let models = URL(fileURLWithPath: directory).appendingPathComponent("models")
            recipe = MergeRecipe(method: method, models: [.base: models.appendingPathComponent("base").path,
                                                          .vlm: models.appendingPathComponent("vlm").path,
                                                          .expert: models.appendingPathComponent("expert-\(scenario)").path])
            if let seed = objective.mergeSeed { recipe.parameters["seed"] = .number(Double(seed)) }
        } else {
            throw StudyError.badRecord("objective '\(objective.name)' (\(objective.kind)) merges no checkpoints, so its trials have no recipe; only command objectives with a merge table and testbed objectives do")
        }
        // The objective's space maps the point, as its trials were merged (SearchSpaces.swift).
        recipe = try MergeSpaces.recipe(fixed: recipe, point: params, space: objective.space)
        _ = try recipe.spec()  // the recipe must be one the fusion core accepts
        return recipe
    }

    public static func recipe(_ objective: ObjectiveSpec, trial: TrialRecord) throws -> MergeRecipe {
        try recipe(objective, params: parseParams(trial.params))
    }

    /// The trial named `RUN:NUMBER` or `rRUN-tNUMBER` (the trials export's `run` and `number`
    /// columns; a command trial's checkpoint directory name), or the best complete trial.
    public static func find(_ metrics: StudyMetrics, trial: String?, objective: String?) throws -> (ObjectiveSpec, TrialRecord) {
        let objectiveOfRun = Dictionary(uniqueKeysWithValues: metrics.runs.map { ($0.id!, $0.objective) })
        let names = Dictionary(uniqueKeysWithValues: metrics.objectives.map { ($0.id!, $0.name) })
        func spec(of t: TrialRecord) throws -> ObjectiveSpec {
            let name = names[objectiveOfRun[t.run] ?? -1] ?? "?"
            guard let s = metrics.spec.objectives.first(where: { $0.name == name }) else { throw StudyError.objectiveMissing(study: metrics.study.name, objective: name) }
            return s
        }
        let all = metrics.runs.flatMap { metrics.trials(ofRun: $0.id!) }
        if let trial {
            let parts = trial.split(whereSeparator: { ":-rt".contains($0) }).compactMap { Int64($0) }
            guard parts.count == 2 else { throw StudyError.badRecord("'\(trial)' names no trial: give RUN:NUMBER (the trials export's run and number columns) or rRUN-tNUMBER") }
            guard let t = all.first(where: { $0.run == parts[0] && $0.number == Int(parts[1]) }) else {
                throw StudyError.badRecord("study '\(metrics.study.name)' has no trial \(parts[1]) in run \(parts[0])")
            }
            return (try spec(of: t), t)
        }
        let candidates = try all.filter { t in
            // The best is a full-fidelity trial's (a cheaper score is not comparable).
            guard t.state == .complete, t.value != nil, try spec(of: t).isFullFidelity(t.fidelity) else { return false }
            return try objective == nil || spec(of: t).name == objective
        }
        let mergeable = try candidates.filter { let s = try spec(of: $0); return s.command?.merge != nil || s.kind == "testbed" }
        guard let best = mergeable.max(by: { $0.value! < $1.value! }) else {
            throw StudyError.badRecord("study '\(metrics.study.name)' has no complete trial of a merging objective\(objective.map { " named '\($0)'" } ?? "")")
        }
        let objectivesSeen = Set(try mergeable.map { try spec(of: $0).name })
        if objective == nil && objectivesSeen.count > 1 {
            throw StudyError.badRecord("study '\(metrics.study.name)' has several merging objectives (\(objectivesSeen.sorted().joined(separator: ", "))); name one with --objective")
        }
        return (try spec(of: best), best)
    }
}
