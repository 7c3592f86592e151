import Foundation
import Executors
import Ledger
import MergetuneNumerics
import Optimizers

/// What one `launch`/`resume` did in this process.
public struct RunnerResult: Sendable, Equatable {
    /// Runs this process finished.
    public var runsCompleted = 0
    /// Attempts that ended in this process (evaluated now, not replayed).
    public var trialsEvaluated = 0
    /// Trials replayed from the ledger into fresh optimizers.
    public var trialsReplayed = 0
    /// Attempts a dead coordinator left running that were re-run as new attempts.
    public var staleTrialsRerun = 0
    /// Attempts of a dead coordinator that were still running and were waited for, not re-run.
    public var trialsReattached = 0
    /// Set when a signal or `study stop` ended the coordinator before the study was done.
    public var stopped: StopRequest.Kind? = nil
    public var progress = StudyProgress(runsDone: 0, runsTotal: 0, trialsDone: 0, trialsTotal: 0)
    public var studyDone: Bool { progress.runsDone == progress.runsTotal }
}

/// A request to stop the coordinator, set from a signal handler or a test.
public final class StopRequest: @unchecked Sendable {
    public enum Kind: String, Sendable, Equatable {
        /// Cancel running attempts (SIGINT, SIGTERM; `study stop`).
        case cancel
        /// Ask nothing new, let running attempts finish (`study stop --wait`, SIGUSR1).
        case drain
    }
    private let lock = NSLock()
    private var kind: Kind?
    /// The signal that asked for it (for the exit status 128 + n).
    public private(set) var signal: Int32 = 0
    public init() {}
    public func request(_ k: Kind, signal: Int32 = 0) {
        lock.lock(); defer { lock.unlock() }
        if kind != .cancel { kind = k; self.signal = signal }
    }
    public var requested: Kind? { lock.lock(); defer { lock.unlock() }; return kind }
}

/// The coordinator of one study: the only writer of its trials. It keeps every unfinished run's
/// optimizer in memory, asks points while its executor has free slots (at most `batch` trials
/// in flight per run), hands attempts to the executor, commits each outcome before telling the
/// optimizer, retries failed attempts by policy, and ends when every run has its budget.
///
/// Restart after a crash (kill -9 at any moment): each run's optimizer is rebuilt from its seed
/// by replaying the ledger's events in their recorded order (warm starts, asks as `adopt` of the
/// recorded point, tells); attempts recorded as running are reattached (process executors: the
/// job still runs or has left its result file) or, in-process, re-run as new attempts.
/// Design: docs/architecture.md ("The study core"); guarantees: docs/studies.md.
public final class Coordinator {
    let ledger: Ledger
    var study: StudyRecord
    let prepared: PreparedStudy
    let execution: ExecutionSpec
    let executor: any TrialExecutor
    let reporter: ProgressReporter?
    let owner: Owner
    let stop: StopRequest
    /// Root of the attempt directories (process executors).
    let trialRoot: URL
    /// The mergetune binary that process executors run as the worker (`trial eval`).
    let workerBinary: String

    final class RunState {
        var record: RunRecord
        let objective: any Objective
        /// The objective's spec, its retry policy and its constraints (command objectives).
        var spec: ObjectiveSpec! = nil
        var retries = 0
        var retryOn: Set<FailureReason> = []
        var constraints: [(metric: String, min: Double?, max: Double?, text: String)] = []
        let optimizer: any Optimizer
        /// The run's trials by number − 1.
        var trials: [TrialRecord] = []
        var nextSeq = 0
        var told = 0
        /// Numbers of trials waiting for a slot, in order.
        var waiting: [Int] = []
        /// Numbers of final trials not yet told (deterministic mode tells in ask order).
        var untold: Set<Int> = []
        var warmPoints: [[Double]] = []
        var done = false
        init(record: RunRecord, objective: any Objective, optimizer: any Optimizer) {
            self.record = record; self.objective = objective; self.optimizer = optimizer
        }
        var pending: Int { trials.count - told }
        var warmCount: Int { warmPoints.count }
    }

    struct InFlight {
        let run: Int
        let number: Int
        var attempt: AttemptRecord
        let handle: AttemptHandle
    }

    var runs: [RunState] = []
    var inFlight: [AttemptHandle: InFlight] = [:]
    var busySlots: Set<Int> = []
    var result = RunnerResult()
    var slots: Int { executor.slots }
    var retryOn: Set<FailureReason>
    var roundRobin = 0
    var progress = StudyProgress(runsDone: 0, runsTotal: 0, trialsDone: 0, trialsTotal: 0)
    /// `keep_best`: each such objective's best finished trials, best first (`pruneCheckpoints`).
    var bestCheckpoints: [Int64: [TrialRecord]] = [:]

