import ArgumentParser
import Foundation
import Fusion
import Optimizers
import StudyEngine
import Testbed

/// Search spaces beyond the paper's (issue 11), measured: on the live testbed (language
/// scenario, task arithmetic, target mean log-prob on the validation split), the global
/// (λ_V, λ_R) space against frank_scaled and per_layer (knots and one pair per layer), every
/// optimizer, several seeds, each run with the default budget rule (20 per parameter) and its
/// best-so-far curve read at equal evaluation counts; and the optimizers at 8–20 dimensions on
/// analytic functions with known minima (Levy, Ackley, Rosenbrock). Results: docs/results.md.
struct SpacesBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spaces",
        abstract: "Search spaces (global, frank_scaled, per_layer) on the live testbed, and optimizers at 8–20-D."
    )

    @Option(help: "Seeds per (space, optimizer).") var seeds: Int = 5
    @Option(help: "Optimizers (comma-separated).") var optimizers: String = "random,sobol,gp,cmaes"
    @Option(help: "Testbed spaces: global, frank_scaled, frank_wide, frank_decay, per_layer_k2, per_layer, layer_range, subspace (comma-separated; empty: none).")
    var spaces: String = "global,frank_scaled,frank_wide,per_layer_k2,per_layer"
    @Option(help: "Evaluations per parameter (the default budget rule is 20).") var perParameter: Int = 20
    @Option(help: "Analytic functions (rosenbrock, ackley, levy; comma-separated; empty: none).") var functions: String = "levy,ackley,rosenbrock"
    @Option(help: "Dimensions of the analytic functions.") var dimensions: String = "8,16,20"
    @Option(help: "Optimizers on the analytic functions.") var analyticOptimizers: String = "random,sobol,gp,cmaes,pattern,powell"
    @Option(help: "Seeds on the analytic functions (GP-BO at 16–20-D is the slow part).") var analyticSeeds: Int = 5
    @Option(help: "CSV of every testbed evaluation.") var output: String = "Benchmarks/results/spaces-testbed.csv"
    @Option(help: "CSV of every analytic run's best-so-far curve.") var analyticOutput: String = "Benchmarks/results/spaces-analytic.csv"
    @Option(help: "The testbed directory (default: found like `mergetune testbed`).") var testbed: String?
    @Flag(help: "Also score each run's final best point (chosen on validation) on the test split.") var testSplit = false
    @Option(help: "CSV of each run's final best point, its validation and (--test-split) test score.")
    var bestOutput: String = "Benchmarks/results/spaces-testbed-best.csv"

    // The weights' box is the earlier live study's (docs/results.md: λ_V 0…4, λ_R 0…2; the
    // live optimum is near (2.33, 1.10)); frank_scaled at its default scales [0, 3], and wide
    // (FRANK's λ_V^(l) is 0.02–0.14 on the testbed, so s_V must reach ~20 for λ_V ≈ 2 anywhere).
    static let weightBox = "bounds = { vl_weight = [0, 4], exp_weight = [0, 2] }"
    static let spaceTables: [String: String] = [
        "global": weightBox,
        "frank_scaled": "space = \"frank_scaled\"",
        "frank_wide": "space = \"frank_scaled\"\nbounds = { vl_scale = [0, 20], exp_scale = [0, 3] }",
        "frank_decay": "space = \"frank_scaled\"\nsearch_decay = true\nbounds = { vl_scale = [0, 20], exp_scale = [0, 3] }",
        "per_layer_k2": "space = \"per_layer\"\nknots = 2\n" + weightBox,
        "per_layer": "space = \"per_layer\"\n" + weightBox,
        "layer_range": "space = \"layer_range\"",
        // FRISM's gates on ranks 1–2, 3–8, 9–24 and the residual, λ_R searched (5-D).
        "subspace": "space = \"subspace\"\nbands = [2, 8, 24]",
    ]

    func list(_ s: String) -> [String] { s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func run() throws {
        let checkpoints = [10, 20, 40, 80, 160, 320, 400]
        if !list(spaces).isEmpty { try testbedPart(checkpoints) }
        if !list(functions).isEmpty { try analyticPart(checkpoints) }
    }

    func meanSD(_ xs: [Double]) -> (Double, Double) {
        let m = xs.reduce(0, +) / Double(xs.count)
        let v = xs.count > 1 ? xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1) : 0
        return (m, v.squareRoot())
    }

    func testbedPart(_ checkpoints: [Int]) throws {
        let dir = try TestbedFamily.locate(testbed)
        let evaluator = try TestbedEvaluator(directory: dir, scenario: .language)
        let family = evaluator.family
        // The same target task on the test split: scores the point validation chose, never guides the search.
        let testEvaluator = testSplit ? try TestbedEvaluator(directory: dir, scenario: .language, split: .test) : nil
        var csv = "space,dimension,optimizer,seed,evaluation,value,best,ask_ms\n"
        var bestCSV = "space,dimension,optimizer,seed,validation,test,point\n"
        var finals: [String: [String: [(validation: Double, test: Double?)]]] = [:]
        // best-so-far curves by (space, optimizer), one per seed
        var curves: [String: [String: [[Double]]]] = [:]
        var dims: [String: Int] = [:]
        var references: [String: Double] = [:]
        for name in list(spaces) {
            guard let table = Self.spaceTables[name] else { throw ValidationError("unknown space '\(name)'") }
            let toml = """
                name = "spaces-bench"
                [[optimizers]]
                kind = "random"
                [[objectives]]
                kind = "testbed"
                scenario = "language"
                directory = "\(dir.path)"
                \(table)
                """
            let spec = try StudySpec.parse(toml, file: "spaces-bench.toml", baseDirectory: dir)
            guard let objective = try ObjectiveFactory.make(spec.objectives[0], file: "spaces-bench.toml", key: "objectives[0]") as? TestbedObjective else {
                throw ValidationError("not a testbed objective")
            }
            for r in objective.builtInReferences { if let s = r.score { references[r.name] = s } }
            let space = objective.space
            let d = space.dimension
            dims[name] = d
            let budget = perParameter * d
            // The target task alone (the objective's value; perception and skill are not needed
            // here): checked against the objective's full evaluation at the box centre.
            func value(_ x: [Double], on examples: [TaskExample]? = nil) throws -> Double {
                let recipe = try MergeSpaces.recipe(fixed: objective.recipe, point: Dictionary(uniqueKeysWithValues: zip(space.names, x)),
                                                    space: objective.mergeSpace)
                let s = try recipe.spec()
                let decoder = try family.mergedDecoder(scenario: .language, spec: s, coefficients: try evaluator.coefficients(for: s))
                return try family.vlmModel(decoder: decoder).score(examples ?? evaluator.target).meanLogprob
            }
            let centre = space.fromUnit(Array(repeating: 0.5, count: d))
            let full = try objective.evaluate(centre), fast = try value(centre)
            guard full.bitPattern == fast.bitPattern else { throw ValidationError("\(name): target-only score \(fast) ≠ objective \(full)") }
            if let te = testEvaluator {  // the test score too, against the evaluator's own (split = test)
                let recipe = try MergeSpaces.recipe(fixed: objective.recipe, point: Dictionary(uniqueKeysWithValues: zip(space.names, centre)),
                                                    space: objective.mergeSpace)
                let reference = try te.evaluate(spec: try recipe.spec()).targetLogprob, mine = try value(centre, on: te.target)
                guard reference.bitPattern == mine.bitPattern else { throw ValidationError("\(name): test target-only score \(mine) ≠ evaluator \(reference)") }
            }
            FileHandle.standardError.write(Data("\(name): \(d)-D (\(space.names.joined(separator: ", "))), budget \(budget)\n".utf8))
            for opt in list(optimizers) {
                for seed in 0..<seeds {
                    let o = try OptimizerFactory.make(OptimizerConfig(kind: opt, options: [:]), dimension: d, budget: budget, seed: UInt64(seed))
                    var best = -Double.infinity, curve: [Double] = [], bestPoint: [Double] = []
                    for i in 0..<budget {
                        let t0 = Date()
                        let u = try o.ask()
                        let askMs = Date().timeIntervalSince(t0) * 1e3
                        let v = try value(space.fromUnit(u))
                        try o.tell(i, v)
                        if v > best { bestPoint = space.fromUnit(u) }  // the first of equal bests, as a study reports it
                        best = max(best, v)
                        curve.append(best)
                        csv += "\(name),\(d),\(opt),\(seed),\(i + 1),\(v),\(best),\(String(format: "%.2f", askMs))\n"
                    }
                    curves[name, default: [:]][opt, default: []].append(curve)
                    let test = try testEvaluator.map { try value(bestPoint, on: $0.target) }
                    finals[name, default: [:]][opt, default: []].append((best, test))
                    bestCSV += "\(name),\(d),\(opt),\(seed),\(best),\(test.map { "\($0)" } ?? ""),\"\(bestPoint.map { "\($0)" }.joined(separator: " "))\"\n"
                    FileHandle.standardError.write(Data("  \(opt) seed \(seed): best \(best)\(test.map { ", test \($0)" } ?? "")\n".utf8))
                }
            }
        }
        try csv.write(toFile: output, atomically: true, encoding: .utf8)
        try bestCSV.write(toFile: bestOutput, atomically: true, encoding: .utf8)
        let bestAny = curves.values.flatMap { $0.values.flatMap { $0.map { $0.last! } } }.max()!
        print("## Testbed (language, task_arithmetic, validation target mean log-prob), \(seeds) seeds, budget \(perParameter)·d")
        print("best value found by any run: \(bestAny); references: " + references.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        print("| space | d | optimizer | " + checkpoints.map { "best@\($0) (mean ± sd)" }.joined(separator: " | ") + " | regret@end |")
        print("|---|---|---|" + checkpoints.map { _ in "---|" }.joined() + "---|")
        for name in list(spaces) {
            for opt in list(optimizers) {
                guard let cs = curves[name]?[opt] else { continue }
                let cells = checkpoints.map { n -> String in
                    guard n <= cs[0].count else { return "" }
                    let (m, s) = meanSD(cs.map { $0[n - 1] })
                    return String(format: "%.4f ± %.4f", m, s)
                }
                let (rm, rs) = meanSD(cs.map { bestAny - $0.last! })
                print("| \(name) | \(dims[name]!) | \(opt) | " + cells.joined(separator: " | ") + String(format: " | %.4f ± %.4f |", rm, rs))
            }
        }
        guard testSplit else { return }
        print("\n## Each run's final best point (chosen on validation) on the test split: mean ± sd over \(seeds) seeds")
        print("| space | d | optimizer | validation | test | test − validation |")
        print("|---|---|---|---|---|---|")
        for name in list(spaces) {
            for opt in list(optimizers) {
                guard let fs = finals[name]?[opt] else { continue }
                let (vm, vs) = meanSD(fs.map(\.validation)), (tm, ts) = meanSD(fs.compactMap(\.test))
                let (gm, gs) = meanSD(fs.map { ($0.test ?? .nan) - $0.validation })
                print("| \(name) | \(dims[name]!) | \(opt) | " + String(format: "%.4f ± %.4f | %.4f ± %.4f | %.4f ± %.4f |", vm, vs, tm, ts, gm, gs))
            }
        }
    }

    func analyticPart(_ checkpoints: [Int]) throws {
        var csv = "function,dimension,optimizer,seed,evaluation,best,ask_ms_mean,ask_ms_last\n"
        print("## Analytic functions (f* = 0), \(analyticSeeds) seeds, budget \(perParameter)·d: f_best − f* (mean ± sd)")
        print("| function | optimizer | best@40 | best@80 | best@160 | best@end (budget) | ask ms (mean; last ask) |")
        print("|---|---|---|---|---|---|---|")
        for fname in list(functions) {
            for d in list(dimensions).compactMap({ Int($0) }) {
                guard let f = TestFunction.scalable("\(fname)_\(d)") else { throw ValidationError("unknown function \(fname)_\(d)") }
                let budget = perParameter * d
                for opt in list(analyticOptimizers) {
                    var finals: [[Double]] = []
                    var askMeans: [Double] = [], askLast: [Double] = []
                    for seed in 0..<analyticSeeds {
                        let o = try OptimizerFactory.make(OptimizerConfig(kind: opt, options: [:]), dimension: d, budget: budget, seed: UInt64(seed))
                        var best = Double.infinity, curve: [Double] = [], total = 0.0, last = 0.0
                        for i in 0..<budget {
                            let t0 = Date()
                            let u = try o.ask()
                            last = Date().timeIntervalSince(t0) * 1e3
                            total += last
                            let v = f(f.space.fromUnit(u))
                            try o.tell(i, -v)
                            best = min(best, v)
                            curve.append(best - f.knownMinimum)
                        }
                        finals.append(curve)
                        askMeans.append(total / Double(budget)); askLast.append(last)
                        csv += "\(f.name),\(d),\(opt),\(seed),\(budget),\(curve.last!),\(String(format: "%.3f", total / Double(budget))),\(String(format: "%.3f", last))\n"
                        FileHandle.standardError.write(Data("\(f.name) \(opt) seed \(seed): \(curve.last!) (ask mean \(String(format: "%.2f", total / Double(budget))) ms)\n".utf8))
                    }
                    func at(_ n: Int) -> String {
                        guard n <= budget else { return "" }
                        let (m, s) = meanSD(finals.map { $0[n - 1] })
                        return String(format: "%.3g ± %.2g", m, s)
                    }
                    let (am, _) = meanSD(askMeans), (al, _) = meanSD(askLast)
                    print("| \(f.name) | \(opt) | \(at(40)) | \(at(80)) | \(at(160)) | \(at(budget)) (\(budget)) | " + String(format: "%.1f; %.1f |", am, al))
                }
            }
        }
        try csv.write(toFile: analyticOutput, atomically: true, encoding: .utf8)
    }
}
