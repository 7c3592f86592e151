import ArgumentParser
import Foundation
import Fusion
import Ledger
import MergetuneNumerics
import StudyEngine
import Testbed

/// The multi-fidelity study (docs/results.md, "Multi-fidelity"): first the time of one testbed
/// trial at each fidelity (the costs' source), then the study itself on a fresh ledger, with
/// its curves and trials exported for `Benchmarks/multifidelity.py`.
struct MultiFidelityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multifidelity",
        abstract: "Time testbed trials per fidelity, then run a multi-fidelity study and export its curves.")

    @Option(name: .long, help: "The study spec (testbed objectives with fidelities).")
    var spec: String = "Studies/testbed-multifidelity.toml"
    @Option(name: .long, help: "Timed evaluations per fidelity and objective (the same random points at every fidelity).")
    var timing: Int = 30
    @Flag(name: .long, help: "Only time the fidelities; run no study.")
    var timeOnly = false
    @Option(name: .long, help: "Runs in parallel.")
    var jobs: Int = 2
    @Option(name: .long, help: "The ledger to create (must not hold the study yet).")
    var ledger: String = "multifidelity.sqlite"
    @Option(name: .long, help: "Curves CSV to write.")
    var curves: String = "multifidelity-curves.csv"
    @Option(name: .long, help: "Trials CSV to write.")
    var trials: String = "multifidelity-trials.csv"

    func run() throws {
        _ = try BLAS.pinThreads()
        let study = try StudySpec.load(URL(fileURLWithPath: spec))
        print("\(ProcessInfo.processInfo.activeProcessorCount) cores; one thread per evaluation")
        for o in study.objectives {
            guard o.kind == "testbed", let fidelities = o.fidelities, let dir = o.directory,
                  let scenario = Scenario(rawValue: o.scenario ?? ""), let method = MergeMethod(rawValue: o.method ?? "") else { continue }
            let rng = RandomGenerator(seed: 1)
            let bounds = o.bounds ?? []
            let points = (0..<timing).map { _ in rng.uniformPoint(dimension: bounds.count) }
            var medians: [Double] = []
            for f in fidelities {
                let e = try TestbedEvaluator(directory: URL(fileURLWithPath: dir), scenario: scenario, limit: f.value)
                var ms: [Double] = []
                for u in points {
                    var searched: [String: Double] = [:]
                    for (b, x) in zip(bounds, u) { searched[b.name] = b.lower + x * (b.upper - b.lower) }
                    var fixed: [String: RecipeValue] = [:]
                    if MergeMethodRegistry.info(method).parameter(RecipeKey.seed) != nil { fixed[RecipeKey.seed] = .number(0) }
                    let start = ContinuousClock.now
                    _ = try e.evaluate(recipe: MergeRecipe(method: method, parameters: fixed), searched: searched)
                    let d = ContinuousClock.now - start
                    ms.append((Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18) * 1000)
                }
                ms.sort()
                medians.append(ms[ms.count / 2])
                print(String(format: "%@: %d examples per task: median %.1f ms, p10 %.1f, p90 %.1f over %d evaluations",
                             o.name, f.value, ms[ms.count / 2], ms[ms.count / 10], ms[ms.count * 9 / 10], ms.count))
            }
            print("\(o.name): measured cost ratios " + medians.map { String(format: "%.3f", $0 / medians.last!) }.joined(separator: " : ")
                  + "; the spec's: " + fidelities.map { String(format: "%.3f", $0.cost / fidelities.last!.cost) }.joined(separator: " : "))
        }
        guard !timeOnly else { return }
        let start = ContinuousClock.now
        let (_, result) = try StudyEngine.launch(spec: study, ledgerPath: ledger, jobs: jobs)
        let d = ContinuousClock.now - start
        print(String(format: "study %@: %d runs, %d evaluations, %.1f s wall, --jobs %d", study.name, result.runsCompleted,
                     result.trialsEvaluated, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18, jobs))
        let metrics = try StudyMetrics(ledger: try Ledger(path: ledger, readOnly: true), studyName: study.name)
        try StudyReport.curvesCSV(metrics).write(toFile: curves, atomically: true, encoding: .utf8)
        try StudyReport.trialsCSV(metrics).write(toFile: trials, atomically: true, encoding: .utf8)
        print("wrote \(curves), \(trials)")
    }
}
