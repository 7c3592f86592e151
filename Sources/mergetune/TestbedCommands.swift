import ArgumentParser
import Foundation
import Fusion
import MergetuneNumerics
import Testbed

extension MergeTune {
    /// The testbed subcommands (owned by this file).
    static var testbedCommands: [ParsableCommand.Type] { [TestbedCommand.self] }
}

extension Scenario: ExpressibleByArgument {}
extension Split: ExpressibleByArgument {}
extension Metric: ExpressibleByArgument {}
extension TestbedGoal: ExpressibleByArgument {}

struct TestbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testbed",
        abstract: "Evaluate merges of the shipped model family in memory, probe its attention, measure landscapes.",
        subcommands: [TestbedEval.self, TestbedProbe.self, TestbedGridCommand.self])
}

/// Where the family lives and what is measured.
struct TestbedOptions: ParsableArguments {
    @Option(help: "The testbed directory (models/, data/). Default: $MERGETUNE_TESTBED, else Testbed/ in the current directory or a parent, else near the executable.")
    var testbed: String?
    @Option(help: "Evaluation split: validation (100 examples per task) or test (400).")
    var split: Split = .validation
    @Option(help: "mean_logprob (continuous, default) or exact_match.")
    var metric: Metric = .meanLogprob
    @Option(help: "target (cross-modal task) or retention (mean of perception and the expert's skill).")
    var objective: TestbedGoal = .target
    @Option(help: "Seed of the bootstrap intervals.")
    var bootstrapSeed: UInt64 = 0

    func directory() throws -> URL { try TestbedFamily.locate(testbed) }

    func validate() throws {
        if objective == .frism {
            throw ValidationError("--objective frism scores subspace merges, which a study searches (space = \"subspace\", docs/studies.md); here use target or retention (the KL is printed as neg_kl)")
        }
    }
}

func formatScore(_ s: TestbedScore, _ scenario: Scenario) -> String {
    func iv(_ i: Interval) -> String { String(format: "[%.3f, %.3f]", i.low, i.high) }
    let m = s.metric.rawValue
    return """
    target \(scenario.targetTask): exact \(String(format: "%.3f", s.targetExact)), log-prob \(String(format: "%.4f", s.targetLogprob)); 95% CI (\(m)) \(iv(s.targetInterval))
    perception see: exact \(String(format: "%.3f", s.perceptionExact)), log-prob \(String(format: "%.4f", s.perceptionLogprob)); 95% CI (\(m)) \(iv(s.perceptionInterval))
    skill \(scenario.skillTask): exact \(String(format: "%.3f", s.skillExact)), log-prob \(String(format: "%.4f", s.skillLogprob)); 95% CI (\(m)) \(iv(s.skillInterval))
    value: \(String(format: "%.6f", s.value)) \(iv(s.valueInterval))
    """
}

