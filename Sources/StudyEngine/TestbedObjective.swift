import Foundation
import Fusion
import Optimizers
import Testbed
import Executors

/// Glue between study specs and the Testbed module: a live objective whose every trial merges
/// the shipped family in memory and scores the merged VLM (`TestbedEvaluator`).
enum TestbedSupport {
    static let methods: [MergeMethod] = [.taskArithmetic, .ties, .dareTies]

    /// The box of a method: its searchable recipe parameters with the registry's default bounds
    /// (weights [0, 2] and density [0.25, 1], as `TestbedGrid.paper`).
    static func defaultBox(_ method: MergeMethod) -> [Parameter] {
        MergeMethodRegistry.info(method).searchable.map { p in
            Parameter(name: p.name, lower: p.defaultBounds!.lowerBound, upper: p.defaultBounds!.upperBound)
        }
    }

    /// The testbed directory of a spec: `directory` relative to the spec's directory, else a
    /// `Testbed/` found from the spec's directory upwards, else where the testbed CLI looks
    /// ($MERGETUNE_TESTBED, the working directory and its parents, near the executable).
    static func resolveDirectory(_ given: String?, baseDirectory: URL, file: String, key: String) throws -> String {
        do {
            if let given {
                let url = given.hasPrefix("/") ? URL(fileURLWithPath: given) : baseDirectory.appendingPathComponent(given)
                return try TestbedFamily.locate(url.path).path
            }
            var dir = baseDirectory.standardizedFileURL
            for _ in 0..<8 {
                let candidate = dir.appendingPathComponent("Testbed")
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("models/vlm/model.safetensors").path) {
                    return candidate.path
                }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
            return try TestbedFamily.locate(nil).path
        } catch {
            throw SpecError(file: file, key: "\(key).directory", "\(error)")
        }
    }

