import Foundation
import GRDB

public enum LedgerError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    /// The run is no longer ours (another process reclaimed it): stop writing to it.
    case lostClaim(run: Int64)
    case noSuchStudy(String)
    case corrupt(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open ledger \(path): \(reason)"
        case .lostClaim(let run): return "run \(run) was claimed by another process; stopped writing to it"
        case .noSuchStudy(let name): return "no study named '\(name)' in the ledger"
        case .corrupt(let what): return "ledger inconsistent: \(what)"
        }
    }
}

/// A run handed to one worker, with the trials already recorded for it (COMPLETE and FAIL,
/// in order); RUNNING trials left by a dead owner were deleted when it was claimed.
public struct RunClaim: Sendable {
    public var run: RunRecord
    public var trials: [TrialRecord]
    public var staleTrialsRemoved: Int
}

/// Counts for progress lines.
public struct StudyProgress: Sendable, Equatable {
    public var runsDone: Int
    public var runsTotal: Int
    public var trialsDone: Int
    public var trialsTotal: Int
    public init(runsDone: Int, runsTotal: Int, trialsDone: Int, trialsTotal: Int) {
        self.runsDone = runsDone; self.runsTotal = runsTotal; self.trialsDone = trialsDone; self.trialsTotal = trialsTotal
    }
}

/// The SQLite ledger of studies (GRDB, WAL). Every trial is committed before the optimizer is
/// told its value, so a crash loses at most the evaluation in flight.
public final class Ledger: Sendable {
    public let path: String
    let pool: DatabasePool
    /// A run claimed on another host whose heartbeat is older than this is reclaimable.
    public let staleAfter: TimeInterval