    public init(ledger: Ledger, study: StudyRecord, prepared: PreparedStudy, executor: any TrialExecutor,
                execution: ExecutionSpec, reporter: ProgressReporter? = nil, owner: Owner = .current,
                stop: StopRequest = StopRequest(), trialRoot: URL? = nil, workerBinary: String? = nil) {
        self.ledger = ledger; self.study = study; self.prepared = prepared; self.executor = executor
        self.execution = execution; self.reporter = reporter; self.owner = owner; self.stop = stop
        self.trialRoot = trialRoot ?? Coordinator.defaultTrialRoot(ledgerPath: ledger.path)
        self.workerBinary = workerBinary ?? Coordinator.currentExecutable()
        retryOn = execution.retryOn.map { Set($0.compactMap(FailureReason.init(rawValue:))) } ?? FailureReason.retriedByDefault
    }

    /// `<ledger>.trials/` beside the ledger file.
    public static func defaultTrialRoot(ledgerPath: String) -> URL {
        let url = URL(fileURLWithPath: ledgerPath).standardizedFileURL
        return url.deletingPathExtension().appendingPathExtension("trials")
    }

    static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    // MARK: Running

    public func run() throws -> RunnerResult {
        // One BLAS thread per worker: OpenBLAS's own threads fight the study's (2.7x on a
        // 540-run study), and a fixed count keeps GP-BO's and CMA-ES's asks reproducible.
        _ = try BLAS.pinThreads()
        study = try ledger.claimStudy(study.id!, owner: owner)
        let heartbeat = StudyHeartbeat(ledger: ledger, study: study.id!, owner: owner)
        heartbeat.start()
        defer { heartbeat.stop() }
        try load()
        try primeDeterministic()
        reporter?.start(study: study.name, progress: progress)
        var failure: Error?
        do { try loop() } catch { failure = error }
        if let failure {
            // Leave the study resumable: running attempts keep running (process executors) and are
            // reattached by the next coordinator; release the claim so it can start at once.
            try? ledger.releaseStudy(study.id!, owner: owner, status: "running")
            throw failure
        }
        let allDone = runs.allSatisfy(\.done)
        let status = allDone ? "done" : stop.requested != nil ? "stopped" : "running"
        try ledger.releaseStudy(study.id!, owner: owner, status: status)
        ledger.close()
        result.stopped = allDone ? nil : stop.requested
        result.progress = try ledger.progress(of: study, spec: prepared.spec)
        reporter?.finish(progress: result.progress)
        return result
    }

