import ArgumentParser
import Foundation
import MergetuneNumerics
import Optimizers
import Surrogate

/// `mergetune-bench batch-gp`: GP-BO with q pending slots (each liar strategy) against random
/// search at the same q, on the shipped landscapes' RBF surrogates, on a virtual clock; and the
/// multi-start searches' filler policy at q = 4 against q = 1.
struct BatchGPBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch-gp",
        abstract: "Batch GP-BO (pending points) vs sequential GP-BO and random search on the shipped landscapes.")

    @Option(help: "Number of seeds (1...n).") var seeds = 10
    @Option(help: "Pending slots q, comma-separated.") var slots = "1,2,4,8"
    @Option(help: "Relative jitter of the per-trial delay: U(1 - j, 1 + j).") var jitter = 0.5
    @Option(help: "Landscape CSVs (default: every Surrogates/*.csv).") var landscape: [String] = []
    @Option(help: "Parallel runs.") var jobs = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Markdown file to write (empty: none).") var output = "Benchmarks/batch-gp.md"
    @Option(help: "CSV of every run (empty: none).") var csv = "Benchmarks/batch-gp.csv"

    struct Surface: @unchecked Sendable {
        var name: String; var space: SearchSpace; var rbf: RBFInterpolator; var lo: Double; var hi: Double
        var budget: Int { space.dimension == 2 ? 40 : 60 }
    }

    struct Job: Sendable { var surface: Int; var label: String; var config: OptimizerConfig; var q: Int; var seed: Int }
    struct Outcome: Sendable { var atN: Double; var atTime: Double; var seconds: Double }

    func run() throws {
        try BLAS.pinThreads()
        let qs = slots.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !qs.isEmpty, qs.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--slots: expected q >= 1, comma-separated") }
        var files = landscape
        if files.isEmpty {
            files = try FileManager.default.contentsOfDirectory(atPath: "Surrogates").filter { $0.hasSuffix(".csv") }.sorted().map { "Surrogates/\($0)" }
        }
        var surfaces: [Surface] = []
        for f in files {
            let l = try Landscape.load(URL(fileURLWithPath: f))
            let space = try SearchSpace(zip(l.parameterNames, l.bounds).map { Parameter(name: $0, lower: $1.lowerBound, upper: $1.upperBound) })
            let rbf = try RBFInterpolator(points: l.points, values: l.scores, kernel: .thinPlateSpline)
            let e = try findExtrema(bounds: l.bounds) { rbf($0) }
            surfaces.append(Surface(name: (f as NSString).lastPathComponent.replacingOccurrences(of: ".csv", with: ""),
                                    space: space, rbf: rbf, lo: e.minimum, hi: e.maximum))
        }
        let strategies = PendingStrategy.allCases.map(\.rawValue)
        var jobs: [Job] = []
        for (s, _) in surfaces.enumerated() {
            for q in qs {
                for seed in 1...seeds {
                    // Sequential GP-BO never has a pending trial: one run stands for every strategy.
                    for st in (q == 1 ? [PendingStrategy.defaultStrategy.rawValue] : strategies) {
                        jobs.append(Job(surface: s, label: "gp \(q == 1 ? "sequential" : st)", config: OptimizerConfig(kind: "gp", options: ["pending": .string(st)]), q: q, seed: seed))
                    }
                    jobs.append(Job(surface: s, label: "random", config: OptimizerConfig(kind: "random"), q: q, seed: seed))
                    if q == 1 || q == 4 {
                        for kind in ["cmaes", "pattern", "powell"] {
                            jobs.append(Job(surface: s, label: kind, config: OptimizerConfig(kind: kind, options: ["fillers": .string("sobol")]), q: q, seed: seed))
                            if q == 4 {
                                jobs.append(Job(surface: s, label: "\(kind) fillers=local", config: OptimizerConfig(kind: kind, options: ["fillers": .string("local")]), q: q, seed: seed))
                            }
                        }
                    }
                }
            }
        }
        print("\(jobs.count) runs on \(surfaces.count) landscapes, \(self.jobs) in parallel")
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var outcomes: [Outcome?]
            var failure: Error?
            init(_ n: Int) { outcomes = Array(repeating: nil, count: n) }
        }
        let shared = Results(jobs.count)
        let started = Date()
        let list = jobs
        let box = surfaces
        let jit = jitter
        let workers = self.jobs
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var i = worker
            while i < list.count {
                let job = list[i]
                do {
                    let s = box[job.surface]
                    let t0 = Date()
                    let opt = try OptimizerFactory.make(job.config, dimension: s.space.dimension, budget: s.budget, seed: UInt64(job.seed))
                    let r = try AsyncRun.run(opt, budget: s.budget, slots: job.q, delay: 1, jitter: jit, seed: UInt64(job.seed)) { u in
                        s.rbf(s.space.fromUnit(u))
                    }
                    // Regret normalized by the surrogate's extrema, widened to what was seen (as the
                    // study engine's metrics do).
                    let best = r.completions.last!.best
                    let hi = max(s.hi, best), range = hi - s.lo
                    func regret(_ b: Double) -> Double { b.isFinite && range > 0 ? (hi - b) / range : 1 }
                    let horizon = Double(s.budget) / 4
                    let atTime = r.completions.last { $0.time <= horizon + 1e-9 }?.best ?? -.infinity
                    let o = Outcome(atN: regret(best), atTime: regret(atTime), seconds: Date().timeIntervalSince(t0))
                    shared.lock.lock(); shared.outcomes[i] = o; shared.lock.unlock()
                } catch {
                    shared.lock.lock(); shared.failure = shared.failure ?? error; shared.lock.unlock()
                }
                i += workers
            }
        }
        if let failure = shared.failure { throw failure }
        let elapsed = Date().timeIntervalSince(started)
        let results = shared.outcomes.map { $0! }

        func meanOf(_ label: String, _ q: Int, _ key: KeyPath<Outcome, Double>, surfaces only: Set<Int>? = nil) -> Double {
            let xs = zip(jobs, results).filter { $0.0.label == label && $0.0.q == q && (only?.contains($0.0.surface) ?? true) }.map { $0.1[keyPath: key] }
            return xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count)
        }
        let gpLabels = strategies.map { "gp \($0)" }
        func gpCell(_ st: String, _ q: Int, _ key: KeyPath<Outcome, Double>) -> Double {
            meanOf(q == 1 ? "gp sequential" : st, q, key)
        }
        let fmt = { (x: Double) in String(format: "%.4f", x) }
        var md = """
        # Batch GP-BO: pending points

        Command: `swift run -c release mergetune-bench batch-gp` (seeds 1...\(seeds), q ∈ {\(qs.map(String.init).joined(separator: ", "))}, jitter \(jitter)).
        Machine: \(ProcessInfo.processInfo.activeProcessorCount) cores (shared with other builds), \(BLAS.threads) BLAS thread(s), \(self.jobs) runs in parallel; \(jobs.count) runs in \(String(format: "%.0f", elapsed)) s.

        Landscapes: \(surfaces.map { "\($0.name) (\($0.space.dimension)-D, N = \($0.budget))" }.joined(separator: ", ")); each
        is the thin-plate RBF interpolant of the shipped CSV (Surrogate module), its extrema found by
        `findExtrema` (dense Sobol + Nelder–Mead). Regret = (max − best)/(max − min), max widened to
        the best score seen, as the study engine's metrics do. Budgets: the paper's, 40 trials for
        2 parameters, 60 for 3.

        Asynchronous slots on a virtual clock (`AsyncRun`): q trials run at once; a trial's result
        arrives delay·U(1 − \(jitter), 1 + \(jitter)) after it started (delay = 1), so results come back out of
        order; a free slot asks at once, whatever is pending. "At N" = mean final regret after all N
        evaluations; "at time N/4" = mean regret of the best result that arrived by virtual time N/4
        (what q = 4 needs for N trials; q = 1 has then seen about N/4). Each cell is the mean over
        \(surfaces.count) landscapes × \(seeds) seeds.

        ## Mean regret at N evaluations

        | q | \(gpLabels.joined(separator: " | ")) | random |
        |---|\(String(repeating: "---|", count: gpLabels.count + 1))

        """
        for q in qs {
            md += "| \(q) | " + gpLabels.map { fmt(gpCell($0, q, \.atN)) }.joined(separator: " | ") + " | \(fmt(meanOf("random", q, \.atN))) |\n"
        }
        md += "\n## Mean regret at equal wall time (virtual time N/4)\n\n| q | \(gpLabels.joined(separator: " | ")) | random |\n|---|\(String(repeating: "---|", count: gpLabels.count + 1))\n"
        for q in qs {
            md += "| \(q) | " + gpLabels.map { fmt(gpCell($0, q, \.atTime)) }.joined(separator: " | ") + " | \(fmt(meanOf("random", q, \.atTime))) |\n"
        }
        md += "\n## Ratio to sequential GP-BO at N evaluations (target at q = 4: ≤ 1.5)\n\n| q | \(gpLabels.joined(separator: " | ")) |\n|---|\(String(repeating: "---|", count: gpLabels.count))\n"
        let sequential = meanOf("gp sequential", 1, \.atN)
        for q in qs where q > 1 {
            md += "| \(q) | " + gpLabels.map { fmt(gpCell($0, q, \.atN) / sequential) }.joined(separator: " | ") + " |\n"
        }
        md += "\n## Per landscape at q = 4, regret at N (sequential GP-BO, each strategy, random)\n\n| landscape | gp sequential | \(gpLabels.joined(separator: " | ")) | random q=4 |\n|---|---|\(String(repeating: "---|", count: gpLabels.count + 1))\n"
        for (i, s) in surfaces.enumerated() {
            let only: Set<Int> = [i]
            md += "| \(s.name) | \(fmt(meanOf("gp sequential", 1, \.atN, surfaces: only))) | "
                + gpLabels.map { fmt(meanOf($0, 4, \.atN, surfaces: only)) }.joined(separator: " | ")
                + " | \(fmt(meanOf("random", 4, \.atN, surfaces: only))) |\n"
        }
        if qs.contains(1) && qs.contains(4) {
            md += "\n## Fillers of the multi-start searches: mean regret, q = 1 vs q = 4\n\n| optimizer | q = 1 at N | q = 4 at N | ratio at N | q = 1 at time N/4 | q = 4 at time N/4 |\n|---|---|---|---|---|---|\n"
            for kind in ["cmaes", "pattern", "powell", "gp sequential"] {
                let a = meanOf(kind, 1, \.atN)
                let four = kind == "gp sequential" ? "gp \(PendingStrategy.defaultStrategy.rawValue)" : kind
                let b = meanOf(four, 4, \.atN)
                md += "| \(four == kind ? "\(kind), Sobol fillers" : "gp (default \(PendingStrategy.defaultStrategy.rawValue), for comparison)") | \(fmt(a)) | \(fmt(b)) | \(String(format: "%.2f", b / a)) | \(fmt(meanOf(kind, 1, \.atTime))) | \(fmt(meanOf(four, 4, \.atTime))) |\n"
                if four == kind {
                    let l = "\(kind) fillers=local"
                    let c = meanOf(l, 4, \.atN)
                    md += "| \(kind), local fillers | \(fmt(a)) | \(fmt(c)) | \(String(format: "%.2f", c / a)) | \(fmt(meanOf(kind, 1, \.atTime))) | \(fmt(meanOf(l, 4, \.atTime))) |\n"
                }
            }
        }
        print(md)
        if !output.isEmpty { try md.write(toFile: output, atomically: true, encoding: .utf8) }
        if !csv.isEmpty {
            var lines = ["landscape,optimizer,q,seed,budget,regret_at_n,regret_at_time_n_over_4,seconds"]
            for (j, o) in zip(jobs, results) {
                lines.append("\(surfaces[j.surface].name),\(j.label),\(j.q),\(j.seed),\(surfaces[j.surface].budget),\(o.atN),\(o.atTime),\(String(format: "%.3f", o.seconds))")
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        }
    }
}
