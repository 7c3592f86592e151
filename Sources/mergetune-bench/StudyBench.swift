import ArgumentParser
import Foundation
import StudyEngine

/// Wall time and evaluations per second of a whole study (default: the quickstart study), on
/// a fresh temporary ledger, so that the ledger's commits are part of what is measured.
struct StudyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Time a study end to end (default: Studies/quickstart.toml) on a fresh ledger.")

    @Option(name: .long, help: "The study spec.")
    var spec: String = "Studies/quickstart.toml"
    @Option(name: .long, help: "Runs in parallel.")
    var jobs: Int = 2
    @Option(name: .long, help: "Repetitions (each on a fresh ledger); the best and the median are reported.")
    var repeats: Int = 3
    @Option(name: .long, help: "Keep only the optimizers of this kind (to see what each one costs).")
    var only: String?

    func validate() throws {
        guard jobs >= 1, repeats >= 1 else { throw ValidationError("--jobs and --repeats must be at least 1") }
    }

    func run() throws {
        var study = try StudySpec.load(URL(fileURLWithPath: spec))
        if let only {
            study.optimizers = study.optimizers.filter { $0.config.kind == only }
            guard !study.optimizers.isEmpty else { throw ValidationError("no optimizer of kind '\(only)' in \(spec)") }
        }
        var walls: [Double] = []
        var evaluations = 0, runs = 0
        for _ in 0..<repeats {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mergetune-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let start = ContinuousClock.now
            let (_, result) = try StudyEngine.launch(spec: study, ledgerPath: dir.appendingPathComponent("bench.sqlite").path, jobs: jobs)
            let elapsed = ContinuousClock.now - start
            walls.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            evaluations = result.trialsEvaluated
            runs = result.runsCompleted
        }
        let sorted = walls.sorted()
        let best = sorted[0], median = sorted[sorted.count / 2]
        print("study \(spec)\(only.map { " (\($0) only)" } ?? ""): \(runs) runs, \(evaluations) evaluations, --jobs \(jobs), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print(String(format: "wall time: best %.2f s, median %.2f s over %d repeats (spec parsing, objective preparation, runs, ledger commits)", best, median, repeats))
        print(String(format: "evaluations per second: %.0f (best), %.0f (median)", Double(evaluations) / best, Double(evaluations) / median))
    }
}
