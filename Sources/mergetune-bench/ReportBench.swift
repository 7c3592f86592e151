import ArgumentParser
import Foundation
import Ledger
import Reports
import StudyEngine

/// Time `study report` on a large ledger: a quickstart-shaped study (six optimizers, the four
/// quickstart landscapes, 10 seeds) whose runs are filled with uniformly random trials scored
/// by the surrogates (1% failed attempts with a reason, four executor slots), so the report
/// reads and draws `--trials` trials without running an optimizer.
struct ReportBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Generate a ledger with --trials trials and time the study report (load + HTML) on it.")

    @Option(name: .long, help: "Trials in the generated ledger (spread evenly over 240 runs).")
    var trials: Int = 100_000
    @Option(name: .long, help: "Keep the generated ledger here (default: a temporary file, removed).")
    var ledger: String?
    @Option(name: .long, help: "Write the report here too.")
    var output: String?
    @Option(name: .long, help: "Timed repetitions; the best and the median are reported.")
    var repeats: Int = 3
    @Option(name: .long, help: "The repository root (for Surrogates/).")
    var root: String = "."

    func run() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mergetune-report-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = ledger ?? dir.appendingPathComponent("bench.sqlite").path
        let t0 = ContinuousClock.now
        let made = try generate(at: path, dir: dir)
        print("generated \(path): \(made) trials in \(seconds(ContinuousClock.now - t0)) s")

        var loads: [Double] = [], renders: [Double] = []
        var bytes = 0
        for _ in 0..<repeats {
            let a = ContinuousClock.now
            let data = try StudyReportBuilder.load(ledger: try Ledger(path: path, readOnly: true), study: "bench")
            let b = ContinuousClock.now
            let html = StudyReportBuilder.html(data)
            let c = ContinuousClock.now
            loads.append(seconds(b - a)); renders.append(seconds(c - b))
            bytes = html.utf8.count
            if let output { try html.write(toFile: output, atomically: true, encoding: .utf8) }
        }
        func stats(_ x: [Double]) -> String {
            let s = x.sorted()
            return String(format: "best %.2f s, median %.2f s", s[0], s[s.count / 2])
        }
        let totals = zip(loads, renders).map { $0 + $1 }
        print("load (ledger → StudyReportData): \(stats(loads))")
        print("html (StudyReportData → page):   \(stats(renders))")
        print("total over \(repeats) runs:            \(stats(totals)); page \(bytes / 1024) KiB")
    }

    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

    /// Creates the study (extrema, references, runs) and fills every run with trials and attempts.
    func generate(at path: String, dir: URL) throws -> Int {
        let rootURL = URL(fileURLWithPath: root)
        let landscapes = ["language-task_arithmetic", "reasoning-task_arithmetic", "language-ties", "reasoning-dare_ties"]
        let perRun = max(1, Int((Double(trials) / 240).rounded(.up)))
        var toml = "name = \"bench\"\nseeds = 10\nbudget = { 2 = \(perRun), 3 = \(perRun) }\n"
        for kind in ["random", "sobol", "gp", "cmaes", "pattern", "powell"] { toml += "[[optimizers]]\nkind = \"\(kind)\"\n" }
        for l in landscapes {
            let file = rootURL.appendingPathComponent("Surrogates/testbed-\(l).csv").standardizedFileURL.path
            guard FileManager.default.fileExists(atPath: file) else { throw ValidationError("\(file) not found: run from the repository root or pass --root") }
            toml += "[[objectives]]\nname = \"\(l)\"\nkind = \"surrogate\"\nlandscape = \"\(file)\"\n"
        }
        let specURL = dir.appendingPathComponent("bench.toml")
        try toml.write(to: specURL, atomically: true, encoding: .utf8)
        let prepared = try PreparedStudy.prepare(try StudySpec.load(specURL))
        let ledger = try Ledger(path: path)
        let study = try StudyStore.open(prepared, in: ledger)
        let objectives = try ledger.objectives(study: study.id!)
        let runs = try ledger.runs(study: study.id!)
        var rng = SystemRandomNumberGenerator()
        var clock = Date(timeIntervalSince1970: 1_800_000_000)
        var count = 0
        try ledger.writeWithoutCoordinator(study: study.id!) { w in
            for (r, run) in runs.enumerated() {
                let index = objectives.firstIndex { $0.id == run.objective }!
                let objective = prepared.objectives[index]
                let names = objective.space.names
                for n in 1...run.budget {
                    let u = names.map { _ in Double.random(in: 0...1, using: &rng) }
                    let x = objective.space.fromUnit(u)
                    let failed = Double.random(in: 0...1, using: &rng) < 0.01
                    let value = failed ? nil : try objective.evaluate(x)
                    let seconds = Double.random(in: 0.5...3, using: &rng)
                    var trial = TrialRecord(run: run.id!, number: n, params: jsonObject(names: names, values: x), unit: jsonArray(u),
                                            value: value, state: failed ? .fail : .complete, error: failed ? "attempt timed out" : nil,
                                            started: clock, finished: clock.addingTimeInterval(seconds), seconds: seconds,
                                            askSeq: 2 * (n - 1), tellSeq: 2 * (n - 1) + 1, attempts: 1)
                    try w.insert(&trial)
                    var attempt = AttemptRecord(trial: trial.id!, number: 1, state: failed ? .fail : .complete, executor: "local",
                                                host: "bench", slot: r % 4, started: clock)
                    attempt.finished = clock.addingTimeInterval(seconds); attempt.seconds = seconds
                    if failed { attempt.reason = "timeout"; attempt.detail = "no result after 3 s" }
                    try w.insert(&attempt)
                    clock = clock.addingTimeInterval(seconds / 4)
                    count += 1
                }
                try w.finishRun(run.id!)
            }
            return ()
        }
        return count
    }
}
