import Foundation
import Executors
import Ledger
import MergetuneNumerics
import Optimizers

/// How one launch or resume runs: the spec's `[executor]` table with command-line overrides.
public struct LaunchOptions: Sendable {
    /// `--jobs N`: slots of the in-process executor when the spec names none.
    public var jobs: Int = 1
    /// `--executor KIND`, `--slots N`, `--batch N`, `--deterministic`.
    public var executor: String?
    public var slots: Int?
    public var batch: Int?
    public var deterministic: Bool?
    public var reporter: ProgressReporter?
    public var stop: StopRequest = StopRequest()
    /// The worker binary for process executors (tests pass the built one).
    public var workerBinary: String?
    public var trialRoot: URL?
    public init(jobs: Int = 1) { self.jobs = jobs }

    /// The resolved execution: spec, then overrides.
    func resolve(_ spec: ExecutionSpec) -> ExecutionSpec {
        var e = spec
        // Another kind from the command line keeps only the keys every kind shares.
        if let k = executor, k != e.kind { e.executor = ExecutorConfig(kind: k, slots: e.executor.slots, env: e.executor.env) }
        if let s = slots { e.executor.slots = s; if e.executor.gpus != nil && s != e.executor.gpus!.count { e.executor.gpus = nil } }
        if let b = batch { e.batch = b }
        if let d = deterministic { e.deterministic = d }
        if e.executor.slots == nil && e.executor.gpus == nil { e.executor.slots = jobs }
        return e
    }
}

public enum ExecutorFactory {
    /// The executor for a resolved execution spec, built by the executor registry
    /// (Executors.ExecutorRegistry, the one place that knows the kinds). `supervisor`: the
    /// mergetune binary that supervises process attempts (default: the running one).
    public static func make(_ e: ExecutionSpec, supervisor: String? = nil) throws -> any TrialExecutor {
        try ExecutorRegistry.make(e.executor, supervisor: supervisor)
    }
}

// MARK: Entry points used by the CLI

public enum StudyEngine {
    /// `study launch SPEC`: creates the study in the ledger (or finds it, launched before with
    /// the same spec) and runs whatever is left of it.
    public static func launch(specURL: URL, ledgerPath: String, options: LaunchOptions = LaunchOptions()) throws -> (StudyRecord, RunnerResult) {
        try launch(spec: try StudySpec.load(specURL), ledgerPath: ledgerPath, options: options)
    }

    /// The same from a spec already read (e.g. a benchmark that keeps some optimizers only).
    public static func launch(spec: StudySpec, ledgerPath: String, jobs: Int = 1,
                              reporter: ProgressReporter? = nil) throws -> (StudyRecord, RunnerResult) {
        var o = LaunchOptions(jobs: jobs); o.reporter = reporter
        return try launch(spec: spec, ledgerPath: ledgerPath, options: o)
    }

    public static func launch(spec: StudySpec, ledgerPath: String, options: LaunchOptions) throws -> (StudyRecord, RunnerResult) {
        let prepared = try PreparedStudy.prepare(spec)
        let ledger = try Ledger(path: ledgerPath)
        let resolved = options.resolve(spec.execution)
        let executor = try ExecutorFactory.make(resolved, supervisor: options.workerBinary)
        // References measured at creation run on the study's executor, as many at once as it has slots.
        let trialRoot = options.trialRoot ?? Coordinator.defaultTrialRoot(ledgerPath: ledger.path)
        let measurer = ExecutorReferenceMeasurer(executor: executor, workerBinary: options.workerBinary ?? Coordinator.currentExecutable(),
                                                 timeout: resolved.timeout,
                                                 log: { FileHandle.standardError.write(Data("\($0)\n".utf8)) })
        let study = try StudyStore.open(prepared, in: ledger, measurer: measurer, trialRoot: trialRoot)
        return (study, try run(ledger, study, try prepared.keepingOptimizerDefaults(of: study), resolved, options, executor: executor))
    }

    /// `study resume NAME`: continues a study from the spec stored in the ledger.
    public static func resume(name: String, ledgerPath: String, options: LaunchOptions = LaunchOptions()) throws -> (StudyRecord, RunnerResult) {
        let ledger = try Ledger(path: ledgerPath)
        let (study, spec) = try StudyStore.spec(of: name, in: ledger)
        let prepared = try PreparedStudy.prepare(spec)
        let resolved = options.resolve(spec.execution)
        return (study, try run(ledger, study, prepared, resolved, options,
                               executor: try ExecutorFactory.make(resolved, supervisor: options.workerBinary)))
    }

    static func run(_ ledger: Ledger, _ study: StudyRecord, _ prepared: PreparedStudy, _ resolved: ExecutionSpec,
                    _ options: LaunchOptions, executor: any TrialExecutor) throws -> RunnerResult {
        let coordinator = Coordinator(ledger: ledger, study: study, prepared: prepared, executor: executor, execution: resolved,
                                      reporter: options.reporter, stop: options.stop, trialRoot: options.trialRoot,
                                      workerBinary: options.workerBinary)
        return try coordinator.run()
    }
}
