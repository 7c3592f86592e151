import Foundation
import Fusion

/// What a testbed evaluation maximizes.
public enum TestbedGoal: String, Sendable, CaseIterable, Codable {
    /// Cross-modal emergence: the target task (image input, expert skill) of the scenario.
    case target
    /// Retention: the mean of the perception score (`see`) and the expert's skill score.
    case retention
    /// FRISM's label-free objective (subspace merges): −KL(VLM ‖ merged) on the perception
    /// inputs + α·spectral magnitude injected (`TestbedEvaluator.frismAlpha`).
    case frism
}

/// One evaluation of a (merged) VLM on a scenario. Every task is scored with both metrics;
/// intervals are seeded 95% bootstrap intervals over examples, in the evaluator's metric.
public struct TestbedScore: Sendable, Codable, Equatable {
    /// The objective in the evaluator's metric (higher is better).
    public let value: Double
    public let valueInterval: Interval
    public let targetExact: Double
    public let targetLogprob: Double
    public let targetInterval: Interval
    public let perceptionExact: Double
    public let perceptionLogprob: Double
    public let perceptionInterval: Interval
    public let skillExact: Double
    public let skillLogprob: Double
    public let skillInterval: Interval
    public let metric: Metric
    /// KL(VLM ‖ merged) of the next-token distributions on the perception inputs (`meanKL`).
    public var perceptionKL: Double? = nil
    /// subspace merges: the spectral magnitude injected, in [0, 1] (`SubspaceFactors.spectral`).
    public var spectral: Double? = nil

    /// Perception and skill in the evaluator's metric.
    public var perception: Double { metric == .exactMatch ? perceptionExact : perceptionLogprob }
    public var skill: Double { metric == .exactMatch ? skillExact : skillLogprob }
    public var target: Double { metric == .exactMatch ? targetExact : targetLogprob }
}

/// Evaluates merges of the shipped family in memory (no checkpoint is written): builds the
/// merged VLM's language model with Fusion's kernels, then scores the scenario's target task,
/// the VLM's perception (`see`) and the expert's skill on one split. The family's weights are
/// shared per process (`TestbedFamily.shared`); an instance keeps mutable caches, so use one
/// instance per thread.
public final class TestbedEvaluator {
    public let family: TestbedFamily
    public let scenario: Scenario
    public let split: Split
    public let metric: Metric
    public let objective: TestbedGoal
    /// Seed of the bootstrap intervals.
    public let bootstrapSeed: UInt64
    public let target: [TaskExample]
    public let perception: [TaskExample]
    public let skill: [TaskExample]
    private var cachedStats: TaskVectorStats?
    /// FRISM's α (objective `frism`): score = −KL + α·spectral.
    public let frismAlpha: Double
    /// The unmerged VLM's logits on the perception inputs (the KL's teacher), computed once.
    private var teacherLogits: [Float]?

    public init(directory: URL, scenario: Scenario, split: Split = .validation, metric: Metric = .meanLogprob,
                objective: TestbedGoal = .target, bootstrapSeed: UInt64 = 0, limit: Int? = nil, frismAlpha: Double = 1) throws {
        family = try TestbedFamily.shared(directory: directory)
        self.scenario = scenario
        self.split = split
        self.metric = metric
        self.objective = objective
        self.bootstrapSeed = bootstrapSeed
        self.frismAlpha = frismAlpha
        func examples(_ task: String) throws -> [TaskExample] {
            let all = try TaskData.load(task: task, directory: directory).examples(split)
            return limit.map { Array(all.prefix($0)) } ?? all
        }
        target = try examples(scenario.targetTask)
        perception = try examples(Scenario.perceptionTask)
        skill = try examples(scenario.skillTask)
    }

    /// Task-vector statistics of this scenario (computed once).
    public func stats() throws -> TaskVectorStats {
        if let cachedStats { return cachedStats }
        let s = try family.stats(scenario)
        cachedStats = s
        return s
    }

    /// The coefficients a spec resolves to (closed forms use the task-vector statistics).
    public func coefficients(for spec: MergeSpec) throws -> Coefficients {
        try spec.validate()
        let L = family.pairings[scenario]!.layerCount
        return try ClosedForm.coefficients(for: spec, layerCount: L, stats: spec.method.isClosedForm ? try stats() : nil)
    }

    /// Merges by a recipe at the searched values (`MergeRecipe.spec(searched:)`) and scores the result.
    public func evaluate(recipe: MergeRecipe, searched: [String: Double] = [:]) throws -> TestbedScore {
        try evaluate(spec: try recipe.spec(searched: searched))
    }

