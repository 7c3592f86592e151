import Foundation
import GRDB

// Plain Codable records, one per table of the ledger (schema: docs/studies.md, "Ledger").
// Column names are the coding keys; ids are SQLite rowids.

/// A study: its name (unique in a ledger) and the resolved spec it was launched with.
public struct StudyRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "studies"
    public var id: Int64?
    public var name: String
    /// The resolved spec as JSON; `study resume` rebuilds the study from it alone.
    public var spec: String
    public var created: Date
    /// "running" until every run is done, then "done"; "stopped" after `study stop` or a signal.
    public var status: String
    /// The coordinator running the study ("host/pid/start-ticks"), nil when none (v3).
    public var owner: String?
    /// The coordinator's last sign of life, seconds since 1970 (v3).
    public var heartbeat: Double?

    public init(id: Int64? = nil, name: String, spec: String, created: Date, status: String = "running") {
        self.id = id; self.name = name; self.spec = spec; self.created = created; self.status = status
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// An objective of a study, with the global extremes its normalized regret uses.
public struct ObjectiveRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "objectives"
    public var id: Int64?
    public var study: Int64
    public var name: String
    public var kind: String
    /// The objective's spec as JSON (landscape path and checksum, kernel, function, bounds...).
    public var definition: String
    /// Global minimum and maximum of the score over the box.
    public var fMin: Double
    public var fMax: Double
    /// Analyses computed once at launch (sum-to-one), as JSON; nil when none applies.
    public var analysis: String?

    enum CodingKeys: String, CodingKey {
        case id, study, name, kind, definition, analysis
        case fMin = "f_min", fMax = "f_max"
    }

    public init(id: Int64? = nil, study: Int64, name: String, kind: String, definition: String,
                fMin: Double, fMax: Double, analysis: String? = nil) {
        self.id = id; self.study = study; self.name = name; self.kind = kind; self.definition = definition
        self.fMin = fMin; self.fMax = fMax; self.analysis = analysis
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One optimizer on one objective with one seed: a sequence of `budget` trials.
public struct RunRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "runs"
    public var id: Int64?
    public var study: Int64
    public var objective: Int64
    /// The optimizer's name in the spec (several configurations of one kind may be compared).
    public var optimizer: String
    /// The study seed (an entry of the spec's seed list).
    public var seed: Int
    /// The optimizer's own seed, derived from (seed, objective, optimizer); stored as its bit pattern.
    public var optimizerSeed: Int64
    public var budget: Int
    /// "pending", "running" (claimed by `owner`) or "done".
    public var status: String
    /// Who claimed the run: "host/pid/process-start-ticks".
    public var owner: String?
    /// Last sign of life of the owner (seconds since 1970).
    public var heartbeat: Double?
    /// At most this many trials of the run are in flight at once (v3; 1 = sequential), fixed
    /// when the run first starts so that a deterministic run replays the same way.
    public var batch: Int = 1

    enum CodingKeys: String, CodingKey {
        case id, study, objective, optimizer, seed, budget, status, owner, heartbeat, batch
        case optimizerSeed = "optimizer_seed"
    }

    public init(id: Int64? = nil, study: Int64, objective: Int64, optimizer: String, seed: Int,
                optimizerSeed: UInt64, budget: Int, status: String = "pending") {
        self.id = id; self.study = study; self.objective = objective; self.optimizer = optimizer
        self.seed = seed; self.optimizerSeed = Int64(bitPattern: optimizerSeed); self.budget = budget
        self.status = status
    }

    public var optimizerSeedValue: UInt64 { UInt64(bitPattern: optimizerSeed) }

    // Columns added by v3 decode as their defaults from a ledger a read-only command did not migrate.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(Int64.self, forKey: .id)
        study = try c.decode(Int64.self, forKey: .study)
        objective = try c.decode(Int64.self, forKey: .objective)
        optimizer = try c.decode(String.self, forKey: .optimizer)
        seed = try c.decode(Int.self, forKey: .seed)
        optimizerSeed = try c.decode(Int64.self, forKey: .optimizerSeed)
        budget = try c.decode(Int.self, forKey: .budget)
        status = try c.decode(String.self, forKey: .status)
        owner = try c.decodeIfPresent(String.self, forKey: .owner)
        heartbeat = try c.decodeIfPresent(Double.self, forKey: .heartbeat)
        batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? 1
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The states of a trial: WAITING once asked (or after an interrupted attempt, until the next
/// one starts), RUNNING while an attempt runs, then COMPLETE (value set) or FAIL (error set).
public enum TrialState: String, Codable, Sendable {
    case waiting = "WAITING", running = "RUNNING", complete = "COMPLETE", fail = "FAIL"

    /// COMPLETE or FAIL: the trial has its outcome (it is told to the optimizer).
    public var isFinal: Bool { self == .complete || self == .fail }
}

/// Where a trial's point came from (v3 `trials.origin`).
public enum TrialOrigin: String, Codable, Sendable {
    /// Asked by the run's optimizer.
    case optimizer
    /// A warm-start point from the spec (closed forms, parents), evaluated before the first ask.
    case warmStart = "warm_start"
}

/// One evaluation of a run.
public struct TrialRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "trials"
    public var id: Int64?
    public var run: Int64
    /// 1-based position in the run.
    public var number: Int
    /// Parameter values by name, as a JSON object.
    public var params: String
    /// The point the optimizer asked, in its unit box, as a JSON array (replay compares it bit for bit).
    public var unit: String
    public var value: Double?
    public var state: TrialState
    public var error: String?
    public var started: Date
    public var finished: Date?
    public var seconds: Double?
    /// Sub-scores the objective reported besides the value (JSON object), e.g. the testbed's
    /// perception and skill; NULL for objectives without any (migration v2).
    public var extras: String?
    /// Position of the trial's ask in its run's event sequence (v3): replay re-applies asks and
    /// tells in this order, so the optimizer's state is restored exactly.
    public var askSeq: Int?
    /// Position of the tell (nil until the optimizer is told the outcome).
    public var tellSeq: Int?
    public var origin: TrialOrigin = .optimizer
    /// Attempts started so far (rows in `attempts`).
    public var attempts: Int = 0
    /// The fidelity it was evaluated at, an index into its objective's fidelities (v5); nil:
    /// full fidelity (objectives without fidelities, and every trial of an older ledger).
    public var fidelity: Int? = nil
    /// The cost of its evaluation in the objective's cost units (v5); nil: an objective without
    /// fidelities (one evaluation, cost 1).
    public var cost: Double? = nil

    enum CodingKeys: String, CodingKey {
        case id, run, number, params, unit, value, state, error, started, finished, seconds, extras, origin, attempts, fidelity, cost
        case askSeq = "ask_seq", tellSeq = "tell_seq"
    }

    public init(id: Int64? = nil, run: Int64, number: Int, params: String, unit: String, value: Double? = nil,
                state: TrialState, error: String? = nil, started: Date, finished: Date? = nil, seconds: Double? = nil,
                extras: String? = nil, askSeq: Int? = nil, tellSeq: Int? = nil, origin: TrialOrigin = .optimizer,
                attempts: Int = 0, fidelity: Int? = nil, cost: Double? = nil) {
        self.id = id; self.run = run; self.number = number; self.params = params; self.unit = unit
        self.value = value; self.state = state; self.error = error; self.started = started
        self.finished = finished; self.seconds = seconds; self.extras = extras
        self.askSeq = askSeq; self.tellSeq = tellSeq; self.origin = origin; self.attempts = attempts
        self.fidelity = fidelity; self.cost = cost
    }

    // Columns added by v2/v3/v5 decode as their defaults from a ledger a read-only command did not
    // migrate: a v1/v2 trial was asked and told in number order, with one attempt.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(Int64.self, forKey: .id)
        run = try c.decode(Int64.self, forKey: .run)
        number = try c.decode(Int.self, forKey: .number)
        params = try c.decode(String.self, forKey: .params)
        unit = try c.decode(String.self, forKey: .unit)
        value = try c.decodeIfPresent(Double.self, forKey: .value)
        state = try c.decode(TrialState.self, forKey: .state)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        started = try c.decode(Date.self, forKey: .started)
        finished = try c.decodeIfPresent(Date.self, forKey: .finished)
        seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
        extras = try c.decodeIfPresent(String.self, forKey: .extras)
        let legacy = !c.contains(.askSeq)
        askSeq = try c.decodeIfPresent(Int.self, forKey: .askSeq) ?? (legacy ? 2 * (number - 1) : nil)
        tellSeq = try c.decodeIfPresent(Int.self, forKey: .tellSeq) ?? (legacy && state.isFinal ? 2 * (number - 1) + 1 : nil)
        origin = try c.decodeIfPresent(TrialOrigin.self, forKey: .origin) ?? .optimizer
        attempts = try c.decodeIfPresent(Int.self, forKey: .attempts) ?? 1
        fidelity = try c.decodeIfPresent(Int.self, forKey: .fidelity)
        cost = try c.decodeIfPresent(Double.self, forKey: .cost)
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A reference point of an objective: a closed-form method's coefficients and score, or a measured score.
public struct ReferenceRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "references"
    public var id: Int64?
    public var objective: Int64
    public var method: String
    /// Parameter values by name as a JSON object; nil for a score without coefficients.
    public var params: String?
    public var value: Double
    /// Metrics recorded with the value as a JSON object (v4; nil: none).
    public var extras: String?

    public init(id: Int64? = nil, objective: Int64, method: String, params: String?, value: Double, extras: String? = nil) {
        self.id = id; self.objective = objective; self.method = method; self.params = params; self.value = value
        self.extras = extras
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The states of one attempt of a trial.
public enum AttemptState: String, Codable, Sendable {
    case running = "RUNNING", complete = "COMPLETE", fail = "FAIL"
}

/// One attempt at evaluating a trial (v3): where it ran and how it ended. A retry is a new
/// attempt beside the old one; no attempt row is ever deleted.
public struct AttemptRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "attempts"
    public var id: Int64?
    public var trial: Int64
    /// 1-based attempt number within the trial.
    public var number: Int
    public var state: AttemptState
    /// The failure reason class (exit_code, signal, timeout, ..., see Executors.FailureReason).
    public var reason: String?
    /// The failure's text (error message, scheduler state, tail of stderr).
    public var detail: String?
    /// Executor kind, job or process id, host and slot.
    public var executor: String
    public var jobID: String?
    public var host: String?
    public var slot: Int?
    public var exitCode: Int?
    public var signal: Int?
    /// The attempt's directory (process executors), where its logs and result files are.
    public var directory: String?
    public var started: Date
    public var finished: Date?
    public var seconds: Double?

    enum CodingKeys: String, CodingKey {
        case id, trial, number, state, reason, detail, executor, host, slot, signal, directory, started, finished, seconds
        case jobID = "job_id", exitCode = "exit_code"
    }

    public init(id: Int64? = nil, trial: Int64, number: Int, state: AttemptState = .running, executor: String,
                jobID: String? = nil, host: String? = nil, slot: Int? = nil, directory: String? = nil, started: Date) {
        self.id = id; self.trial = trial; self.number = number; self.state = state; self.executor = executor
        self.jobID = jobID; self.host = host; self.slot = slot; self.directory = directory; self.started = started
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