    static func makeObjective(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective {
        func value<T: RawRepresentable & CaseIterable>(_ raw: String?, _ field: String, _ fallback: T) throws -> T where T.RawValue == String {
            guard let raw else { return fallback }
            guard let v = T(rawValue: raw) else {
                throw SpecError(file: file, key: "\(key).\(field)", "unknown \(field) '\(raw)' (known: \(T.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return v
        }
        guard let scenarioName = spec.scenario else { throw SpecError(file: file, key: "\(key).scenario", "missing (language or reasoning)") }
        let scenario: Scenario = try value(scenarioName, "scenario", .language)
        let split: Split = try value(spec.split, "split", .validation)
        let metric: Metric = try value(spec.metric, "metric", .meanLogprob)
        let target: TestbedGoal = try value(spec.objective, "objective", .target)
        let allowed = MergeSpaces.ownMethod(ofSpace: spec.space?.kind).map { [$0] } ?? methods
        guard let method = MergeMethod(rawValue: spec.method ?? "task_arithmetic"), allowed.contains(method) else {
            throw SpecError(file: file, key: "\(key).method", "unknown method '\(spec.method ?? "")' (known: \(allowed.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let directory = spec.directory else { throw SpecError(file: file, key: "\(key).directory", "missing") }

        var box = defaultBox(method)
        if let s = spec.space {
            box = try MergeSpaces.box(s, method: method, fixed: [:], bounds: spec.bounds, file: file, key: key).parameters
        } else if let bounds = spec.bounds {
            let names = box.map(\.name)
            guard Set(bounds.map(\.name)) == Set(names) else {
                throw SpecError(file: file, key: "\(key).bounds", "method '\(method.rawValue)' has parameters \(names.joined(separator: ", ")); bounds name \(bounds.map(\.name).sorted().joined(separator: ", "))")
            }
            box = try names.map { n in
                let b = bounds.first { $0.name == n }!
                if n == "density", b.lower <= 0 || b.upper > 1 {
                    throw SpecError(file: file, key: "\(key).bounds.density", "[\(b.lower), \(b.upper)] leaves (0, 1]")
                }
                return Parameter(name: n, lower: b.lower, upper: b.upper)
            }
        }
        let space: SearchSpace
        do { space = try SearchSpace(box) } catch { throw SpecError(file: file, key: "\(key).bounds", "\(error)") }
        let limits = try spec.fidelities.map { try checkedLimits($0, directory: directory, scenario: scenario, split: split, file: file, key: key) }
        do {
            return try TestbedObjective(name: spec.name, directory: URL(fileURLWithPath: directory), scenario: scenario,
                                        method: method, split: split, metric: metric, target: target, space: space,
                                        mergeSeed: UInt64(spec.mergeSeed ?? 0), mergeSpace: spec.space, metrics: spec.metrics,
                                        fullLimit: limits?.last, frismAlpha: spec.frismAlpha ?? 1)
        } catch let error as SpecError {
            throw error
        } catch {
            throw SpecError(file: file, key: "\(key).directory", "cannot evaluate the testbed in \(directory): \(error)")
        }
    }
}

extension TestbedSupport {
    /// A testbed fidelity's value is the number of examples per task (the first N of each
    /// task's split); one above what a split holds is an error, not silently the whole split.
    static func checkedLimits(_ fidelities: [FidelitySpec], directory: String, scenario: Scenario, split: Split,
                              file: String, key: String) throws -> [Int] {
        let url = URL(fileURLWithPath: directory)
        for task in [scenario.targetTask, Scenario.perceptionTask, scenario.skillTask] {
            let size: Int
            do { size = try TaskData.load(task: task, directory: url).examples(split).count } catch {
                throw SpecError(file: file, key: "\(key).directory", "cannot read the testbed's task '\(task)': \(error)")
            }
            if let i = fidelities.firstIndex(where: { $0.value > size }) {
                throw SpecError(file: file, key: "\(key).fidelities[\(i)].value",
                                "\(fidelities[i].value) examples, but task '\(task)' has \(size) in its \(split.rawValue) split")
            }
        }
        return fidelities.map(\.value)
    }
}

/// A live testbed objective: the score of the merged VLM (the evaluator's metric on the chosen
/// split: the scenario's target task, or retention) at the searched coefficients.
///
/// Deterministic: DARE's mask seed is the spec's `seed` (default 0, the landscapes' seed), the
/// same for every trial, so a point always scores the same and replay/resume hold.
///
/// Extremes: a live objective has no known global extremes. Following docs/architecture.md
/// ("Study metrics": the best and worst ever recorded for a live objective), `extrema()` returns the lowest and highest of the
/// reference points it measured at creation (frank, metagpt, nan, the VLM, the expert), and the
/// metrics widen them to every recorded trial. So f_max is the best value any run of the study
/// found, and regret is relative to the study itself, not to a global optimum.
public final class TestbedObjective: Objective, @unchecked Sendable {
    public let name: String
    public var kind: String { "testbed" }
    public let space: SearchSpace
    public let directory: URL
    public let scenario: Scenario
    public let method: MergeMethod
    public let split: Split
    public let metric: Metric
    public let target: TestbedGoal
    public let mergeSeed: UInt64
    /// The search space (nil: global): how a point becomes the trial's recipe.
    public let mergeSpace: MergeSpaceSpec?
    /// Examples per task at full fidelity (the last fidelity's value); nil: the whole split.
    public let fullLimit: Int?
    /// The fixed part of every trial's merge (DARE's seed); the searched values come from `x`.
    public let recipe: MergeRecipe
    public private(set) var builtInReferences: [ReferenceSpec] = []
    /// Multi-objective: the metrics (extras names) searched; the score is the first. nil: `target`'s score.
    public let metrics: [String]?
    /// Objective frism: α of −KL + α·spectral.
    public let frismAlpha: Double

    // An evaluator keeps mutable caches (one per thread), so runner workers borrow one each.
    private let lock = NSLock()
    private var idle: [TestbedEvaluator] = []
    /// Evaluators on the first N examples (fidelities below full), by N.
    private var idleLimited: [Int: [TestbedEvaluator]] = [:]

    public init(name: String, directory: URL, scenario: Scenario, method: MergeMethod, split: Split = .validation,
                metric: Metric = .meanLogprob, target: TestbedGoal = .target, space: SearchSpace, mergeSeed: UInt64 = 0,
                mergeSpace: MergeSpaceSpec? = nil, metrics: [String]? = nil, fullLimit: Int? = nil, frismAlpha: Double = 1) throws {
        self.name = name; self.directory = directory; self.scenario = scenario; self.method = method
        self.split = split; self.metric = metric; self.target = target; self.space = space; self.mergeSeed = mergeSeed
        self.mergeSpace = mergeSpace
        self.metrics = metrics
        self.fullLimit = fullLimit
        self.frismAlpha = frismAlpha
        let takesSeed = MergeMethodRegistry.info(method).parameter(RecipeKey.seed) != nil
        recipe = MergeRecipe(method: method, parameters: takesSeed ? [RecipeKey.seed: .number(Double(mergeSeed))] : [:])
        builtInReferences = try measureReferences()
    }

    /// The closed forms (plain, without an attention prior) and the parents, measured now.
    func measureReferences() throws -> [ReferenceSpec] {
        try withEvaluator { e in
            var refs: [ReferenceSpec] = []
            // frism's score exists only for subspace merges: there the one reference is the VLM,
            // the all-gates-0 subspace merge (KL 0, spectral 0: score 0); the closed forms and
            // the expert have no frism score (measure them on a target objective of the study).
            let scored = target != .frism
            func add(_ name: String, _ params: [String: Double]?, _ s: TestbedScore) {
                var r = reference(name, params: params, s)
                if !scored {
                    guard name == "vlm" else { return }
                    r.score = 0
                }
                refs.append(r)
            }
            for m in [MergeMethod.frank, .metagpt, .nan] {
                add(m.rawValue, nil, try e.evaluate(spec: MergeSpec(method: m)))
            }
            // The parents are points of the weight plane; placed there only for two-weight objectives.
            let twoD = space.names == [RecipeKey.vlWeight, RecipeKey.expWeight]
            let vl = RecipeKey.vlWeight, exp = RecipeKey.expWeight
            add("vlm", twoD ? [vl: 1, exp: 0] : nil, try e.evaluate(decoder: e.family.vlm))
            add("expert", twoD ? [vl: 0, exp: 1] : nil,
                try e.evaluate(recipe: MergeRecipe(method: .taskArithmetic), searched: [vl: 0, exp: 1]))
            return refs
        }
    }

    /// A measured reference with its metrics (constraints relative to it and the hypervolume's
    /// reference point read them).
    func reference(_ name: String, params: [String: Double]?, _ s: TestbedScore) -> ReferenceSpec {
        ReferenceSpec(name: name, params: params, score: value(s), extras: Self.extras(s))
    }

    /// The references measured at creation (`measureReferences`), which constraints may be relative to.
    static let referenceNames = ["frank", "metagpt", "nan", "vlm", "expert"]

    /// The names of the metrics every trial records (the multi-objective `metrics` choose from these).
    /// `neg_kl` is −KL(VLM ‖ merged) on the perception inputs; `spectral` (subspace merges only)
    /// the spectral magnitude injected: FRISM's label-free pair, both maximized.
    public static let recordedMetrics = ["target", "perception", "skill", "target_exact", "perception_exact", "skill_exact",
                                         "neg_kl", "spectral"]

    static func extras(_ s: TestbedScore) -> [String: Double] {
        var x = ["target": s.target, "perception": s.perception, "skill": s.skill,
                 "target_exact": s.targetExact, "perception_exact": s.perceptionExact, "skill_exact": s.skillExact]
        if let kl = s.perceptionKL { x["neg_kl"] = -kl }
        if let sp = s.spectral { x["spectral"] = sp }
        return x
    }

    /// The trial's value: the first metric of a multi-objective, else the goal's score.
    func value(_ s: TestbedScore) -> Double { metrics.flatMap { Self.extras(s)[$0[0]] } ?? s.value }

    /// Borrows an evaluator on the first `limit` examples per task (nil: full fidelity).
    func withEvaluator<T>(limit: Int? = nil, _ body: (TestbedEvaluator) throws -> T) throws -> T {
        let n = limit ?? fullLimit
        lock.lock()
        let borrowed = n.map { idleLimited[$0]?.popLast() } ?? idle.popLast()
        lock.unlock()
        let e = try borrowed ?? TestbedEvaluator(directory: directory, scenario: scenario, split: split, metric: metric, objective: target, limit: n,
                                                         frismAlpha: frismAlpha)
        defer {
            lock.lock()
            if let n { idleLimited[n, default: []].append(e) } else { idle.append(e) }
            lock.unlock()
        }
        return try body(e)
    }

    /// The full score at `x` (parameter coordinates, in the space's order).
    public func score(_ x: [Double], limit: Int? = nil) throws -> TestbedScore {
        try withEvaluator(limit: limit) { e in
            try e.evaluate(spec: try MergeSpaces.recipe(fixed: recipe, point: Dictionary(uniqueKeysWithValues: zip(space.names, x)),
                                                        space: mergeSpace).spec())
        }
    }

    public func evaluate(_ x: [Double]) throws -> Double { value(try score(x)) }

    /// Perception and skill (and the target) ride along with every trial, in both metrics.
    public func evaluateWithExtras(_ x: [Double]) throws -> (value: Double, extras: [String: Double]?) {
        try evaluateWithExtras(x, limit: nil)
    }

    /// A trial at a fidelity: its value is the number of examples per task.
    public func evaluateAttempt(_ x: [Double], context: AttemptContext) -> AttemptOutcome {
        guard let limit = context.fidelity else { return TrialWorker.evaluate(self, x) }
        return TrialWorker.evaluate(self, x) { try self.evaluateWithExtras($0, limit: limit) }
    }

    func evaluateWithExtras(_ x: [Double], limit: Int?) throws -> (value: Double, extras: [String: Double]?) {
        let s = try score(x, limit: limit)
        return (value(s), Self.extras(s))
    }

    public func extrema() throws -> (minimum: Double, maximum: Double) {
        let scores = builtInReferences.compactMap(\.score)
        guard let lo = scores.min(), let hi = scores.max() else { throw ObjectiveError.failed("\(name): no reference measured") }
        return (lo, hi)
    }
}