    /// Rebuilds every unfinished run from the ledger.
    func load() throws {
        let studyID = study.id!
        var objectiveByID: [Int64: any Objective] = [:]
        for o in try ledger.objectives(study: studyID) {
            guard let index = prepared.spec.objectives.firstIndex(where: { $0.name == o.name }) else {
                throw StudyError.objectiveMissing(study: study.name, objective: o.name)
            }
            objectiveByID[o.id!] = prepared.objectives[index]
        }
        let allRuns = try ledger.runs(study: studyID)
        let trialsByRun = Dictionary(grouping: try ledger.trials(study: studyID), by: \.run)
        let running = Dictionary(grouping: try ledger.runningAttempts(study: studyID).map(\.1), by: \.trial)
        let references = Dictionary(grouping: try ledger.references(study: studyID), by: \.objective)
        let open = allRuns.filter { $0.status != "done" }
        // In-process studies compare optimizers: one trial in flight per run keeps their trials
        // independent of --jobs. Process executors (expensive trials) fill their slots.
        let defaultBatch = executor.kind == "inprocess" ? 1 : max(1, Int((Double(slots) / Double(max(1, open.count))).rounded(.up)))
        progress = StudyProgress(runsDone: allRuns.count - open.count, runsTotal: allRuns.count,
                                 trialsDone: trialsByRun.values.reduce(0) { $0 + $1.filter { $0.state.isFinal }.count },
                                 trialsTotal: allRuns.reduce(0) { $0 + $1.budget })
        if prepared.spec.hasFidelities {  // budgets in cost: progress too (Fidelities.swift)
            let names = Dictionary(uniqueKeysWithValues: objectiveByID.map { ($0.key, $0.value.name) })
            let objectiveOfRun = Dictionary(uniqueKeysWithValues: allRuns.map { ($0.id!, names[$0.objective] ?? "") })
            progress.costDone = prepared.spec.costDone(trialsByRun.flatMap { run, trials in
                trials.filter { $0.state.isFinal }.map { (objective: objectiveOfRun[run] ?? "", fidelity: $0.fidelity, count: 1) }
            })
        }
        var reattach: [(AttemptHandle, AttemptSpec)] = []
        var fresh: Set<Int64> = []  // a set: looked up once per run below
        for record in open {
            guard let objective = objectiveByID[record.objective] else {
                throw StudyError.badRecord("run \(record.id!) names objective id \(record.objective)")
            }
            guard let opt = prepared.spec.optimizers.first(where: { $0.name == record.optimizer }) else {
                throw StudyError.badRecord("run \(record.id!) names optimizer '\(record.optimizer)', which the spec lacks")
            }
            let optimizer = try OptimizerFactory.make(prepared.spec.optimizerConfig(opt), dimension: objective.space.dimension, budget: record.budget,
                                                   seed: record.optimizerSeedValue,
                                                   fidelityCount: prepared.spec.objectives.first { $0.name == objective.name }?.fidelities?.count)
            let state = RunState(record: record, objective: objective, optimizer: optimizer)
            if record.status == "pending" {
                state.record.batch = execution.batch ?? defaultBatch
                fresh.insert(record.id!)
            }
            let spec = prepared.spec.objectives.first { $0.name == objective.name }!
            state.spec = spec
            state.retries = spec.command?.retries ?? execution.retries
            state.retryOn = spec.command?.retryOn.map { Set($0.compactMap(FailureReason.init(rawValue:))) } ?? retryOn
            state.constraints = try resolvedConstraints(spec, references[record.objective] ?? [])
            state.warmPoints = try warmStartPoints(spec, objective, references[record.objective] ?? [])
            state.trials = trialsByRun[record.id!] ?? []
            try replay(state)
            let index = runs.count
            runs.append(state)
            // Trials the last coordinator left unfinished.
            for trial in state.trials where !trial.state.isFinal {
                if let attempt = running[trial.id!]?.last, let jobID = attempt.jobID ?? (executor.kind == "inprocess" ? "stale-\(attempt.id!)" : nil),
                   attempt.executor == executor.kind {
                    let handle = AttemptHandle(executor: attempt.executor, jobID: jobID, host: attempt.host, slot: attempt.slot ?? 0)
                    inFlight[handle] = InFlight(run: index, number: trial.number, attempt: attempt, handle: handle)
                    busySlots.insert(handle.slot)
                    reattach.append((handle, AttemptSpec(label: label(state, trial.number, attempt.number), directory: attempt.directory ?? "")))
                    if executor.kind != "inprocess" { result.trialsReattached += 1 }
                } else if let attempt = running[trial.id!]?.last {
                    // Recorded on another executor (or before its job id was known): cannot be
                    // reattached here; recorded as interrupted and run again.
                    try closeAttempt(state, trial.number, attempt, .failed(.interrupted, "its \(attempt.executor) attempt cannot be reattached by the \(executor.kind) executor"))
                    result.staleTrialsRerun += 1
                } else if trial.state == .waiting || trial.state == .running {
                    state.waiting.append(trial.number)
                }
            }
            // Deterministic mode: final trials whose tell waits for an earlier trial.
            for trial in state.trials where trial.state.isFinal && trial.tellSeq == nil { state.untold.insert(trial.number) }
        }
        if !fresh.isEmpty {
            try ledger.write(study: studyID, owner: owner) { w in
                for state in runs where fresh.contains(state.record.id!) { try w.startRun(state.record.id!, batch: state.record.batch) }
            }
        }
        if !reattach.isEmpty {
            try executor.reattach(reattach)
            if executor.kind == "inprocess" { result.staleTrialsRerun += reattach.count }
        }
        for state in runs { try createWarmStarts(state) }
    }

    /// The points of the references named by `warm_start` (in the order named).
    func warmStartPoints(_ spec: ObjectiveSpec, _ objective: any Objective, _ references: [ReferenceRecord]) throws -> [[Double]] {
        try spec.warmStart.map { name in
            guard let r = references.first(where: { $0.method == name }), let params = r.params else {
                throw SpecError(file: prepared.spec.source, key: "objectives.warm_start",
                                "objective '\(spec.name)' has no reference '\(name)' with parameters (references: \(references.map(\.method).joined(separator: ", ")))")
            }
            let values = parseParams(params)
            return objective.space.toUnit(objective.space.names.map { values[$0] ?? .nan }).map { min(1, max(0, $0)) }
        }
    }

