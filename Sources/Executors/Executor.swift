import Foundation

// The executor contract of the study core (docs/architecture.md, "The study core"). The
// coordinator is the ledger's only writer; an executor runs one *attempt* of one trial at a time
// per slot and reports how it ended. Workers never touch the ledger: they write files into the
// attempt's directory (temporary name, then rename), which the executor reads back.

/// Why an attempt did not produce a value. Recorded per attempt (ledger v3 `attempts.reason`).
public enum FailureReason: String, Codable, Sendable, CaseIterable {
    /// The worker exited with a non-zero code (the code is in `AttemptOutcome.exitCode`).
    case exitCode = "exit_code"
    /// The worker was killed by a signal (the number is in `AttemptOutcome.signal`).
    case signal
    /// The attempt ran past its timeout (even if it then exited 0 with a number).
    case timeout
    /// No result where one was expected (empty stdout, no result file).
    case noOutput = "no_output"
    case notANumber = "not_a_number"
    /// NaN or ±inf: never a value.
    case nonFinite = "non_finite"
    case ambiguous
    case outputTooLarge = "output_too_large"
    case missingFile = "missing_file"
    case badJSON = "bad_json"
    /// A built-in objective threw while evaluating.
    case objectiveError = "objective_error"
    /// The scheduler preempted the job (Slurm PREEMPTED).
    case preempted
    /// The node the job ran on failed (Slurm NODE_FAIL, BOOT_FAIL).
    case nodeFailure = "node_failure"
    /// The job vanished (not in the queue, no result file, no accounting record).
    case lost
    /// Cancelled on purpose: `study stop`, SIGINT/SIGTERM of the coordinator, `scancel`.
    case cancelled
    /// The coordinator died while the attempt ran in its own process (in-process executor).
    case interrupted
    /// The executor could not start the attempt (sbatch refused it, fork failed).
    case submitFailed = "submit_failed"
    /// The trial's merge failed before the evaluator started (command objectives).
    case mergeFailed = "merge_failed"
    /// The trial's checkpoint would not fit on the disk: refused before the merge started.
    case noSpace = "no_space"
    /// The score was measured but a constraint on a recorded metric is violated.
    case infeasible

    /// Reasons retried by default: the infrastructure's fault, not the evaluation's.
    public static let retriedByDefault: Set<FailureReason> = [.preempted, .nodeFailure, .lost, .submitFailed]
    /// Reasons that never use up a retry: the attempt is re-run when the study continues.
    public static let alwaysRerun: Set<FailureReason> = [.cancelled, .interrupted]
}

/// One attempt of one trial, as the coordinator hands it to an executor.
public struct AttemptSpec: Sendable {
    /// A short unique label for names and logs, e.g. "quickstart-r12-t7-a2".
    public var label: String
    /// The attempt's directory (absolute, created by the coordinator). The worker's files
    /// (`result.json`, `exit.json`, `stdout.log`, `stderr.log`) go here.
    public var directory: String
    /// The worker's argument list (no shell). The executor wraps it in the supervisor
    /// (`mergetune trial supervise`), which enforces the timeout and writes `exit.json`.
    public var command: [String]
    /// Environment additions (the slot's own, e.g. CUDA_VISIBLE_DEVICES, are added by the executor).
    public var environment: [String: String]
    /// Seconds one attempt may run; nil: no limit.
    public var timeout: Double?
    /// For the in-process executor only: evaluates the attempt in this process.
    public var inProcess: (@Sendable () -> AttemptOutcome)?

    public init(label: String, directory: String, command: [String] = [], environment: [String: String] = [:],
                timeout: Double? = nil, inProcess: (@Sendable () -> AttemptOutcome)? = nil) {
        self.label = label; self.directory = directory; self.command = command
        self.environment = environment; self.timeout = timeout; self.inProcess = inProcess
    }
}

/// Where an attempt runs: recorded in the ledger when it starts, used to reattach after a
/// coordinator restart and to cancel it.
public struct AttemptHandle: Codable, Sendable, Hashable {
    /// The executor kind: "inprocess", "local", "slurm".
    public var executor: String
    /// Process id (local: the supervisor's pid and start ticks as "pid/ticks"), Slurm job id,
    /// or an in-process sequence number.
    public var jobID: String
    public var host: String?
    /// The executor slot (0-based); for `local` with GPUs, the slot's GPU is `gpus[slot]`.
    public var slot: Int

    public init(executor: String, jobID: String, host: String? = nil, slot: Int) {
        self.executor = executor; self.jobID = jobID; self.host = host; self.slot = slot
    }
}

/// How an attempt ended.
public struct AttemptOutcome: Sendable, Equatable {
    /// The score (finite) when the attempt succeeded; nil when it failed.
    public var value: Double?
    /// Sub-scores recorded beside the value (ledger `trials.extras`).
    public var extras: [String: Double]?
    /// Why it failed (nil when `value` is set).
    public var failure: FailureReason?
    /// Human-readable detail: the error, the state Slurm reported, the last lines of stderr.
    public var detail: String?
    public var exitCode: Int32?
    public var signal: Int32?
    /// The host it ran on, when known.
    public var host: String?
    /// Wall seconds of the attempt, when known.
    public var seconds: Double?

    public init(value: Double? = nil, extras: [String: Double]? = nil, failure: FailureReason? = nil,
                detail: String? = nil, exitCode: Int32? = nil, signal: Int32? = nil, host: String? = nil,
                seconds: Double? = nil) {
        self.value = value; self.extras = extras; self.failure = failure; self.detail = detail
        self.exitCode = exitCode; self.signal = signal; self.host = host; self.seconds = seconds
    }

    public static func failed(_ reason: FailureReason, _ detail: String? = nil) -> AttemptOutcome {
        AttemptOutcome(failure: reason, detail: detail)
    }
}

/// An executor runs attempts in `slots` slots. Used from one thread (the coordinator's); its
/// own threads, if any, are internal.
public protocol TrialExecutor: AnyObject {
    var kind: String { get }
    var slots: Int { get }
    /// Starts an attempt in the free slot `slot`. Errors here are `submit_failed` attempts.
    func submit(_ attempt: AttemptSpec, slot: Int) throws -> AttemptHandle
    /// Waits up to `timeout` seconds for attempts to end; returns every attempt that ended
    /// since the last call (possibly none). Never returns an attempt twice.
    func wait(timeout: Double) throws -> [(AttemptHandle, AttemptOutcome)]
    /// After a coordinator restart: takes over attempts the ledger records as running. Those
    /// already ended are reported by the next `wait`; those that cannot be found are `lost`
    /// (or `interrupted` for the in-process executor).
    func reattach(_ attempts: [(AttemptHandle, AttemptSpec)]) throws
    /// Cancels one attempt (local: SIGTERM to its process group, SIGKILL after a grace
    /// period; slurm: scancel). Its end is reported by `wait` as `cancelled`.
    func cancel(_ handle: AttemptHandle) throws
    /// Attempts submitted or reattached and not yet reported by `wait`.
    var inFlight: [AttemptHandle] { get }
}