struct TestbedEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Merge in memory and score the scenario's target, perception and skill.")

    @OptionGroup var options: TestbedOptions
    @Option(help: "language (expert writes w0-w9; target see_w) or reasoning (expert sums; target see_sum).")
    var scenario: Scenario
    @Option(help: "task_arithmetic, ties, dare_ties, dare_linear, linear, frank, metagpt, nan.")
    var method: MergeMethod = .taskArithmetic
    @Option(name: .customLong("vl-weight"), help: "λ_V (default 1).") var vlWeightArgument: DecimalArgument?
    @Option(name: .customLong("exp-weight"), help: "λ_R (default 1).") var expWeightArgument: DecimalArgument?
    @Option(name: .customLong("density"), help: "Fraction kept by TIES/DARE (default 1).") var densityArgument: DecimalArgument?
    @Option(help: "Seed of DARE's mask (default 0).") var seed: UInt64?
    @OptionGroup var closed: ClosedFormOptions
    @Option(help: ArgumentHelp("Score a merged VLM written to disk (e.g. by `mergetune merge` of the family's files) instead of merging in memory; the last line is a JSON object with `score` and the sub-scores.", valueName: "DIR"))
    var checkpoint: String?

    /// The merge as a recipe: only the options given, checked against the method's parameters.
    var recipe: MergeRecipe {
        var p: [String: RecipeValue] = [:]
        if let v = vlWeightArgument { p[RecipeKey.vlWeight] = .number(v.value) }
        if let v = expWeightArgument { p[RecipeKey.expWeight] = .number(v.value) }
        if let v = densityArgument { p[RecipeKey.density] = .number(v.value) }
        if let seed { p[RecipeKey.seed] = .number(Double(seed)) }
        if let a = closed.attention { p[RecipeKey.attention] = .string(a) }
        if let d = closed.decay { p[RecipeKey.decay] = .number(d) }
        if method == .frank { p[RecipeKey.schedule] = .string(closed.schedule.rawValue) }
        if let g = closed.granularity { p[RecipeKey.granularity] = .string(g.rawValue) }
        return MergeRecipe(method: method, parameters: p)
    }

    func validate() throws {
        if method == .layerRange || method == .subspace { throw ValidationError("testbed eval does not take \(method.rawValue)") }
        do { try recipe.check() } catch let e as RecipeError { throw ValidationError(Merge.optionMessage(e, method: method)) }
    }

    func run() throws {
        let evaluator = try TestbedEvaluator(directory: try options.directory(), scenario: scenario, split: options.split,
                                             metric: options.metric, objective: options.objective, bootstrapSeed: options.bootstrapSeed)
        if let checkpoint {
            let start = Date()
            let s = try evaluator.evaluate(checkpoint: checkpoint)
            print("\(scenario.rawValue) scenario, checkpoint \(checkpoint), \(options.split.rawValue) split, objective \(options.objective.rawValue) (\(options.metric.rawValue))")
            print(formatScore(s, scenario))
            print(String(format: "(%.3f s)", Date().timeIntervalSince(start)))
            // The last line, for a study's `score = "stdout"`: the same names as the testbed objective's extras.
            var line: [String: Double] = ["score": s.value, "target": s.target, "perception": s.perception, "skill": s.skill,
                                          "target_exact": s.targetExact, "perception_exact": s.perceptionExact, "skill_exact": s.skillExact]
            if let kl = s.perceptionKL { line["neg_kl"] = -kl }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(line), as: UTF8.self))
            return
        }
        let spec: MergeSpec
        do { spec = try recipe.spec() } catch let e as RecipeError { throw ValidationFailure(message: Merge.optionMessage(e, method: method)) }
        let start = Date()
        let score = try evaluator.evaluate(spec: spec)
        if method.isClosedForm {
            print("coefficients: \(coefficientsJSON(try evaluator.coefficients(for: spec)))")
        }
        print("\(scenario.rawValue) scenario, \(method.rawValue), \(options.split.rawValue) split, objective \(options.objective.rawValue) (\(options.metric.rawValue))")
        print(formatScore(score, scenario))
        print(String(format: "(%.3f s)", Date().timeIntervalSince(start)))
    }
}

struct TestbedProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe", abstract: "Measure the VLM's visual-attention share per layer (FRANK's prior) and write the attention CSV.")

    @Option(help: ArgumentHelp("The testbed directory (see `testbed eval --help`).")) var testbed: String?
    @Option(help: "Split of the `see` task whose images are probed.") var split: Split = .validation
    @Option(name: [.short, .customLong("output")], help: "Attention CSV to write (read by `mergetune weights --attention`).")
    var output: String

    func run() throws {
        let dir = try TestbedFamily.locate(testbed)
        let family = try TestbedFamily.shared(directory: dir)
        let data = try TaskData.load(task: Scenario.perceptionTask, directory: dir)
        let shares = try AttentionProbe.shares(model: try family.parent("vlm"), examples: data.examples(split))
        let decay = try ClosedForm.fitDecay(shares: shares)
        let csv = AttentionProbe.csv(shares: shares, provenance: [
            "visual-attention share per decoder layer of the testbed VLM (mergetune testbed probe)",
            "mean over heads, over the text positions after the image tokens up to the answer, over the \(data.examples(split).count) \(split.rawValue) images of `see`",
            "fitted decay α̂ = \(String(format: "%.6f", decay)) (ln a_l ≈ b0 − α̂·l)",
        ])
        try csv.write(toFile: output, atomically: true, encoding: .utf8)
        for (i, s) in shares.enumerated() { print("layer \(i + 1): \(String(format: "%.6f", s))") }
        print("fitted decay α̂ = \(String(format: "%.6f", decay)); wrote \(output)")
    }
}

