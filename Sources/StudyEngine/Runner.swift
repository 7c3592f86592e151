import Foundation
import Ledger
import Optimizers

/// What one `launch`/`resume` did in this process.
public struct RunnerResult: Sendable, Equatable {
    /// Runs this process finished.
    public var runsCompleted = 0
    /// Trials evaluated now (not replayed).
    public var trialsEvaluated = 0
    /// Trials replayed from the ledger into fresh optimizers.
    public var trialsReplayed = 0
    /// RUNNING trials left by a dead process, deleted and evaluated again.
    public var staleTrialsRerun = 0
    /// Runs still held by other live processes when this one ran out of work.
    public var runsHeldElsewhere = 0
    public var progress = StudyProgress(runsDone: 0, runsTotal: 0, trialsDone: 0, trialsTotal: 0)
    public var studyDone: Bool { progress.runsDone == progress.runsTotal }
}

/// Runs the claimable runs of a study with `jobs` workers. Each worker claims a run atomically,
/// replays its recorded trials into a freshly seeded optimizer, then asks, evaluates, commits
/// and tells until the budget is spent. Safe against kill -9 at any point and against other
/// processes working on the same study.
public final class StudyRunner: Sendable {
    let ledger: Ledger
    let study: StudyRecord
    let prepared: PreparedStudy
    let jobs: Int
    let reporter: ProgressReporter?
    let owner: Owner

    public init(ledger: Ledger, study: StudyRecord, prepared: PreparedStudy, jobs: Int = 1,
                reporter: ProgressReporter? = nil, owner: Owner = .current) {
        self.ledger = ledger; self.study = study; self.prepared = prepared
        self.jobs = max(1, jobs); self.reporter = reporter; self.owner = owner
    }

    /// Shared state of the workers (guarded by a lock).
    final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var result = RunnerResult()
        var error: Error?
        func update(_ body: (inout RunnerResult) -> Void) { lock.lock(); body(&result); lock.unlock() }
        func fail(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
        var failed: Bool { lock.lock(); defer { lock.unlock() }; return error != nil }
    }

    public func run() throws -> RunnerResult {
        let studyID = study.id!
        let objectives = try ledger.objectives(study: studyID)
        var byID: [Int64: (record: ObjectiveRecord, objective: any Objective)] = [:]
        for o in objectives {
            guard let index = prepared.spec.objectives.firstIndex(where: { $0.name == o.name }) else {
                throw StudyError.objectiveMissing(study: study.name, objective: o.name)
            }
            byID[o.id!] = (o, prepared.objectives[index])
        }
        let objectiveTable = byID
        let shared = Shared()
        reporter?.start(study: study.name, progress: try ledger.progress(study: studyID))

        let heartbeat = Heartbeat(ledger: ledger, owner: owner)
        heartbeat.start()
        defer { heartbeat.stop() }

        DispatchQueue.concurrentPerform(iterations: jobs) { _ in
            while !shared.failed {
                do {
                    guard let claim = try ledger.claimRun(study: studyID, owner: owner) else { return }
                    guard let entry = objectiveTable[claim.run.objective] else {
                        throw StudyError.badRecord("run \(claim.run.id!) names objective id \(claim.run.objective)")
                    }
                    try execute(claim, entry.objective, shared: shared)
                } catch LedgerError.lostClaim {
                    // Another process judged us dead and took the run over; it owns it now.
                    continue
                } catch {
                    shared.fail(error)
                    return
                }
            }
        }
        if let error = shared.error { throw error }
        var result = shared.result
        result.progress = try ledger.progress(study: studyID)
        result.runsHeldElsewhere = try ledger.runsHeldElsewhere(study: studyID, owner: owner).count
        reporter?.finish(progress: result.progress, heldElsewhere: result.runsHeldElsewhere)
        return result
    }

    func label(_ run: RunRecord, _ objective: any Objective) -> String {
        "run \(run.id!) (\(objective.name) / \(run.optimizer) / seed \(run.seed))"
    }