    /// Opens (creating if needed) the ledger at `path` and migrates it to the current schema.
    /// `busyTimeout`: how long a write waits for another process's write to finish.
    public init(path: String, busyTimeout: TimeInterval = 60, staleAfter: TimeInterval = 300) throws {
        self.path = path
        self.staleAfter = staleAfter
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.prepareDatabase { db in
            // WAL + NORMAL: a commit survives the death of the process (kill -9); only a power
            // loss can undo the last commits, and never corrupts the file.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Checkpoints (which sync) every ~32 MB of WAL rather than every 4 MB: a study
            // commits twice per evaluation, and fast objectives would otherwise wait on syncs.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 8192")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw LedgerError.cannotOpen(path: path, reason: String(describing: error))
        }
        try Ledger.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: studies, objectives, runs, trials, references") { db in
            try db.create(table: "studies") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("spec", .text).notNull()
                t.column("created", .datetime).notNull()
                t.column("status", .text).notNull()
            }
            try db.create(table: "objectives") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("study", .integer).notNull().references("studies", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("definition", .text).notNull()
                t.column("f_min", .double).notNull()
                t.column("f_max", .double).notNull()
                t.column("analysis", .text)
                t.uniqueKey(["study", "name"])
            }
            try db.create(table: "runs") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("study", .integer).notNull().references("studies", onDelete: .cascade)
                t.column("objective", .integer).notNull().references("objectives", onDelete: .cascade)
                t.column("optimizer", .text).notNull()
                t.column("seed", .integer).notNull()
                t.column("optimizer_seed", .integer).notNull()
                t.column("budget", .integer).notNull()
                t.column("status", .text).notNull()
                t.column("owner", .text)
                t.column("heartbeat", .double)
                t.uniqueKey(["study", "objective", "optimizer", "seed"])
            }
            try db.create(index: "runs_by_status", on: "runs", columns: ["study", "status"])
            try db.create(table: "trials") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run", .integer).notNull().references("runs", onDelete: .cascade)
                t.column("number", .integer).notNull()
                t.column("params", .text).notNull()
                t.column("unit", .text).notNull()
                t.column("value", .double)
                t.column("state", .text).notNull()
                t.column("error", .text)
                t.column("started", .datetime).notNull()
                t.column("finished", .datetime)
                t.column("seconds", .double)
                t.uniqueKey(["run", "number"])
            }
            try db.create(table: "references") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("objective", .integer).notNull().references("objectives", onDelete: .cascade)
                t.column("method", .text).notNull()
                t.column("params", .text)
                t.column("value", .double).notNull()
                t.uniqueKey(["objective", "method"])
            }
        }
        // v2: per-trial sub-scores of live objectives (e.g. the testbed's perception and skill),
        // a JSON object or NULL. v1 stays as it was: ledgers written before v2 migrate in place.
        migrator.registerMigration("v2: trials.extras") { db in
            try db.alter(table: "trials") { t in t.add(column: "extras", .text) }
        }
        return migrator
    }

    /// Two processes opening a fresh ledger at once may race to migrate it; the loser sees
    /// the winner's tables on a retry.
    static func migrate(_ pool: DatabasePool) throws {
        var attempt = 0
        while true {
            do {
                try migrator.migrate(pool)
                return
            } catch {
                attempt += 1
                if attempt >= 5 { throw error }
                Thread.sleep(forTimeInterval: 0.05 * Double(attempt))
            }
        }
    }

    /// A write transaction that takes the write lock first (BEGIN IMMEDIATE), so a transaction
    /// that reads then writes cannot fail on a snapshot another process has moved past.
    func writeImmediate<T: Sendable>(_ body: (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    // MARK: Reading

    public func studies() throws -> [StudyRecord] {
        try pool.read { db in try StudyRecord.order(Column("id")).fetchAll(db) }
    }

    public func study(named name: String) throws -> StudyRecord? {
        try pool.read { db in try StudyRecord.filter(Column("name") == name).fetchOne(db) }
    }

    public func objectives(study: Int64) throws -> [ObjectiveRecord] {
        try pool.read { db in try ObjectiveRecord.filter(Column("study") == study).order(Column("id")).fetchAll(db) }
    }

    public func runs(study: Int64) throws -> [RunRecord] {
        try pool.read { db in try RunRecord.filter(Column("study") == study).order(Column("id")).fetchAll(db) }
    }

    public func run(id: Int64) throws -> RunRecord? {
        try pool.read { db in try RunRecord.fetchOne(db, key: id) }
    }

    /// All trials of a study, ordered by run id then number.
    public func trials(study: Int64) throws -> [TrialRecord] {
        try pool.read { db in
            try TrialRecord.fetchAll(db, sql: """
                SELECT trials.* FROM trials JOIN runs ON runs.id = trials.run
                WHERE runs.study = ? ORDER BY trials.run, trials.number
                """, arguments: [study])
        }
    }

    public func trials(run: Int64) throws -> [TrialRecord] {
        try pool.read { db in try TrialRecord.filter(Column("run") == run).order(Column("number")).fetchAll(db) }
    }

    public func references(study: Int64) throws -> [ReferenceRecord] {
        try pool.read { db in
            try ReferenceRecord.fetchAll(db, sql: """
                SELECT "references".* FROM "references" JOIN objectives ON objectives.id = "references".objective
                WHERE objectives.study = ? ORDER BY "references".id
                """, arguments: [study])
        }
    }

    public func progress(study: Int64) throws -> StudyProgress {
        try pool.read { db in
            let runsTotal = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs WHERE study = ?", arguments: [study]) ?? 0
            let runsDone = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs WHERE study = ? AND status = 'done'", arguments: [study]) ?? 0
            let trialsTotal = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(budget), 0) FROM runs WHERE study = ?", arguments: [study]) ?? 0
            let trialsDone = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM trials JOIN runs ON runs.id = trials.run
                WHERE runs.study = ? AND trials.state != 'RUNNING'
                """, arguments: [study]) ?? 0
            return StudyProgress(runsDone: runsDone, runsTotal: runsTotal, trialsDone: trialsDone, trialsTotal: trialsTotal)
        }
    }

    // MARK: Creating a study

    /// What a new study consists of: each objective with its reference points and runs
    /// (their `study`/`objective` ids are filled in here).
    public struct NewObjective: Sendable {
        public var objective: ObjectiveRecord
        public var references: [ReferenceRecord]
        public var runs: [RunRecord]
        public init(objective: ObjectiveRecord, references: [ReferenceRecord], runs: [RunRecord]) {
            self.objective = objective; self.references = references; self.runs = runs
        }
    }

    /// Creates the study, its objectives, references and runs in one transaction. When a study
    /// of that name already exists (launched before, or by a process racing this one), nothing
    /// is written and the existing study is returned with `created == false`.
    public func createStudy(_ study: StudyRecord, objectives: [NewObjective]) throws -> (study: StudyRecord, created: Bool) {
        try writeImmediate { db in
            if let existing = try StudyRecord.filter(Column("name") == study.name).fetchOne(db) {
                return (existing, false)
            }
            var s = study
            try s.insert(db)
            for item in objectives {
                var o = item.objective
                o.study = s.id!
                try o.insert(db)
                for var r in item.references {
                    r.objective = o.id!
                    try r.insert(db)
                }
                for var run in item.runs {
                    run.study = s.id!
                    run.objective = o.id!
                    try run.insert(db)
                }
            }
            return (s, true)
        }
    }

    // MARK: Claiming and running

    /// Atomically claims the next run of the study that is pending, or that was claimed by an
    /// owner that is no longer alive; deletes that run's stale RUNNING trials. nil when no run
    /// is left to claim (all done, or held by live owners).
    public func claimRun(study: Int64, owner: Owner = .current, now: Date = Date()) throws -> RunClaim? {
        let staleAfter = self.staleAfter
        return try writeImmediate { db -> RunClaim? in
            let candidates = try RunRecord
                .filter(Column("study") == study && Column("status") != "done")
                .order(Column("id"))
                .fetchAll(db)
            for var run in candidates {
                if run.status == "running" {
                    if run.owner == owner.token { continue }  // another worker of this process has it
                    if let token = run.owner, let holder = Owner(token: token),
                       holder.isAlive(heartbeat: run.heartbeat, now: now, staleAfter: staleAfter) { continue }
                }
                run.status = "running"
                run.owner = owner.token
                run.heartbeat = now.timeIntervalSince1970
                try run.update(db)
                let stale = try TrialRecord
                    .filter(Column("run") == run.id! && Column("state") == TrialState.running.rawValue)
                    .deleteAll(db)
                let trials = try TrialRecord.filter(Column("run") == run.id!).order(Column("number")).fetchAll(db)
                return RunClaim(run: run, trials: trials, staleTrialsRemoved: stale)
            }
            return nil
        }
    }

    /// Throws `lostClaim` unless the run is still running under `owner`.
    static func checkClaim(_ db: Database, run: Int64, owner: Owner) throws {
        let row = try Row.fetchOne(db, sql: "SELECT status, owner FROM runs WHERE id = ?", arguments: [run])
        guard let row, row["status"] as String == "running", row["owner"] as String? == owner.token else {
            throw LedgerError.lostClaim(run: run)
        }
    }

    /// Records a trial about to be evaluated (state RUNNING), if the run is still ours.
    public func beginTrial(_ trial: TrialRecord, owner: Owner = .current) throws -> TrialRecord {
        try writeImmediate { db in
            try Ledger.checkClaim(db, run: trial.run, owner: owner)
            var t = trial
            try t.insert(db)
            return t
        }
    }

    /// Commits the outcome of a trial (COMPLETE or FAIL, with value or error and timing).
    public func finishTrial(_ trial: TrialRecord, owner: Owner = .current) throws {
        precondition(trial.id != nil && trial.state != .running)
        try writeImmediate { db in
            try Ledger.checkClaim(db, run: trial.run, owner: owner)
            try trial.update(db)
        }
    }

    /// Marks a run done (all its trials are committed); marks the study done with its last run.
    public func finishRun(_ run: Int64, owner: Owner = .current) throws {
        try writeImmediate { db in
            try Ledger.checkClaim(db, run: run, owner: owner)
            try db.execute(sql: "UPDATE runs SET status = 'done', heartbeat = ? WHERE id = ?",
                           arguments: [Date().timeIntervalSince1970, run])
            try db.execute(sql: """
                UPDATE studies SET status = 'done'
                WHERE id = (SELECT study FROM runs WHERE id = ?)
                  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.study = studies.id AND r.status != 'done')
                """, arguments: [run])
        }
    }

    /// Hands a claimed run back (status pending) without touching its committed trials.
    public func releaseRun(_ run: Int64, owner: Owner = .current) throws {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE runs SET status = 'pending', owner = NULL WHERE id = ? AND owner = ? AND status = 'running'",
                           arguments: [run, owner.token])
        }
    }

    /// Refreshes the heartbeat of every run this owner holds (for owners on other hosts to see).
    public func heartbeat(owner: Owner = .current, now: Date = Date()) throws {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE runs SET heartbeat = ? WHERE owner = ? AND status = 'running'",
                           arguments: [now.timeIntervalSince1970, owner.token])
        }
    }

    /// Runs of the study held by live owners other than `owner`.
    public func runsHeldElsewhere(study: Int64, owner: Owner = .current, now: Date = Date()) throws -> [RunRecord] {
        let staleAfter = self.staleAfter
        return try runs(study: study).filter { run in
            guard run.status == "running", run.owner != owner.token,
                  let token = run.owner, let holder = Owner(token: token) else { return false }
            return holder.isAlive(heartbeat: run.heartbeat, now: now, staleAfter: staleAfter)
        }
    }
}