    /// Re-applies a run's recorded events in order (the ledger is the truth: asks are adopted).
    func replay(_ state: RunState) throws {
        enum Event { case ask(Int), tell(Int) }
        var events: [(Int, Event)] = []
        for (i, t) in state.trials.enumerated() {
            guard t.number == i + 1 else {
                throw StudyError.ledgerGap(run: label(state), expected: i + 1, found: t.number)
            }
            events.append((t.askSeq ?? 2 * i, .ask(i)))
            if let s = t.tellSeq { events.append((s, .tell(i))) }
        }
        events.sort { $0.0 < $1.0 }
        for (seq, event) in events {
            state.nextSeq = max(state.nextSeq, seq + 1)
            switch event {
            case .ask(let i):
                let t = state.trials[i]
                guard t.origin == .optimizer else { continue }
                try adoptRecorded(state, try recordedUnit(t, of: state), fidelity: t.fidelity)
            case .tell(let i):
                try tellOptimizer(state, state.trials[i])
                state.told += 1
            }
        }
        result.trialsReplayed += state.told
        if budgetSpent(state, told: state.told) { state.done = true }
    }

    /// A trial's recorded point in the unit box.
    func recordedUnit(_ t: TrialRecord, of state: RunState) throws -> [Double] {
        guard let unit = parseJSONArray(t.unit) else { throw StudyError.badRecord("trial \(t.number) of \(label(state)): unit = \(t.unit)") }
        return unit
    }

    /// A run's warm-start trials are created when it first starts.
    func createWarmStarts(_ state: RunState) throws {
        guard state.trials.isEmpty, !state.warmPoints.isEmpty else { return }
        guard state.warmCount < state.record.budget else {
            throw SpecError(file: prepared.spec.source, key: "objectives.warm_start",
                            "\(state.warmCount) warm-start points leave nothing of the budget \(state.record.budget) of \(label(state))")
        }
        try ledger.write(study: study.id!, owner: owner) { w in
            for point in state.warmPoints { try appendTrial(state, unit: point, origin: .warmStart, writer: w) }
        }
    }

    /// Records a new trial (WAITING) of a run: the ask event.
    @discardableResult
    func appendTrial(_ state: RunState, unit: [Double], fidelity: Int? = nil, origin: TrialOrigin, writer w: LedgerWriter) throws -> Int {
        let space = state.objective.space
        let x = space.fromUnit(unit)
        let number = state.trials.count + 1
        var trial = TrialRecord(run: state.record.id!, number: number, params: jsonObject(names: space.names, values: x),
                                unit: jsonArray(unit), state: .waiting, started: Date(), askSeq: state.nextSeq, origin: origin)
        if state.budgetsCost {
            trial.fidelity = fidelity ?? state.spec.fidelities!.count - 1
            trial.cost = state.spec.cost(fidelity: trial.fidelity)
        }
        state.nextSeq += 1
        try w.insert(&trial)
        state.trials.append(trial)
        state.waiting.append(number)
        return number
    }

    func label(_ state: RunState) -> String {
        "run \(state.record.id!) (\(state.objective.name) / \(state.record.optimizer) / seed \(state.record.seed))"
    }

    func label(_ state: RunState, _ number: Int, _ attempt: Int) -> String {
        "\(study.name)-r\(state.record.id!)-t\(number)-a\(attempt)"
    }

    /// Whether the run may ask its optimizer for another trial now, with `planned` asks of this
    /// scheduling round not yet recorded.
    func canAsk(_ state: RunState, planned: Int = 0, plannedCost: Double = 0) -> Bool {
        !state.done && stop.requested == nil && underBudget(state, planned: planned, plannedCost: plannedCost)
            && state.pending + planned < state.record.batch && state.told >= state.warmCount && state.trials.count >= state.warmCount
    }

