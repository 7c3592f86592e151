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
    /// "running" until every run is done, then "done".
    public var status: String

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

    enum CodingKeys: String, CodingKey {
        case id, study, objective, optimizer, seed, budget, status, owner, heartbeat
        case optimizerSeed = "optimizer_seed"
    }

    public init(id: Int64? = nil, study: Int64, objective: Int64, optimizer: String, seed: Int,
                optimizerSeed: UInt64, budget: Int, status: String = "pending") {
        self.id = id; self.study = study; self.objective = objective; self.optimizer = optimizer
        self.seed = seed; self.optimizerSeed = Int64(bitPattern: optimizerSeed); self.budget = budget
        self.status = status
    }

    public var optimizerSeedValue: UInt64 { UInt64(bitPattern: optimizerSeed) }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The states of a trial: RUNNING while evaluated, then COMPLETE (value set) or FAIL (error set).
public enum TrialState: String, Codable, Sendable {
    case running = "RUNNING", complete = "COMPLETE", fail = "FAIL"
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

    public init(id: Int64? = nil, run: Int64, number: Int, params: String, unit: String, value: Double? = nil,
                state: TrialState, error: String? = nil, started: Date, finished: Date? = nil, seconds: Double? = nil,
                extras: String? = nil) {
        self.id = id; self.run = run; self.number = number; self.params = params; self.unit = unit
        self.value = value; self.state = state; self.error = error; self.started = started
        self.finished = finished; self.seconds = seconds; self.extras = extras
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

    public init(id: Int64? = nil, objective: Int64, method: String, params: String?, value: Double) {
        self.id = id; self.objective = objective; self.method = method; self.params = params; self.value = value
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