    /// The two weights (and density and seed where the method has them) through the recipe.
    public func evaluate(method: MergeMethod, vlWeight: Double, expWeight: Double, density: Double = 1, seed: UInt64 = 0) throws -> TestbedScore {
        let info = MergeMethodRegistry.info(method)
        var fixed: [String: RecipeValue] = [:]
        if info.parameter(RecipeKey.seed) != nil { fixed[RecipeKey.seed] = .number(Double(seed)) }
        var searched = [RecipeKey.vlWeight: vlWeight, RecipeKey.expWeight: expWeight]
        if info.parameter(RecipeKey.density) != nil || density != 1 { searched[RecipeKey.density] = density }
        return try evaluate(recipe: MergeRecipe(method: method, parameters: fixed), searched: searched)
    }

    /// Merges in memory with the spec (any method, closed forms included) and scores the result.
    public func evaluate(spec: MergeSpec) throws -> TestbedScore {
        guard spec.method != .linear || spec.vlWeight + spec.expWeight != 0 else {
            throw TestbedError("linear merge with zero total weight")
        }
        let decoder = try family.mergedDecoder(scenario: scenario, spec: spec, coefficients: try coefficients(for: spec))
        var spectral: Double? = nil
        if let config = spec.subspace, spec.method == .subspace {
            spectral = try family.subspaceFactors(scenario, rank: config.rank).spectral(config, pairing: family.pairings[scenario]!)
        }
        return try evaluate(model: try family.vlmModel(decoder: decoder), spectral: spectral)
    }

    /// Scores the VLM with a given language model (e.g. the unmerged VLM: `family.vlm`).
    public func evaluate(decoder: DecoderWeights) throws -> TestbedScore {
        try evaluate(model: try family.vlmModel(decoder: decoder))
    }

    /// Scores a merged VLM written to disk (its language model and vision tower).
    public func evaluate(checkpoint path: String) throws -> TestbedScore {
        try evaluate(model: try family.vlmModel(checkpoint: path))
    }

    func evaluate(model: DecoderModel, spectral: Double? = nil) throws -> TestbedScore {
        let perceptionLogits = try model.logits(perception.map(\.input))
        if teacherLogits == nil { teacherLogits = try family.vlmModel(decoder: family.vlm).logits(perception.map(\.input)) }
        let kl = meanKL(teacher: teacherLogits!, student: perceptionLogits, examples: perception, vocab: model.config.vocabSize)
        let t = try model.score(target), p = model.score(perception, logits: perceptionLogits), k = try model.score(skill)
        let seed = bootstrapSeed
        let ti = Bootstrap.interval([t.values(metric)], seed: seed)
        let pi = Bootstrap.interval([p.values(metric)], seed: seed &+ 1)
        let ki = Bootstrap.interval([k.values(metric)], seed: seed &+ 2)
        let value: Double, vi: Interval
        switch objective {
        case .target:
            value = t.mean(metric)
            vi = ti
        case .retention:
            value = (p.mean(metric) + k.mean(metric)) / 2
            vi = Bootstrap.interval([p.values(metric), k.values(metric)], seed: seed &+ 3) { ($0[0] + $0[1]) / 2 }
        case .frism:
            // Undefined (NaN) for a merge that is not a subspace merge: it has no spectral magnitude.
            value = -kl + frismAlpha * (spectral ?? .nan)
            vi = Interval(low: value, high: value)  // no resampling: the KL is one calibration mean
        }
        var score = TestbedScore(value: value, valueInterval: vi,
                            targetExact: t.exactMatch, targetLogprob: t.meanLogprob, targetInterval: ti,
                            perceptionExact: p.exactMatch, perceptionLogprob: p.meanLogprob, perceptionInterval: pi,
                            skillExact: k.exactMatch, skillLogprob: k.meanLogprob, skillInterval: ki, metric: metric)
        score.perceptionKL = kl
        score.spectral = spectral
        return score
    }
}

extension TestbedFamily {
    nonisolated(unsafe) private static var cache: [String: TestbedFamily] = [:]
    private static let cacheLock = NSLock()

    /// The family of a directory, loaded once per process (the parents' Float weights are
    /// the expensive part; evaluators share them).
    public static func shared(directory: URL) throws -> TestbedFamily {
        let key = directory.standardizedFileURL.path
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let f = cache[key] { return f }
        let f = try TestbedFamily(directory: directory)
        cache[key] = f
        return f
    }
}