    func loop() throws {
        var lastStopSeen: StopRequest.Kind?
        var lastStatus = Date.distantPast
        while true {
            let requested = stop.requested
            if requested == .cancel && lastStopSeen != .cancel {
                for handle in inFlight.keys { try? executor.cancel(handle) }
            }
            lastStopSeen = requested
            if requested == nil { try schedule() }
            if inFlight.isEmpty {
                if runs.allSatisfy(\.done) || requested != nil { return }
                if !runs.contains(where: { !$0.waiting.isEmpty || canAsk($0) }) {
                    throw StudyError.badRecord("study '\(study.name)': no trial can start and none is running (runs: \(runs.filter { !$0.done }.map { label($0) }.joined(separator: "; ")))")
                }
                continue
            }
            // Counting waiting trials is O(runs): at most a few times a second.
            if let reporter, Date().timeIntervalSince(lastStatus) > 0.2 {
                reporter.status(running: inFlight.count, waiting: runs.reduce(0) { $0 + $1.waiting.count })
                lastStatus = Date()
            }
            let ended = try executor.wait(timeout: 0.25)
            if !ended.isEmpty { try ingest(ended) }
            // An executor that holds nothing while attempts are still ours in flight has reported
            // them under handles we do not know: fail loudly instead of waiting forever.
            if !inFlight.isEmpty && executor.inFlight.isEmpty && ended.isEmpty {
                let lost = inFlight.values.map { "\($0.handle.executor) job \($0.handle.jobID) (trial \($0.number) of \(label(runs[$0.run])))" }
                throw StudyError.badRecord("the \(executor.kind) executor no longer tracks \(lost.sorted().joined(separator: ", ")); resume the study to reattach them")
            }
        }
    }

    /// Fills free slots: waiting trials first (retries, warm starts), then new asks, taking the
    /// runs in turn. Deterministic mode asks right after each tell instead (`askDeterministic`).
    func schedule() throws {
        var submissions: [(RunState, Int, Int, Int)] = []  // run, trial number, slot, run index
        var free = (0..<slots).filter { !busySlots.contains($0) }
        guard !free.isEmpty, !runs.isEmpty else { return }
        var asks: [(unit: [Double], fidelity: Int?)] = []
        var looked = 0
        var index = roundRobin % runs.count
        var plannedPending: [Int: Int] = [:]
        var plannedCost: [Int: Double] = [:]
        while !free.isEmpty && looked < runs.count {
            let state = runs[index]
            var took = false
            if let number = state.waiting.first {
                state.waiting.removeFirst()
                submissions.append((state, number, free.removeFirst(), index))
                took = true
            } else if !execution.deterministic {
                let planned = plannedPending[index, default: 0]
                if canAsk(state, planned: planned, plannedCost: plannedCost[index, default: 0]) {
                    let ask = try askPoint(state)
                    asks.append(ask)
                    plannedPending[index] = planned + 1
                    if state.budgetsCost { plannedCost[index, default: 0] += state.spec.cost(fidelity: ask.fidelity) }
                    submissions.append((state, -1, free.removeFirst(), index))
                    took = true
                }
            }
            if took { looked = 0 } else { looked += 1 }
            index = (index + 1) % runs.count
        }
        roundRobin = index
        guard !submissions.isEmpty else { return }
        // Record the asks and the attempts, then start them.
        var starts: [(RunState, Int, AttemptRecord, Int)] = []
        var askIterator = asks.makeIterator()
        try ledger.write(study: study.id!, owner: owner) { w in
            for (state, n, slot, index) in submissions {
                var number = n
                if number < 0 {
                    let ask = askIterator.next()!
                    number = try appendTrial(state, unit: ask.unit, fidelity: ask.fidelity, origin: .optimizer, writer: w)
                    state.waiting.removeAll { $0 == number }
                }
                var trial = state.trials[number - 1]
                trial.attempts += 1
                trial.state = .running
                let directory = executor.kind == "inprocess" && !state.objective.needsAttemptDirectory
                    ? nil : attemptDirectory(state, number, trial.attempts).path
                var attempt = AttemptRecord(trial: trial.id!, number: trial.attempts, executor: executor.kind,
                                            slot: slot, directory: directory, started: Date())
                try w.insert(&attempt)
                try w.update(trial)
                state.trials[number - 1] = trial
                starts.append((state, number, attempt, index))
            }
        }
        for (state, number, attempt, index) in starts {
            let spec = try attemptSpec(state, number, attempt)
            do {
                let handle = try executor.submit(spec, slot: attempt.slot!)
                var a = attempt
                a.jobID = handle.jobID
                a.host = handle.host
                inFlight[handle] = InFlight(run: index, number: number, attempt: a, handle: handle)
                busySlots.insert(handle.slot)
                // A process attempt's job id is committed as soon as it is known, so that a
                // coordinator killed now finds the job again (in-process ones need none).
                if executor.kind != "inprocess" { try ledger.write(study: study.id!, owner: owner) { w in try w.update(a) } }
            } catch {
                try ingestOutcome(state, number, attempt, .failed(.submitFailed, String(describing: error)))
            }
        }
    }

    func attemptDirectory(_ state: RunState, _ number: Int, _ attempt: Int) -> URL {
        trialRoot.appendingPathComponent(study.name).appendingPathComponent("r\(state.record.id!)")
            .appendingPathComponent("t\(number)").appendingPathComponent("a\(attempt)")
    }

