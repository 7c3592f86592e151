import ArgumentParser
import Foundation
import Fusion
import Testbed

/// Merged-model evaluations per second on the testbed, in memory: each run merges the VLM's
/// language model (task arithmetic at a new point, or TIES/DARE) and scores the validation
/// split. Two workloads: the full evaluation (target + perception + skill, 300 examples) and
/// the target task alone (100 examples, what PyTorch's `family.score` is timed on).
struct TestbedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testbed",
        abstract: "Time in-memory merge + evaluation of the testbed family (validation split)."
    )

    @Option(help: "Evaluations timed per configuration.") var runs: Int = 100
    @Option(help: "The testbed directory (default: found like `mergetune testbed`).") var testbed: String?

    func run() throws {
        let dir = try TestbedFamily.locate(testbed)
        var start = Date()
        let family = try TestbedFamily.shared(directory: dir)
        print(String(format: "family load (4 checkpoints, f16 → Float, pairing): %.1f ms", Date().timeIntervalSince(start) * 1e3))
        print("scenario,method,workload,runs,seconds,evals_per_s,ms_per_eval,merge_ms,score_ms")
        for scenario in Scenario.allCases {
            let ev = try TestbedEvaluator(directory: dir, scenario: scenario)
            for method in [MergeMethod.taskArithmetic, .ties, .dareTies] {
                let density: Double = method == .taskArithmetic ? 1 : 0.5
                var specs: [MergeSpec] = []
                for i in 0..<runs {
                    let vl = Double(i % 5) / 2, exp = Double((i / 5) % 5) / 2
                    specs.append(MergeSpec(method: method, vlWeight: vl, expWeight: exp, density: density, seed: UInt64(i)))
                }
                _ = try ev.evaluate(spec: specs[0])  // warm-up
                // Full evaluation (what TestbedEvaluator.evaluate does per trial).
                start = Date()
                var sink = 0.0
                for s in specs { sink += try ev.evaluate(spec: s).value }
                let full = Date().timeIntervalSince(start)
                // Split into merge and target-only scoring.
                var mergeT = 0.0, scoreT = 0.0
                for s in specs {
                    let t0 = Date()
                    let d = try family.mergedDecoder(scenario: scenario, spec: s, coefficients: try ev.coefficients(for: s))
                    let t1 = Date()
                    sink += try family.vlmModel(decoder: d).score(ev.target).meanLogprob
                    scoreT += Date().timeIntervalSince(t1)
                    mergeT += t1.timeIntervalSince(t0)
                }
                precondition(sink.isFinite)
                let n = Double(runs)
                print("\(scenario.rawValue),\(method.rawValue),full(300 ex),\(runs),\(String(format: "%.3f", full)),"
                      + "\(String(format: "%.1f", n / full)),\(String(format: "%.2f", full / n * 1e3)),,")
                print("\(scenario.rawValue),\(method.rawValue),target(100 ex),\(runs),\(String(format: "%.3f", mergeT + scoreT)),"
                      + "\(String(format: "%.1f", n / (mergeT + scoreT))),\(String(format: "%.2f", (mergeT + scoreT) / n * 1e3)),"
                      + "\(String(format: "%.2f", mergeT / n * 1e3)),\(String(format: "%.2f", scoreT / n * 1e3))")
            }
        }
    }
}
