import ArgumentParser
import Foundation
import MergetuneNumerics
import Optimizers
import Surrogate

/// `mergetune-bench sample-efficiency`: GP-BO on the RBF surrogates of the sample-efficiency
/// suite (Benchmarks/sample_efficiency_suite.py), one CSV row per run in the format of
/// Benchmarks/sample_efficiency.py's baselines, which runs the Python optimizers on the same
/// surrogates, seeds and budgets and writes the table (Benchmarks/sample-efficiency.md).
struct SampleEfficiencyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-efficiency",
        abstract: "GP-BO's final regret and time per ask on the sample-efficiency suite's surrogates.")

    @Option(help: "Folder of landscape CSVs (python3 Benchmarks/sample_efficiency.py suite DIR).") var suite: String
    @Option(help: "Seeds: first-last.") var seeds = "1-10"
    @Option(help: "Optimizer kind.") var kind = "gp"
    @Option(help: "Optimizer options, comma-separated key=value (numbers or strings), e.g. polish_starts=8.") var options = ""
    @Option(help: "Label of the runs in the CSV.") var label = "mergetune-gp"
    @Option(help: "Only these landscapes (comma-separated names; default all).") var landscapes = ""
    @Option(help: "CSV of every run to write.") var csv: String
    @Option(help: "CSV of every evaluation to write (landscape, seed, trial, unit point, score), for diagnosis.") var trace: String?

    func run() throws {
        try BLAS.pinThreads()
        let parts = seeds.split(separator: "-").compactMap { Int($0) }
        guard let first = parts.first, let last = parts.last, first <= last else { throw ValidationError("--seeds: expected first-last") }
        var opts: [String: OptionValue] = [:]
        for item in options.split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2 else { throw ValidationError("--options: expected key=value, got \(item)") }
            opts[kv[0]] = kv[1] == "true" ? .bool(true) : kv[1] == "false" ? .bool(false) : Double(kv[1]).map { .number($0) } ?? .string(kv[1])
        }
        let config = OptimizerConfig(kind: kind, options: opts)
        let only = Set(landscapes.split(separator: ",").map { "\($0).csv" })
        let files = try FileManager.default.contentsOfDirectory(atPath: suite)
            .filter { $0.hasSuffix(".csv") && (only.isEmpty || only.contains($0)) }.sorted()
        guard !files.isEmpty else { throw ValidationError("--suite \(suite): no .csv files") }
        var lines = ["landscape,optimizer,seed,budget,best,median_ask_ms,surrogate_min,surrogate_max"]
        var traced = ["landscape,seed,trial,unit_point,score,gp_theta"]
        for file in files {
            let l = try Landscape.load(URL(fileURLWithPath: suite).appendingPathComponent(file))
            let space = try SearchSpace(zip(l.parameterNames, l.bounds).map { Parameter(name: $0, lower: $1.lowerBound, upper: $1.upperBound) })
            let rbf = try RBFInterpolator(points: l.points, values: l.scores, kernel: .thinPlateSpline)
            let e = try findExtrema(bounds: l.bounds) { rbf($0) }
            let d = space.dimension, budget = d == 2 ? 40 : 60
            let name = String(file.dropLast(4))
            var design = 2 * d + 1
            if case .number(let x)? = opts["initial_points"] { design = Int(x) }
            var regrets: [Double] = []
            for seed in first...last {
                let opt = try OptimizerFactory.make(config, dimension: d, budget: budget, seed: UInt64(seed))
                var best = -Double.infinity
                var asks: [Double] = []
                for i in 0..<budget {
                    // Thread CPU time, as the Python side measures process CPU time (single-threaded
                    // BLAS): wall time on the shared machine measures its load.
                    let t0 = cpuMilliseconds()
                    let u = try opt.ask()
                    let ms = cpuMilliseconds() - t0
                    // GP-BO's θ of this ask (log length scales, log signal variance, log excess noise).
                    let theta = trace == nil ? "" : (opt as? GPBO)?.lastTheta.map { $0.map { String(format: "%.3f", $0) }.joined(separator: " ") } ?? ""
                    // The model's asks: after GP-BO's design (initial_points, default 2d + 1).
                    if i >= design { asks.append(ms) }
                    let v = rbf(space.fromUnit(u.map { min(1, max(0, $0)) }))
                    try opt.tell(i, v)
                    if trace != nil {
                        traced.append("\(name),\(seed),\(i),\(u.map { "\($0)" }.joined(separator: " ")),\(v),\(theta)")
                    }
                    best = max(best, v)
                }
                let hi = max(e.maximum, best)
                regrets.append((hi - best) / (hi - e.minimum))
                lines.append("\(name),\(label),\(seed),\(budget),\(best),\(String(format: "%.3f", median(asks))),\(e.minimum),\(e.maximum)")
            }
            print(String(format: "%@: mean final regret %.4f over %d seeds", name, regrets.reduce(0, +) / Double(regrets.count), regrets.count))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        print("wrote \(csv)")
        if let trace { try (traced.joined(separator: "\n") + "\n").write(toFile: trace, atomically: true, encoding: .utf8) }
    }

    private func cpuMilliseconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
    }

    private func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }
}
