import ArgumentParser
import Executors
import Foundation
import Ledger
import Optimizers
import StudyEngine

/// The study coordinator's own cost (Benchmarks/coordinator.md): per-trial overhead on a
/// zero-cost objective (in-process and local executors), its flatness in the number of runs
/// and trials, and what deterministic mode costs when trial durations vary.
struct CoordinatorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Coordinator overhead per trial, local-executor overhead, deterministic mode's cost.")

    @Option(name: .long, help: "What to measure: overhead, local, deterministic (comma-separated).")
    var parts: String = "overhead,local,deterministic"
    @Option(name: .long, help: "Study sizes (trials) for the overhead part.")
    var sizes: String = "1000,10000,100000"
    @Option(name: .long, help: "Shapes: many (runs of one trial each), few (10 runs).")
    var shapes: String = "many,few"
    @Option(name: .long, help: "Slot counts of the in-process executor (overhead part).")
    var slots: String = "1,2"
    @Option(name: .long, help: "Repetitions per configuration (the median is reported).")
    var repeats: Int = 3
    @Option(name: .long, help: "The mergetune binary (worker and supervisor of the local executor).")
    var worker: String = ".build/release/mergetune"
    @Option(name: .long, help: "Trials of the local-executor part (4 runs).")
    var localTrials: Int = 200
    @Option(name: .long, help: "Slot counts of the local-executor part.")
    var localSlots: String = "1,2,4"
    @Option(name: .long, help: "Trials of the deterministic part (one run, batch 4, 4 slots).")
    var detTrials: Int = 120
    @Option(name: .long, help: "Optimizer of the deterministic part (random or gp).")
    var detOptimizer: String = "random"
    @Flag(name: .long, help: "Also time one repetition with the CLI's progress reporter (non-interactive), which also gives the load phase.")
    var withReporter = false

    func run() throws {
        let partList = Set(parts.split(separator: ",").map(String.init))
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; load at start: \(loadAverage())")
        if partList.contains("overhead") { try overhead() }
        if partList.contains("local") { try local() }
        if partList.contains("deterministic") { try deterministic() }
        print("load at end: \(loadAverage())")
    }

    // MARK: Part 1

    func overhead() throws {
        let sizeList = sizes.split(separator: ",").compactMap { Int($0) }
        let slotList = slots.split(separator: ",").compactMap { Int($0) }
        for shape in shapes.split(separator: ",").map(String.init) {
            for s in slotList {
                var perTrial1k: Double?
                for n in sizeList {
                    let (runs, budget) = shape == "many" ? (n, 1) : (10, n / 10)
                    var launches: [Double] = [], coords: [Double] = []
                    for _ in 0..<repeats {
                        let t = try timeStudy(runs: runs, budget: budget, execution: inprocess(s), reporter: false)
                        launches.append(t.launch); coords.append(t.coordinator)
                    }
                    let perTrial = median(coords) / Double(runs * budget) * 1000
                    if n == sizeList.first { perTrial1k = perTrial }
                    print(String(format: "overhead shape=%@ slots=%d runs=%d budget=%d trials=%d: launch (prepare+create study) median %.3f s; coordinator.run median %.3f s (all %@) = %.4f ms/trial%@; load %@",
                                 shape, s, runs, budget, runs * budget, median(launches), median(coords),
                                 coords.map { String(format: "%.3f", $0) }.joined(separator: " "), perTrial,
                                 perTrial1k.map { String(format: " (ratio to smallest %.2f)", perTrial / $0) } ?? "", loadAverage()))
                    if withReporter {
                        let t = try timeStudy(runs: runs, budget: budget, execution: inprocess(s), reporter: true)
                        print(String(format: "  with reporter: coordinator.run %.3f s, of which before the first trial (claim, load, replay) %.3f s = %.4f ms/trial excluding it",
                                     t.coordinator, t.load ?? .nan, (t.coordinator - (t.load ?? 0)) / Double(runs * budget) * 1000))
                    }
                }
            }
        }
    }

    func inprocess(_ slots: Int) -> ExecutionSpec {
        var e = ExecutionSpec()
        e.executor = ExecutorConfig(kind: "inprocess", slots: slots)
        return e
    }

    struct Timing { var launch: Double; var coordinator: Double; var load: Double?; var busy: Double = 0 }

    /// `runs` seeds × one random optimizer on branin (no delay), budget `budget`: times the
    /// launch-time work (objective preparation, study creation) and `Coordinator.run` apart.
    func timeStudy(runs: Int, budget: Int, execution: ExecutionSpec, reporter: Bool, optimizer: String = "random",
                   objective: (any Objective)? = nil) throws -> Timing {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mergetune-cbench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let objSpec = ObjectiveSpec(name: objective?.name ?? "branin", kind: "analytic", function: "branin")
        let spec = StudySpec(name: "cbench", description: nil, source: "(mergetune-bench coordinator)", seeds: Array(0..<runs),
                             budgets: [2: budget], optimizers: [OptimizerSpec(name: optimizer, config: OptimizerConfig(kind: optimizer))],
                             objectives: [objSpec], execution: execution)
        let t0 = ContinuousClock.now
        let prepared = try objective.map { try PreparedStudy(spec: spec, objectives: [$0]) } ?? PreparedStudy.prepare(spec)
        let ledger = try Ledger(path: dir.appendingPathComponent("bench.sqlite").path)
        let study = try StudyStore.open(prepared, in: ledger)
        let t1 = ContinuousClock.now
        let executor = try ExecutorRegistry.make(execution.executor, supervisor: worker)
        var loopStart: ContinuousClock.Instant?
        let progress = reporter ? ProgressReporter(interactive: false, write: { _ in if loopStart == nil { loopStart = ContinuousClock.now } }) : nil
        let coordinator = Coordinator(ledger: ledger, study: study, prepared: prepared, executor: executor, execution: execution,
                                      reporter: progress, trialRoot: dir.appendingPathComponent("trials"), workerBinary: worker)
        let result = try coordinator.run()
        let t2 = ContinuousClock.now
        guard result.progress.trialsDone == runs * budget, result.studyDone else {
            throw ValidationError("study ended with \(result.progress.trialsDone) of \(runs * budget) trials")
        }
        return Timing(launch: seconds(t1 - t0), coordinator: seconds(t2 - t1), load: loopStart.map { seconds($0 - t1) })
    }

    // MARK: Part 2

    func local() throws {
        guard FileManager.default.isExecutableFile(atPath: worker) else {
            throw ValidationError("--worker \(worker) is not an executable (build it: swift build -c release --product mergetune)")
        }
        for s in localSlots.split(separator: ",").compactMap({ Int($0) }) {
            var e = ExecutionSpec()
            e.executor = ExecutorConfig(kind: "local", slots: s)
            var coords: [Double] = []
            for _ in 0..<repeats {
                coords.append(try timeStudy(runs: 4, budget: localTrials / 4, execution: e, reporter: false).coordinator)
            }
            print(String(format: "local slots=%d trials=%d (4 runs): coordinator.run median %.3f s (all %@) = %.2f ms/trial wall, %.2f ms/trial × slots; load %@",
                         s, localTrials, median(coords), coords.map { String(format: "%.3f", $0) }.joined(separator: " "),
                         median(coords) / Double(localTrials) * 1000, median(coords) / Double(localTrials) * 1000 * Double(s), loadAverage()))
        }
    }

    // MARK: Part 3

    func deterministic() throws {
        for det in [false, true] {
            var walls: [Double] = [], utils: [Double] = []
            for _ in 0..<repeats {
                var e = ExecutionSpec()
                e.executor = ExecutorConfig(kind: "inprocess", slots: 4)
                e.batch = 4
                e.deterministic = det
                let objective = JitterObjective(name: "branin-jitter")
                let t = try timeStudy(runs: 1, budget: detTrials, execution: e, reporter: false, optimizer: detOptimizer, objective: objective)
                walls.append(t.coordinator)
                utils.append(objective.busy.total / (4 * t.coordinator))
            }
            print(String(format: "deterministic=%@ %@ 1 run × %d trials, batch 4, 4 slots, delays 20–80 ms: wall median %.3f s (all %@), slot utilization median %.1f%% (all %@); load %@",
                         det ? "true " : "false", detOptimizer, detTrials, median(walls), walls.map { String(format: "%.3f", $0) }.joined(separator: " "),
                         median(utils) * 100, utils.map { String(format: "%.1f%%", $0 * 100) }.joined(separator: " "), loadAverage()))
        }
    }

    // MARK: Helpers

    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
    func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    }
}