    /// What the executor runs: in-process, the objective itself; otherwise the worker command
    /// (`mergetune trial eval`) in a fresh attempt directory holding `trial.json`.
    func attemptSpec(_ state: RunState, _ number: Int, _ attempt: AttemptRecord) throws -> AttemptSpec {
        let trial = state.trials[number - 1]
        let objective = state.objective
        let x = objective.space.fromUnit(try recordedUnit(trial, of: state))
        let name = label(state, number, attempt.number)
        let checkpoint = state.spec.command?.merge == nil ? nil
            : TrialPaths.trialCheckpoint(state.spec, study: study.name, trialRoot: trialRoot, run: state.record.id!, trial: number)
        // The fidelity's value the evaluator gets (nil: an objective without fidelities).
        let fidelity = trial.fidelity.flatMap { f in state.spec.fidelities.map { $0[f].value } }
        if executor.kind == "inprocess" {
            guard objective.needsAttemptDirectory, let directory = attempt.directory else {
                guard let fidelity else { return AttemptSpec(label: name, directory: "", inProcess: { TrialWorker.evaluate(objective, x) }) }
                let context = AttemptContext(study: study.name, run: state.record.id!, trial: number, attempt: attempt.number,
                                             seed: state.record.seed, directory: "", fidelity: fidelity)
                return AttemptSpec(label: name, directory: "", inProcess: { objective.evaluateAttempt(x, context: context) })
            }
            let context = AttemptContext(study: study.name, run: state.record.id!, trial: number, attempt: attempt.number,
                                         seed: state.record.seed, directory: directory, checkpoint: checkpoint, fidelity: fidelity)
            return AttemptSpec(label: name, directory: directory, inProcess: { objective.evaluateAttempt(x, context: context) })
        }
        let dir = URL(fileURLWithPath: attempt.directory!)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try TrialWorker.processAttempt(TrialFile(objective: state.spec, params: x, study: study.name, run: state.record.id!,
                                                        trial: number, attempt: attempt.number, seed: state.record.seed,
                                                        checkpoint: checkpoint, fidelity: fidelity),
                                              label: name, directory: dir, workerBinary: workerBinary, timeout: execution.timeout)
    }

    /// A command objective's constraints with their bounds resolved against the references'
    /// recorded metrics (measured when the study was created).
    func resolvedConstraints(_ spec: ObjectiveSpec, _ references: [ReferenceRecord]) throws -> [(metric: String, min: Double?, max: Double?, text: String)] {
        guard let constraints = spec.command?.constraints ?? spec.constraints, !constraints.isEmpty else { return [] }
        var metrics: [String: [String: Double]] = [:]
        for r in references { metrics[r.method] = r.extras.map(parseParams) ?? [:] }
        return try constraints.map { c in
            let b = try c.resolved(metrics)
            return (c.metric, b.min, b.max, b.text)
        }
    }

    /// Nil when the outcome satisfies every constraint; else why not.
    func violation(_ state: RunState, _ extras: [String: Double]?) -> String? {
        for c in state.constraints {
            guard let v = extras?[c.metric] else { return "the evaluator recorded no '\(c.metric)' (constraint \(c.text))" }
            if let lo = c.min, v < lo { return "\(c.metric) = \(v) violates \(c.text)" }
            if let hi = c.max, v > hi { return "\(c.metric) = \(v) violates \(c.text)" }
        }
        return nil
    }

    // MARK: Outcomes

    func ingest(_ ended: [(AttemptHandle, AttemptOutcome)]) throws {
        var finished: [(RunState, Int, AttemptRecord, AttemptOutcome)] = []
        for (handle, outcome) in ended {
            guard let f = inFlight.removeValue(forKey: handle) else { continue }
            busySlots.remove(handle.slot)
            finished.append((runs[f.run], f.number, f.attempt, outcome))
        }
        guard !finished.isEmpty else { return }
        for (state, number, attempt, outcome) in finished { try ingestOutcome(state, number, attempt, outcome) }
    }