    func execute(_ claim: RunClaim, _ objective: any Objective, shared: Shared) throws {
        let run = claim.run
        let runID = run.id!
        guard let opt = prepared.spec.optimizers.first(where: { $0.name == run.optimizer }) else {
            throw StudyError.badRecord("run \(runID) names optimizer '\(run.optimizer)', which the spec lacks")
        }
        let space = objective.space
        let optimizer = try OptimizerFactory.make(opt.config, dimension: space.dimension, budget: run.budget,
                                                  seed: run.optimizerSeedValue)
        // Replay: the ledger is the truth; the fresh optimizer adopts the recorded points in order.
        for (i, trial) in claim.trials.enumerated() {
            guard trial.number == i + 1 else {
                throw StudyError.ledgerGap(run: label(run, objective), expected: i + 1, found: trial.number)
            }
            guard let recorded = parseJSONArray(trial.unit) else {
                throw StudyError.badRecord("trial \(trial.number) of \(label(run, objective)): unit = \(trial.unit)")
            }
            try optimizer.adopt(recorded)
            try optimizer.tell(i, trial.state == .complete ? trial.value : nil)
        }
        shared.update {
            $0.trialsReplayed += claim.trials.count
            $0.staleTrialsRerun += claim.staleTrialsRemoved
        }

        var number = claim.trials.count + 1
        while number <= run.budget {
            if shared.failed {
                // Another worker failed: hand the run back so a later launch can continue it.
                try? ledger.releaseRun(runID, owner: owner)
                return
            }
            let unit = try optimizer.ask()
            let x = space.fromUnit(unit)
            let started = Date()
            var trial = try ledger.beginTrial(
                TrialRecord(run: runID, number: number, params: jsonObject(names: space.names, values: x),
                            unit: jsonArray(unit), state: .running, started: started),
                owner: owner)
            let clock = ContinuousClock.now
            var value: Double?
            var failure: String?
            do {
                let (v, extras) = try objective.evaluateWithExtras(x)
                if v.isFinite { value = v } else { failure = ObjectiveError.nonFinite(v).description }
                if let extras {
                    let names = extras.keys.sorted()
                    trial.extras = jsonObject(names: names, values: names.map { extras[$0]! })
                }
            } catch {
                failure = String(describing: error)
            }
            let elapsed = ContinuousClock.now - clock
            trial.value = value
            trial.state = value == nil ? .fail : .complete
            trial.error = failure
            trial.finished = Date()
            trial.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            // Committed before the optimizer hears of it: a crash after this line loses nothing.
            try ledger.finishTrial(trial, owner: owner)
            try optimizer.tell(number - 1, value)  // trial ids count from 0
            shared.update { $0.trialsEvaluated += 1 }
            reporter?.trialFinished()
            number += 1
        }
        try ledger.finishRun(runID, owner: owner)
        shared.update { $0.runsCompleted += 1 }
        reporter?.runFinished(label(run, objective))
    }
}

/// Refreshes this process's claims every few seconds so that processes on other hosts can
/// tell a live owner from a dead one (on this host, the pid is checked instead).
final class Heartbeat: @unchecked Sendable {
    let ledger: Ledger
    let owner: Owner
    let interval: TimeInterval
    private let lock = NSLock()
    private var stopped = false
    private var thread: Thread?

    init(ledger: Ledger, owner: Owner, interval: TimeInterval = 30) {
        self.ledger = ledger; self.owner = owner; self.interval = interval
    }

    func start() {
        let t = Thread { [self] in
            var last = Date()
            while !isStopped {
                Thread.sleep(forTimeInterval: 0.2)
                if Date().timeIntervalSince(last) >= interval {
                    try? ledger.heartbeat(owner: owner)
                    last = Date()
                }
            }
        }
        thread = t
        t.start()
    }

    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
    func stop() { lock.lock(); stopped = true; lock.unlock() }
}

// MARK: Entry points used by the CLI

public enum StudyEngine {
    /// `study launch SPEC`: creates the study in the ledger (or finds it, launched before with
    /// the same spec) and runs whatever is left of it.
    public static func launch(specURL: URL, ledgerPath: String, jobs: Int = 1,
                              reporter: ProgressReporter? = nil) throws -> (StudyRecord, RunnerResult) {
        try launch(spec: try StudySpec.load(specURL), ledgerPath: ledgerPath, jobs: jobs, reporter: reporter)
    }

    /// The same from a spec already read (e.g. a benchmark that keeps some optimizers only).
    public static func launch(spec: StudySpec, ledgerPath: String, jobs: Int = 1,
                              reporter: ProgressReporter? = nil) throws -> (StudyRecord, RunnerResult) {
        let prepared = try PreparedStudy.prepare(spec)
        let ledger = try Ledger(path: ledgerPath)
        let study = try StudyStore.open(prepared, in: ledger)
        let result = try StudyRunner(ledger: ledger, study: study, prepared: prepared, jobs: jobs, reporter: reporter).run()
        return (study, result)
    }

    /// `study resume NAME`: continues a study from the spec stored in the ledger.
    public static func resume(name: String, ledgerPath: String, jobs: Int = 1,
                              reporter: ProgressReporter? = nil) throws -> (StudyRecord, RunnerResult) {
        let ledger = try Ledger(path: ledgerPath)
        let (study, spec) = try StudyStore.spec(of: name, in: ledger)
        let prepared = try PreparedStudy.prepare(spec)
        let result = try StudyRunner(ledger: ledger, study: study, prepared: prepared, jobs: jobs, reporter: reporter).run()
        return (study, result)
    }
}