struct TestbedGridCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grid", abstract: "Measure the paper's grid of a method on the testbed and write a landscape CSV.")

    @OptionGroup var options: TestbedOptions
    @Option(help: "language or reasoning.") var scenario: Scenario
    @Option(help: "task_arithmetic, ties or dare_ties.") var method: MergeMethod = .taskArithmetic
    @Option(help: "Range of λ_V as LO:HI (5 levels).") var vlRange: String = "0:2"
    @Option(help: "Range of λ_R as LO:HI (5 levels).") var expRange: String = "0:2"
    @Option(help: "Seed of DARE's masks.") var seed: UInt64 = 0
    @Option(name: [.short, .customLong("output")], help: "CSV to write (default Surrogates/testbed-<scenario>-<method>[-<objective>].csv).")
    var output: String?

    func validate() throws {
        guard [.taskArithmetic, .ties, .dareTies, .dareLinear].contains(method) else {
            throw ValidationError("grid measures task_arithmetic, ties, dare_ties or dare_linear")
        }
        _ = try parseRange(vlRange)
        _ = try parseRange(expRange)
    }

    func parseRange(_ s: String) throws -> ClosedRange<Double> {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        let p = parts.compactMap { DecimalNumber.parse($0) }
        guard parts.count == 2, p.count == 2, p[0] < p[1] else {
            throw ValidationError("range must read LO:HI with decimal numbers and LO < HI, got '\(s)'")
        }
        return p[0]...p[1]
    }

    func run() throws {
        let dir = try options.directory()
        let evaluator = try TestbedEvaluator(directory: dir, scenario: scenario, split: options.split,
                                             metric: options.metric, objective: options.objective, bootstrapSeed: options.bootstrapSeed)
        let grid = TestbedGrid.paper(method: method, vlRange: try parseRange(vlRange), expRange: try parseRange(expRange))
        let start = Date()
        var rows: [([Double], TestbedScore)] = []
        for p in grid.points {
            let s = try evaluator.evaluate(spec: grid.spec(p, seed: seed))
            rows.append((p, s))
            print((p.map { String(format: "%.3g", $0) } + [String(format: "%.4f", s.value)]).joined(separator: ","))
        }
        let gridSeconds = Date().timeIntervalSince(start)

        // Reference points on the same split: closed forms (with the prior measured by the probe) and the parents.
        let family = evaluator.family
        let probeExamples = try TaskData.load(task: Scenario.perceptionTask, directory: dir).examples(options.split)
        let shares = try AttentionProbe.shares(model: try family.parent("vlm"), examples: probeExamples)
        var refs: [GridReference] = []
        func closed(_ name: String, _ spec: MergeSpec) throws {
            let c = try evaluator.coefficients(for: spec)
            refs.append(GridReference(name: name, params: nil, score: try evaluator.evaluate(spec: spec), note: coefficientsJSON(c)))
        }
        try closed("frank", MergeSpec(method: .frank))
        try closed("frank_prior_paper", MergeSpec(method: .frank, prior: .attention(shares), schedule: .paper))
        // Refused when the measured decay is not positive (w_V would leave (0, 1); docs/fusion.md).
        do { try closed("frank_prior_max", MergeSpec(method: .frank, prior: .attention(shares), schedule: .maxNormalized)) } catch {
            FileHandle.standardError.write(Data("note: no frank_prior_max reference: \(error)\n".utf8))
        }
        try closed("metagpt", MergeSpec(method: .metagpt))
        try closed("nan", MergeSpec(method: .nan))
        let twoD = grid.densityLevels == nil
        refs.append(GridReference(name: "vlm", params: twoD ? [1, 0] : nil, score: try evaluator.evaluate(decoder: family.vlm),
                                  note: "the unmerged VLM (task arithmetic at vl_weight=1, exp_weight=0)"))
        refs.append(GridReference(name: "expert", params: twoD ? [0, 1] : nil,
                                  score: try evaluator.evaluate(spec: MergeSpec(method: .taskArithmetic, vlWeight: 0, expWeight: 1)),
                                  note: "the expert's language model in the VLM (task arithmetic at vl_weight=0, exp_weight=1; <img> row, vision tower and projector from the VLM)"))

        let best = rows.max { $0.1.value < $1.1.value }!
        let halfWidths = rows.map { ($0.1.valueInterval.high - $0.1.valueInterval.low) / 2 }.sorted()
        let hashes = try family.modelHashes().map { "\($0.name)=\($0.sha256)" }.joined(separator: " ")
        let objectiveText = options.objective == .target
            ? "target = cross-modal emergence: \(scenario.targetTask) (image in, expert skill out)"
            : "retention = mean of perception (see) and the expert's skill (\(scenario.skillTask))"
        let iso = ISO8601DateFormatter().string(from: Date())
        let provenance = [
            "mergetune testbed grid: \(scenario.rawValue) scenario, \(method.rawValue), measured in memory \(iso)",
            "family: \(family.directory.path) (Testbed/, models trained by Testbed/train.py seed 0), SHA-256 \(hashes)",
            "objective family: \(objectiveText); metric \(options.metric.rawValue); split \(options.split.rawValue) (\(evaluator.target.count) examples per task)",
            "grid: vl_weight \(grid.vlLevels.map(num2)), exp_weight \(grid.expLevels.map(num2))"
                + (grid.densityLevels.map { ", density \($0.map(num2))" } ?? "") + "; seed \(seed)"
                + "; ranges chosen so the optimum lies inside (" + interiorNote(grid: grid, best: best.0) + ")",
            "best grid point: " + zip(grid.parameterNames, best.0).map { "\($0)=\(num2($1))" }.joined(separator: " ")
                + String(format: " score=%.6f, 95%% CI [%.4f, %.4f]", best.1.value, best.1.valueInterval.low, best.1.valueInterval.high),
            String(format: "noise: median bootstrap 95%% half-width %.4f over the grid points (1000 resamples over examples, seed %llu)",
                   halfWidths[halfWidths.count / 2], options.bootstrapSeed),
            "attention prior (probe, `see` \(options.split.rawValue)): " + shares.map { String(format: "%.5f", $0) }.joined(separator: " ")
                + String(format: "; decay α̂ = %.5f", try ClosedForm.fitDecay(shares: shares)),
            String(format: "%d evaluations in %.1f s", rows.count, gridSeconds),
        ]
        let csv = landscapeCSV(grid: grid, rows: rows, references: refs, provenance: provenance)
        let path = output ?? "Surrogates/testbed-\(scenario.rawValue)-\(method.rawValue)"
            + (options.objective == .target ? "" : "-\(options.objective.rawValue)")
            + (options.metric == .meanLogprob ? "" : "-\(options.metric.rawValue)") + ".csv"
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        for r in refs { print(String(format: "reference %@: %.4f", r.name, r.score.value)) }
        print(provenance[4])
        print("wrote \(path)")
    }
}

private func num2(_ x: Double) -> String { String(format: "%g", x) }

/// Whether the best grid point is interior in each weight, written into the provenance.
private func interiorNote(grid: TestbedGrid, best: [Double]) -> String {
    var edges: [String] = []
    for (name, (levels, v)) in zip(["vl_weight", "exp_weight"], [(grid.vlLevels, best[0]), (grid.expLevels, best[1])]) {
        if v == levels.first! && levels.first! > 0 || v == levels.last! { edges.append(name) }
    }
    return edges.isEmpty ? "checked: the best point is interior in both weights (or at weight 0, a natural edge)"
        : "NOTE: the best point lies on the upper/lower edge of \(edges.joined(separator: " and "))"
}