    /// Records how an attempt ended, decides retry or final, and tells the optimizer (after
    /// the commit) when the order allows.
    func ingestOutcome(_ state: RunState, _ number: Int, _ attempt: AttemptRecord, _ outcome: AttemptOutcome) throws {
        var trial = state.trials[number - 1]
        var a = attempt
        let now = Date()
        a.finished = now
        a.seconds = outcome.seconds ?? now.timeIntervalSince(attempt.started)
        a.exitCode = outcome.exitCode.map(Int.init)
        a.signal = outcome.signal.map(Int.init)
        if let host = outcome.host { a.host = host }
        a.detail = outcome.detail
        var value = outcome.value
        var failure = outcome.failure
        if let v = value, !v.isFinite { value = nil; failure = .nonFinite }
        if value == nil && failure == nil { failure = .noOutput }
        if value != nil, let metrics = state.spec.metrics {
            // Multi-objective: the value is the first metric; a missing metric fails the trial.
            if let v = MultiObjective.vector(metrics, outcome.extras) { value = v[0] } else {
                value = nil; failure = .noOutput
                a.detail = MultiObjective.missing(metrics, outcome.extras)
            }
        }
        if value != nil, let why = violation(state, outcome.extras) {
            // Measured, but outside the constraints: a failed trial the optimizer learns
            // nothing from; its metrics stay in the trial's extras.
            value = nil; failure = .infeasible
            a.detail = why
        }
        a.state = value != nil ? .complete : .fail
        a.reason = failure?.rawValue
        if failure != .interrupted { result.trialsEvaluated += 1 }
        var final = false
        if let extras = outcome.extras, !extras.isEmpty {
            let names = extras.keys.sorted()
            trial.extras = jsonObject(names: names, values: names.map { extras[$0]! })
        }
        if let value {
            trial.state = .complete
            trial.value = value
            trial.error = nil
            final = true
        } else if failure == .infeasible {
            trial.state = .fail
            trial.value = nil
            trial.error = "infeasible: \(a.detail ?? "")"
            final = true
        } else if let reason = failure {
            let retriesUsed = try retriesSpent(trial, excluding: a)
            if FailureReason.alwaysRerun.contains(reason) {
                trial.state = .waiting
            } else if state.retryOn.contains(reason) && retriesUsed < state.retries && stop.requested == nil {
                trial.state = .waiting
            } else {
                trial.state = .fail
                trial.value = nil
                trial.error = "\(reason.rawValue)" + (a.detail.map { ": \($0)" } ?? "")
                final = true
            }
        }
        if final {
            trial.finished = now
            trial.seconds = a.seconds
        }
        // Which tells happen now: on arrival, or in ask order (deterministic).
        var tells: [Int] = []
        state.trials[number - 1] = trial
        if final {
            state.untold.insert(number)
            tells = nextTells(state)
        }
        let tellSeqs = tells.map { n -> (Int, Int) in defer { state.nextSeq += 1 }; return (n, state.nextSeq) }
        for (n, seq) in tellSeqs { state.trials[n - 1].tellSeq = seq }
        let runDone = budgetSpent(state, told: state.told + tells.count)
        try ledger.write(study: study.id!, owner: owner) { w in
            try w.update(a)
            for (n, _) in tellSeqs where n != number { try w.update(state.trials[n - 1]) }
            try w.update(state.trials[number - 1])
            if runDone { try w.finishRun(state.record.id!) }
        }
        if trial.state == .waiting { state.waiting.append(number) }
        // Committed: now the optimizer hears of it.
        for n in tells {
            state.untold.remove(n)
            try tellOptimizer(state, state.trials[n - 1])
            state.told += 1
            progress.trialsDone += 1
            let cost = state.spec.relativeCost(fidelity: state.trials[n - 1].fidelity)
            if progress.costDone != nil { progress.costDone! += cost }
            reporter?.trialFinished(cost: cost)
            if execution.deterministic { try askDeterministic(state) }
        }
        if runDone {
            state.done = true
            progress.runsDone += 1
            result.runsCompleted += 1
            reporter?.runFinished(label(state))
        }
        if final, let k = state.spec.command?.merge?.keepBest { try pruneCheckpoints(state, finished: state.trials[number - 1], keep: k) }
    }

