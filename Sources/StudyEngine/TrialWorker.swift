import Foundation
import Executors
import MergetuneNumerics

/// What a process executor's worker needs to evaluate one attempt of a built-in objective
/// (surrogate, analytic, testbed): `trial.json` in the attempt directory.
public struct TrialFile: Codable, Sendable, Equatable {
    public var objective: ObjectiveSpec
    /// Parameter values, in the objective's parameter order (empty for a reference without a point).
    public var params: [Double]
    public var study: String
    public var run: Int64
    public var trial: Int
    public var attempt: Int
    public var seed: Int
    /// Command objectives: the trial's checkpoint directory, and the reference measured.
    public var checkpoint: String? = nil
    public var reference: String? = nil
    /// The fidelity's value (objectives with fidelities); nil: full fidelity.
    public var fidelity: Int? = nil

    public var context: AttemptContext {
        AttemptContext(study: study, run: run, trial: trial, attempt: attempt, seed: seed, directory: "",
                       checkpoint: checkpoint, reference: reference, fidelity: fidelity)
    }
}

/// The worker side of the attempt-file protocol for built-in objectives (`mergetune trial eval
/// --dir DIR`): reads DIR/trial.json, evaluates, writes DIR/result.json. The supervisor around
/// it enforces the timeout and writes exit.json (docs/executors.md).
public enum TrialWorker {
    public static let trialFileName = "trial.json"

    /// Evaluates in this process (the in-process executor, and the worker command).
    public static func evaluate(_ objective: any Objective, _ x: [Double]) -> AttemptOutcome {
        evaluate(objective, x) { try objective.evaluateWithExtras($0) }
    }

    /// Times `body` (the objective's evaluation, e.g. at a fidelity) as `evaluate` does.
    static func evaluate(_ objective: any Objective, _ x: [Double],
                         _ body: ([Double]) throws -> (value: Double, extras: [String: Double]?)) -> AttemptOutcome {
        let clock = ContinuousClock.now
        if objective.trialDelayMs > 0 { Thread.sleep(forTimeInterval: Double(objective.trialDelayMs) / 1000) }
        var outcome: AttemptOutcome
        do {
            let (v, extras) = try body(x)
            outcome = v.isFinite ? AttemptOutcome(value: v, extras: extras)
                                 : .failed(.nonFinite, ObjectiveError.nonFinite(v).description)
        } catch {
            outcome = .failed(.objectiveError, String(describing: error))
        }
        let elapsed = ContinuousClock.now - clock
        outcome.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return outcome
    }

    /// A process attempt of the worker command: `trial.json` written into `directory`, then
    /// `WORKER trial eval --dir DIRECTORY` (the coordinator's trials and the references measured
    /// at creation both start attempts this way).
    static func processAttempt(_ file: TrialFile, label: String, directory: URL, workerBinary: String,
                               timeout: Double?) throws -> AttemptSpec {
        try writeTrialFile(file, to: directory)
        return AttemptSpec(label: label, directory: directory.path,
                           command: [workerBinary, "trial", "eval", "--dir", directory.path], timeout: timeout)
    }

    public static func writeTrialFile(_ file: TrialFile, to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try atomicWrite(try encoder.encode(file), to: directory.appendingPathComponent(trialFileName))
    }

    /// `mergetune trial eval --dir DIR`: the exit status is 0 whenever result.json was written
    /// (an objective's failure is recorded in it); non-zero only when the worker itself failed.
    public static func run(directory: URL) throws {
        _ = try BLAS.pinThreads()
        let data = try Data(contentsOf: directory.appendingPathComponent(trialFileName))
        let file = try JSONDecoder().decode(TrialFile.self, from: data)
        let objective = try ObjectiveFactory.make(file.objective, file: directory.appendingPathComponent(trialFileName).path, key: "objective")
        var context = file.context
        context.directory = directory.standardizedFileURL.path
        let outcome = objective.evaluateAttempt(file.params, context: context)
        try writeResult(outcome, to: directory)
    }

    /// result.json through the attempt-file protocol (doubles read back bit for bit).
    public static func writeResult(_ outcome: AttemptOutcome, to directory: URL) throws {
        var result = AttemptFiles.Result(value: outcome.value, extras: outcome.extras)
        switch outcome.failure {
        case nil:
            break
        case .objectiveError?:
            result.error = outcome.detail ?? "failed"
        case let reason?:
            // What the objective ran (an evaluator) failed: its reason and how it ended.
            result.reason = reason
            result.error = outcome.detail ?? reason.rawValue
            result.exitCode = outcome.exitCode
            result.signal = outcome.signal
        }
        try AttemptFiles.writeResult(result, directory: directory.path)
    }

    static func atomicWrite(_ data: Data, to url: URL) throws {
        try AttemptFiles.writeAtomically(data, to: url.path)
    }
}