/// Busy seconds summed over the slots' threads.
final class BusyCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var seconds = 0.0
    func add(_ s: Double) { lock.lock(); seconds += s; lock.unlock() }
    var total: Double { lock.lock(); defer { lock.unlock() }; return seconds }
}

/// Branin with a simulated cost of 20–80 ms per trial, a hash of the point (so a trial's cost
/// does not depend on the mode or the slot it ran in): trial durations vary, which is when
/// telling in ask order idles slots. `delay_ms` of the analytic objective is a fixed delay.
struct JitterObjective: Objective {
    let name: String
    var kind: String { "analytic" }
    let base = AnalyticObjective(name: "branin", function: .branin)
    var space: SearchSpace { base.space }
    var builtInReferences: [ReferenceSpec] { [] }
    let busy = BusyCounter()

    func evaluate(_ x: [Double]) throws -> Double {
        let start = ContinuousClock.now
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in x { h ^= v.bitPattern; h = (h &* 0x0000_0100_0000_01b3) ^ (h >> 29) }
        h = (h ^ (h >> 31)) &* 0xbf58_476d_1ce4_e5b9
        let delay = 0.020 + 0.060 * Double(h >> 11) / Double(1 << 53)
        Thread.sleep(forTimeInterval: delay)
        let value = try base.evaluate(x)
        let d = ContinuousClock.now - start
        busy.add(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        return value
    }

    func extrema() throws -> (minimum: Double, maximum: Double) { try base.extrema() }
}