    /// `keep_best = k`: the checkpoints of the k best finished trials of the objective (over all
    /// its runs) stay; those of every other finished trial are deleted. Trials still running or
    /// waiting keep theirs (a retry reuses it). The best k of each objective are kept here,
    /// read from the ledger once (the first prune after a start or resume, which also deletes
    /// what a crash left behind), then updated with each finished trial. Only full-fidelity trials
    /// count as best (a cheap score is not comparable).
    func pruneCheckpoints(_ state: RunState, finished trial: TrialRecord, keep k: Int) throws {
        let objective = state.record.objective
        // Best first: higher value, then the earlier trial.
        func better(_ a: TrialRecord, _ b: TrialRecord) -> Bool { (a.value!, -a.id!) > (b.value!, -b.id!) }
        func delete(_ t: TrialRecord) {
            let path = TrialPaths.trialCheckpoint(state.spec, study: study.name, trialRoot: trialRoot, run: t.run, trial: t.number)
            if FileManager.default.fileExists(atPath: path) { try? FileManager.default.removeItem(atPath: path) }
        }
        guard var best = bestCheckpoints[objective] else {
            let runIDs = Set(try ledger.runs(study: study.id!).filter { $0.objective == objective }.map { $0.id! })
            let finished = try ledger.trials(study: study.id!).filter { runIDs.contains($0.run) && $0.state.isFinal }
            let best = Array(finished.filter { $0.state == .complete && $0.value != nil && state.spec.isFullFidelity($0.fidelity) }
                .sorted(by: better).prefix(k))
            let keep = Set(best.map { $0.id! })
            for t in finished where !keep.contains(t.id!) { delete(t) }
            bestCheckpoints[objective] = best
            return
        }
        guard trial.state == .complete, trial.value != nil, state.spec.isFullFidelity(trial.fidelity) else { return delete(trial) }
        best.insert(trial, at: best.firstIndex { better(trial, $0) } ?? best.endIndex)
        if best.count > k { delete(best.removeLast()) }
        bestCheckpoints[objective] = best
    }

    /// Retries already spent on a trial: its earlier failed attempts whose reason used one.
    func retriesSpent(_ trial: TrialRecord, excluding current: AttemptRecord) throws -> Int {
        guard trial.attempts > 1 else { return 0 }
        return try ledger.attempts(trial: trial.id!).filter { a in
            a.number != current.number && a.state == .fail
                && !(a.reason.flatMap(FailureReason.init(rawValue:)).map(FailureReason.alwaysRerun.contains) ?? false)
        }.count
    }

    /// The trials to tell now: the new one on arrival, or (deterministic) every final trial
    /// whose predecessors have all been told.
    func nextTells(_ state: RunState) -> [Int] {
        if !execution.deterministic {
            // Warm starts are told together, in order, before the first ask.
            if state.told < state.warmCount {
                var out: [Int] = []
                var n = state.told + 1
                while n <= state.warmCount, state.untold.contains(n) { out.append(n); n += 1 }
                return out
            }
            return state.untold.sorted().filter { $0 > state.warmCount }
        }
        var out: [Int] = []
        var n = state.told + 1
        while state.untold.contains(n) { out.append(n); n += 1 }
        return out
    }

    /// Deterministic mode: after each tell the run asks at once (if it may), whether or not a
    /// slot is free, so the ask/tell sequence depends on the spec alone.
    func askDeterministic(_ state: RunState) throws {
        while canAsk(state) {
            let ask = try askPoint(state)
            try ledger.write(study: study.id!, owner: owner) { w in try appendTrial(state, unit: ask.unit, fidelity: ask.fidelity, origin: .optimizer, writer: w) }
        }
    }

    /// Ends an attempt found at startup that cannot be reattached.
    func closeAttempt(_ state: RunState, _ number: Int, _ attempt: AttemptRecord, _ outcome: AttemptOutcome) throws {
        var a = attempt
        a.state = .fail
        a.reason = outcome.failure?.rawValue
        a.detail = outcome.detail
        a.finished = Date()
        var trial = state.trials[number - 1]
        trial.state = .waiting
        try ledger.write(study: study.id!, owner: owner) { w in
            try w.update(a)
            try w.update(trial)
        }
        state.trials[number - 1] = trial
        state.waiting.append(number)
    }
}

extension Coordinator {
    /// Deterministic mode: the first asks of every run happen before the loop starts.
    func primeDeterministic() throws {
        guard execution.deterministic else { return }
        for state in runs where state.told >= state.warmCount { try askDeterministic(state) }
    }
}

/// Refreshes the coordinator's heartbeat every few seconds so that coordinators on other hosts
/// can tell it is alive (on this host the pid is checked instead).
final class StudyHeartbeat: @unchecked Sendable {
    let ledger: Ledger
    let study: Int64
    let owner: Owner
    let interval: TimeInterval
    private let lock = NSLock()
    private var stopped = false

    init(ledger: Ledger, study: Int64, owner: Owner, interval: TimeInterval = 30) {
        self.ledger = ledger; self.study = study; self.owner = owner; self.interval = interval
    }

    func start() {
        let t = Thread { [self] in
            var last = Date()
            while !isStopped {
                Thread.sleep(forTimeInterval: 0.2)
                if Date().timeIntervalSince(last) >= interval {
                    try? ledger.heartbeat(study: study, owner: owner)
                    last = Date()
                }
            }
        }
        t.start()
    }

    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
    func stop() { lock.lock(); stopped = true; lock.unlock() }
}
