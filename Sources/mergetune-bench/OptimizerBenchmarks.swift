import ArgumentParser
import Foundation
import Optimizers

/// `mergetune-bench optimizers`: every optimizer on Branin, six-hump camel (2-D, N = 40) and
/// Hartmann-3 (3-D, N = 60), 10 seeds, median final normalized regret; the multi-start local
/// searches also at several local budgets.
struct OptimizersBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimizers",
        abstract: "Median final normalized regret of every optimizer on the analytic test functions.")

    @Option(help: "Number of seeds (1...n).") var seeds = 10
    @Option(help: "Markdown table to write.") var output = "Benchmarks/optimizers-test-functions.md"
    @Option(help: "CSV of every run to write.") var csv = "Benchmarks/optimizers-test-functions.csv"

    static func budget(_ f: TestFunction) -> Int { f.space.dimension == 2 ? 40 : 60 }

    /// The configurations measured: defaults first, then the local-budget settings.
    static var configurations: [(label: String, config: OptimizerConfig)] {
        var list: [(String, OptimizerConfig)] = OptimizerFactory.kinds.map { ($0, OptimizerConfig(kind: $0)) }
        for kind in ["cmaes", "pattern", "powell"] {
            for (label, value) in [("N/2", OptionValue.number(0.5)), ("N/4", .number(0.25)), ("N/8", .number(0.125)), ("none", .string("none"))] {
                list.append(("\(kind) local_budget=\(label)", OptimizerConfig(kind: kind, options: ["local_budget": value])))
            }
        }
        // The libraries' default stopping rules (pycma tolx 1e-11; scipy Powell xtol = ftol = 1e-4;
        // MATLAB patternsearch mesh tolerance 1e-6), restarting only on convergence.
        list.append(("cmaes tolx=1e-11, none", OptimizerConfig(kind: "cmaes", options: ["local_budget": .string("none"), "tolx": .number(1e-11)])))
        list.append(("pattern step_tolerance=1e-6, none", OptimizerConfig(kind: "pattern", options: ["local_budget": .string("none"), "step_tolerance": .number(1e-6)])))
        list.append(("powell line_tolerance=1e-4 ftol=1e-4, none", OptimizerConfig(kind: "powell", options: ["local_budget": .string("none"), "line_tolerance": .number(1e-4)])))
        return list
    }

    func run() throws {
        let functions = TestFunction.all
        let ranges = functions.map { TestFunctionRun.range(of: $0) }
        var rows: [[String]] = []
        var csvLines = ["function,optimizer,seed,budget,final_regret,best_value,seconds"]
        var medians: [String: [String: Double]] = [:]
        var runsRows: [[String]] = []
        for (label, config) in Self.configurations {
            var cells = [label]
            var runCells = [label]
            for (f, range) in zip(functions, ranges) {
                var localRuns: [Double] = []
                let n = Self.budget(f)
                var regrets: [Double] = []
                for seed in 1...seeds {
                    let start = Date()
                    let r = try TestFunctionRun.run(f, config: config, budget: n, seed: UInt64(seed), range: range)
                    let secs = Date().timeIntervalSince(start)
                    regrets.append(r.regret)
                    if let k = r.localRuns { localRuns.append(Double(k)) }
                    csvLines.append("\(f.name),\"\(label)\",\(seed),\(n),\(r.regret),\(r.bestValue),\(String(format: "%.4f", secs))")
                }
                let med = median(regrets)
                medians[label, default: [:]][f.name] = med
                let wins = regrets.filter { $0 <= 1e-2 }.count
                cells.append(String(format: "%.2e (%d/%d)", med, wins, seeds))
                if !localRuns.isEmpty { runCells.append(String(format: "%.1f", localRuns.reduce(0, +) / Double(localRuns.count))) }
            }
            rows.append(cells)
            if runCells.count > 1 { runsRows.append(runCells) }
            print(cells.joined(separator: " | "))
        }
        // Regret over random (median regret / random's median regret).
        var ror: [[String]] = []
        for (label, _) in Self.configurations {
            ror.append([label] + functions.map { f in
                let r = medians["random"]![f.name]!
                return String(format: "%.3f", r > 0 ? medians[label]![f.name]! / r : .nan)
            })
        }
        let header = "| optimizer | " + functions.map { "\($0.name) (N=\(Self.budget($0)))" }.joined(separator: " | ") + " |"
        let sep = "|" + String(repeating: "---|", count: functions.count + 1)
        var md = """
        # Optimizers on analytic test functions

        Command: `swift run -c release mergetune-bench optimizers` (seeds 1...\(seeds)).
        Normalized regret r = (f(x_best) − f_min)/(f_max − f_min), f_min the published minimum,
        f_max the maximum over a dense grid of the box (401² in 2-D, 81³ in 3-D). Each cell: median
        final regret over the seeds, and (in parentheses) how many seeds ended within 1e-2.
        Defaults of `local_budget`: \(["cmaes", "pattern", "powell"].map { "\($0) \(OptimizerFactory.defaultLocalBudget[$0]!)" }.joined(separator: ", ")).

        ## Median final normalized regret

        \(header)
        \(sep)

        """
        for r in rows { md += "| " + r.joined(separator: " | ") + " |\n" }
        md += "\n## Regret over random (median regret ÷ random's median regret)\n\n\(header)\n\(sep)\n"
        for r in ror { md += "| " + r.joined(separator: " | ") + " |\n" }
        md += "\n## Local runs per run (mean over seeds; 1 = never restarted)\n\n\(header)\n\(sep)\n"
        for r in runsRows { md += "| " + r.joined(separator: " | ") + " |\n" }
        try FileManager.default.createDirectory(atPath: (output as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try md.write(toFile: output, atomically: true, encoding: .utf8)
        try (csvLines.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        print("wrote \(output) and \(csv)")
    }
}

/// `mergetune-bench gp-ask`: latency of GP-BO's ask with 60 observations in 3-D.
struct GPAskBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gp-ask",
        abstract: "GP-BO ask latency at 60 observations in 3-D (Hartmann-3 histories).")

    @Option(help: "Histories (GP-BO runs on Hartmann-3, seeds 1...n).") var histories = 10
    @Option(help: "Timed asks per history.") var repeats = 5
    @Option(help: "Observations before the timed ask.") var observations = 60
    @Option(help: "Markdown file to write (empty: none).") var output = "Benchmarks/gp-ask.md"

    func run() throws {
        let f = TestFunction.hartmann3
        var times: [Double] = []
        var coldTimes: [Double] = []
        var cpuTimes: [Double] = []
        for h in 1...histories {
            // A real trajectory: GP-BO's own first `observations` trials on Hartmann-3.
            let seed = UInt64(h)
            let config = OptimizerConfig(kind: "gp")
            let opt = try OptimizerFactory.make(config, dimension: 3, budget: observations + 1, seed: seed)
            var trials: [([Double], Double)] = []
            for i in 0..<observations {
                let x = try opt.ask(); let v = -f(f.space.fromUnit(x))
                try opt.tell(i, v); trials.append((x, v))
            }
            for r in 0..<repeats {
                // Steady state: a fresh optimizer told n − 1 trials and asked once (its warm start
                // for the next fit), then told the n-th trial; the next ask is timed.
                let fresh = try OptimizerFactory.make(config, dimension: 3, budget: observations + 1, seed: seed &+ UInt64(1000 * r))
                for (i, t) in trials.dropLast().enumerated() { try fresh.adopt(t.0); try fresh.tell(i, t.1) }
                // The ask after n − 1 replayed trials (cold: fits every prefix); that trial is told
                // the n-th recorded score (its point is the optimizer's own: fine for timing).
                let c0 = DispatchTime.now().uptimeNanoseconds
                _ = try fresh.ask()
                coldTimes.append(Double(DispatchTime.now().uptimeNanoseconds - c0) / 1e6)
                try fresh.tell(trials.count - 1, trials.last!.1)
                let c1 = threadCPUms()
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try timedAsk(fresh)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                cpuTimes.append(threadCPUms() - c1)
            }
        }
        let s = times.sorted()
        let med = median(s), p90 = s[min(s.count - 1, Int((0.9 * Double(s.count - 1)).rounded()))]
        let line = String(format: "GP-BO ask at %d observations, 3-D: median %.2f ms, p90 %.2f ms, min %.2f, max %.2f over %d asks (%d histories x %d)",
                          observations, med, p90, s.first!, s.last!, s.count, histories, repeats)
        let cs = cpuTimes.sorted()
        let cpuLine = String(format: "thread CPU time of the same asks: median %.2f ms, p90 %.2f ms", median(cs),
                             cs[min(cs.count - 1, Int((0.9 * Double(cs.count - 1)).rounded()))])
        var loadLine = ""
        if let load = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) {
            loadLine = "load average at the end: \(load.split(separator: " ").prefix(3).joined(separator: " ")) on \(ProcessInfo.processInfo.activeProcessorCount) cores"
        }
        print(line); print(cpuLine); if !loadLine.isEmpty { print(loadLine) }
        let cold = median(coldTimes)
        print(String(format: "(cold replay of a %d-trial history, fitting every prefix: median %.1f ms)", observations - 1, cold))
        if !output.isEmpty {
            let md = """
            # GP-BO ask latency

            Command: `swift run -c release mergetune-bench gp-ask` (defaults: \(histories) histories × \(repeats) timed asks).
            Each history is GP-BO's own \(observations)-trial run on Hartmann-3 (3-D), seed 1...\(histories).
            A timed ask is the steady-state ask of a run: the optimizer has already fitted the
            model at \(observations - 1) observations (its warm start), is told the \(observations)th, and
            asks; the time covers the hyperparameter fit (BFGS from the warm start; the fixed
            starts only if that fit fails), the Cholesky factorization, scoring the candidates
            and polishing. Single-threaded OpenBLAS (`OPENBLAS_NUM_THREADS=1`) was used for the
            recorded numbers; the machine's 2 cores were shared with other builds.

            \(line)
            \(cpuLine) (less sensitive to other processes on shared cores)
            \(loadLine)

            Target (docs/architecture.md, "Targets"): ≤ 10 ms median; issue 10: ≤ 5 ms median.
            Resuming from a ledger (a fresh optimizer told \(observations - 1) trials, first ask fits every
            prefix's model): median \(String(format: "%.1f", cold)) ms, once per resume.

            """
            try md.write(toFile: output, atomically: true, encoding: .utf8)
        }
    }
}

/// The timed ask, in a function of its own so that a profiler can collect it alone
/// (`valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*timedAsk*'`).
@inline(never) func timedAsk(_ optimizer: any Optimizer) throws -> [Double] { try optimizer.ask() }

/// CPU time of the calling thread, in milliseconds.
fileprivate func threadCPUms() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
}

fileprivate func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}
