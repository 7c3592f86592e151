import Foundation
import Executors

// References measured once, when a study is created: the command objective's closed forms and
// parents (and user references with params but no score) go through the same evaluator as the
// trials, on the study's executor, all at once. A measured reference leaves `measured.json` in
// its directory, so a launch that stops before the study exists does not measure it again.

/// One reference to measure.
public struct ReferenceJob: @unchecked Sendable {
    public var objective: any Objective
    public var spec: ObjectiveSpec
    public var reference: ReferenceSpec
    /// The point (parameter coordinates), empty when the reference has none (a closed form).
    public var x: [Double]
    public var context: AttemptContext
}

public protocol ReferenceMeasuring {
    /// One outcome per job, in order.
    func measure(_ jobs: [ReferenceJob]) throws -> [AttemptOutcome]
}

/// Where the files of a study's command trials and references go.
public enum TrialPaths {
    /// A command objective's checkpoints: `merge.checkpoints/<study>/<objective>`, or
    /// `<trials>/<study>/checkpoints/<objective>`.
    public static func checkpointRoot(_ spec: ObjectiveSpec, study: String, trialRoot: URL) -> URL {
        if let root = spec.command?.merge?.checkpoints {
            return URL(fileURLWithPath: root).appendingPathComponent(study).appendingPathComponent(spec.name)
        }
        return trialRoot.appendingPathComponent(study).appendingPathComponent("checkpoints").appendingPathComponent(spec.name)
    }

    public static func trialCheckpoint(_ spec: ObjectiveSpec, study: String, trialRoot: URL, run: Int64, trial: Int) -> String {
        checkpointRoot(spec, study: study, trialRoot: trialRoot).appendingPathComponent("r\(run)-t\(trial)").path
    }

    public static func referenceCheckpoint(_ spec: ObjectiveSpec, study: String, trialRoot: URL, reference: String) -> String {
        checkpointRoot(spec, study: study, trialRoot: trialRoot).appendingPathComponent("references").appendingPathComponent(reference).path
    }

    public static func referenceDirectory(_ spec: ObjectiveSpec, study: String, trialRoot: URL, reference: String) -> URL {
        trialRoot.appendingPathComponent(study).appendingPathComponent("references").appendingPathComponent(spec.name)
            .appendingPathComponent(reference)
    }
}

/// Runs reference jobs on an executor (in-process or processes), as many at once as it has slots.
public final class ExecutorReferenceMeasurer: ReferenceMeasuring {
    let executor: any TrialExecutor
    let workerBinary: String
    let timeout: Double?
    let log: ((String) -> Void)?

    public init(executor: any TrialExecutor, workerBinary: String, timeout: Double?, log: ((String) -> Void)? = nil) {
        self.executor = executor; self.workerBinary = workerBinary; self.timeout = timeout; self.log = log
    }

    /// What a measured reference recorded; reused when the job is the same.
    struct Measured: Codable, Equatable {
        var job: String
        var value: Double
        var extras: [String: Double]?
    }
    static let measuredFile = "measured.json"

    static func jobKey(_ job: ReferenceJob) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let file = TrialFile(objective: job.spec, params: job.x, study: job.context.study, run: 0, trial: 0, attempt: 0,
                             seed: job.context.seed, checkpoint: job.context.checkpoint, reference: job.context.reference)
        return String(decoding: try encoder.encode(file), as: UTF8.self)
    }

    public func measure(_ jobs: [ReferenceJob]) throws -> [AttemptOutcome] {
        var outcomes = [AttemptOutcome?](repeating: nil, count: jobs.count)
        var pending: [(index: Int, spec: AttemptSpec)] = []
        for (i, job) in jobs.enumerated() {
            let home = URL(fileURLWithPath: job.context.directory)
            let key = try Self.jobKey(job)
            let measuredPath = home.appendingPathComponent(Self.measuredFile).path
            if let data = FileManager.default.contents(atPath: measuredPath),
               let m = try? JSONDecoder().decode(Measured.self, from: data), m.job == key {
                outcomes[i] = AttemptOutcome(value: m.value, extras: m.extras)
                log?("reference \(job.spec.name)/\(job.reference.name): measured before (\(measuredPath))")
                continue
            }
            // A fresh attempt directory per launch: one left by a killed launch is not reused.
            var n = 1
            while FileManager.default.fileExists(atPath: home.appendingPathComponent("a\(n)").path) { n += 1 }
            let dir = home.appendingPathComponent("a\(n)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var context = job.context
            context.directory = dir.path
            context.attempt = n
            let label = "\(job.context.study)-ref-\(job.reference.name)-a\(n)"
            let spec: AttemptSpec
            if executor.kind == "inprocess" {
                let objective = job.objective, x = job.x, c = context
                spec = AttemptSpec(label: label, directory: dir.path, inProcess: { objective.evaluateAttempt(x, context: c) })
            } else {
                spec = try TrialWorker.processAttempt(TrialFile(objective: job.spec, params: job.x, study: context.study, run: 0,
                                                                trial: 0, attempt: n, seed: context.seed, checkpoint: context.checkpoint,
                                                                reference: context.reference),
                                                      label: label, directory: dir, workerBinary: workerBinary, timeout: timeout)
            }
            pending.append((i, spec))
        }
        var running: [AttemptHandle: Int] = [:]
        var freeSlots = Array((0..<executor.slots).reversed())
        var queue = pending[...]
        while !queue.isEmpty || !running.isEmpty {
            while let slot = freeSlots.last, let next = queue.first {
                queue = queue.dropFirst()
                freeSlots.removeLast()
                log?("measuring reference \(jobs[next.index].spec.name)/\(jobs[next.index].reference.name) (\(next.spec.directory))")
                do {
                    running[try executor.submit(next.spec, slot: slot)] = next.index
                } catch {
                    outcomes[next.index] = .failed(.submitFailed, "\(error)")
                    freeSlots.append(slot)
                }
            }
            guard !running.isEmpty else { continue }
            for (handle, outcome) in try executor.wait(timeout: 1) {
                guard let i = running.removeValue(forKey: handle) else { continue }
                freeSlots.append(handle.slot)
                outcomes[i] = outcome
                if let v = outcome.value, v.isFinite {
                    let job = jobs[i]
                    let m = Measured(job: try Self.jobKey(job), value: v, extras: outcome.extras)
                    try AttemptFiles.writeAtomically(try JSONEncoder().encode(m),
                                                     to: URL(fileURLWithPath: job.context.directory).appendingPathComponent(Self.measuredFile).path)
                }
            }
        }
        return outcomes.map { $0! }
    }
}

/// Measures references one after another in this process (the default for embedders and tests).
public struct InProcessReferenceMeasurer: ReferenceMeasuring {
    public init() {}
    public func measure(_ jobs: [ReferenceJob]) throws -> [AttemptOutcome] {
        try jobs.map { job in
            try FileManager.default.createDirectory(atPath: job.context.directory, withIntermediateDirectories: true)
            return job.objective.evaluateAttempt(job.x, context: job.context)
        }
    }
}
