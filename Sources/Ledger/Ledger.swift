import Foundation
import GRDB

public enum LedgerError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    /// The study is no longer ours (another coordinator judged us dead and took it over).
    case lostStudy(String)
    /// Another live coordinator runs the study.
    case studyBusy(study: String, owner: String)
    case noSuchStudy(String)
    case corrupt(String)
    /// The ledger has migrations this version does not know.
    case newerSchema(path: String, unknown: [String])
    /// The file is an SQLite database, but not a mergetune ledger.
    case notALedger(path: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open ledger \(path): \(reason)"
        case .lostStudy(let name): return "study '\(name)' was taken over by another coordinator; stopped writing to it"
        case .studyBusy(let name, let owner):
            return "study '\(name)' is being run by another coordinator (\(owner)); see `mergetune study status \(name)`, or stop it with `mergetune study stop \(name)`"
        case .noSuchStudy(let name): return "no study named '\(name)' in the ledger"
        case .corrupt(let what): return "ledger inconsistent: \(what)"
        case .newerSchema(let path, let unknown):
            return "ledger \(path) was written by a newer mergetune (unknown migrations: \(unknown.joined(separator: ", "))); upgrade mergetune to read it; nothing was written"
        case .notALedger(let path):
            return "\(path) is an SQLite database but not a mergetune ledger (no mergetune tables); pass another --ledger; nothing was written"
        }
    }
}

/// Counts for progress lines.
public struct StudyProgress: Sendable, Equatable {
    public var runsDone: Int
    public var runsTotal: Int
    public var trialsDone: Int
    /// The runs' budgets summed: trials, or for a study with fidelities full-fidelity
    /// evaluations of cost (then compare `costDone`, not `trialsDone`, with it).
    public var trialsTotal: Int
    /// A study with fidelities: the finished trials' cost in full-fidelity evaluations (a trial
    /// of an objective without fidelities counts 1); nil for a study without fidelities.
    public var costDone: Double? = nil
    public init(runsDone: Int, runsTotal: Int, trialsDone: Int, trialsTotal: Int, costDone: Double? = nil) {
        self.runsDone = runsDone; self.runsTotal = runsTotal; self.trialsDone = trialsDone; self.trialsTotal = trialsTotal
        self.costDone = costDone
    }
}

/// The SQLite ledger of studies (GRDB, WAL). One process, a study's coordinator, writes a
/// study; readers (summary, export, status) never block it. Every outcome is committed before
/// the optimizer is told, so a crash loses at most the attempts in flight, which are re-run as
/// new attempts (schema and guarantees: docs/studies.md, "Ledger").
public final class Ledger: Sendable {
    public let path: String
    let pool: DatabasePool
    public let readOnly: Bool
    /// A coordinator on another host whose heartbeat is older than this is taken for dead.
    public let staleAfter: TimeInterval

    /// The version of mergetune that writes ledgers (recorded in `meta`).
    public static let writerVersion = "0.6.0"

    /// Opens the ledger at `path`. Writable: creates it if needed and migrates it to the current
    /// schema. Read-only: never creates, migrates or writes (a ledger from an older version is
    /// read as it is). Either way a ledger from a newer version, or another program's SQLite
    /// file, is refused.
    public init(path: String, readOnly: Bool = false, busyTimeout: TimeInterval = 60, staleAfter: TimeInterval = 300) throws {
        self.path = path
        self.readOnly = readOnly
        self.staleAfter = staleAfter
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.readonly = readOnly
        if !readOnly {
            config.prepareDatabase { db in
                // WAL + NORMAL: a commit survives the death of the process (kill -9); only a power
                // loss can undo the last commits, and never corrupts the file.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // Checkpoints (which sync) every ~32 MB of WAL rather than every 4 MB: fast
                // objectives commit often and would otherwise wait on syncs.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 8192")
            }
        }
        if readOnly && !FileManager.default.fileExists(atPath: path) {
            throw LedgerError.cannotOpen(path: path, reason: "no such file (launch a study first, or pass --ledger)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw LedgerError.cannotOpen(path: path, reason: String(describing: error))
        }
        try Ledger.checkSchema(pool, path: path)
        if !readOnly {
            try Ledger.migrate(pool)
            try pool.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('written_by', ?)", arguments: [Ledger.writerVersion])
            }
        }
    }

    /// Refuses a newer ledger or a foreign database before anything is written.
    static func checkSchema(_ pool: DatabasePool, path: String) throws {
        let (tables, applied): ([String], [String]) = try pool.read { db in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            let applied = tables.contains("grdb_migrations")
                ? try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") : []
            return (tables, applied)
        }
        let known = Set(migrator.migrations)
        let unknown = applied.filter { !known.contains($0) }
        if !unknown.isEmpty { throw LedgerError.newerSchema(path: path, unknown: unknown) }
        // A ledger being created by another process may have its migrations table before the
        // rest: mergetune's migrations table with known identifiers is enough.
        let ours = tables.contains("grdb_migrations") && (tables.contains("studies") || applied.allSatisfy(known.contains))
        if !tables.isEmpty && !ours { throw LedgerError.notALedger(path: path) }
    }

    /// Checkpoints the WAL into the main file and truncates it, so that the `.sqlite` file alone
    /// holds every commit (a user may copy just that file). Called when a coordinator ends.
    public func close() {
        guard !readOnly else { return }
        _ = try? pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
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
        // v3: the asynchronous study core. A coordinator owns a study (not a process per run);
        // trials record their place in the ask/tell sequence and their origin; every attempt at a
        // trial is a row of `attempts`. Earlier trials were asked and told in number order with
        // one attempt each, which is what the backfill writes.
        migrator.registerMigration("v3: coordinator, ask/tell order, attempts") { db in
            try db.alter(table: "studies") { t in
                t.add(column: "owner", .text)
                t.add(column: "heartbeat", .double)
            }
            try db.alter(table: "runs") { t in t.add(column: "batch", .integer).notNull().defaults(to: 1) }
            try db.alter(table: "trials") { t in
                t.add(column: "ask_seq", .integer)
                t.add(column: "tell_seq", .integer)
                t.add(column: "origin", .text).notNull().defaults(to: "optimizer")
                t.add(column: "attempts", .integer).notNull().defaults(to: 1)
            }
            try db.execute(sql: """
                UPDATE trials SET ask_seq = 2 * (number - 1),
                    tell_seq = CASE WHEN state IN ('COMPLETE', 'FAIL') THEN 2 * (number - 1) + 1 END
                """)
            try db.create(table: "attempts") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("trial", .integer).notNull().references("trials", onDelete: .cascade)
                t.column("number", .integer).notNull()
                t.column("state", .text).notNull()
                t.column("reason", .text)
                t.column("detail", .text)
                t.column("executor", .text).notNull()
                t.column("job_id", .text)
                t.column("host", .text)
                t.column("slot", .integer)
                t.column("exit_code", .integer)
                t.column("signal", .integer)
                t.column("directory", .text)
                t.column("started", .datetime).notNull()
                t.column("finished", .datetime)
                t.column("seconds", .double)
                t.uniqueKey(["trial", "number"])
            }
            try db.create(index: "attempts_running", on: "attempts", columns: ["state"])
            try db.execute(sql: """
                INSERT INTO attempts (trial, number, state, reason, detail, executor, started, finished, seconds)
                SELECT id, 1, state, CASE WHEN state = 'FAIL' THEN 'objective_error' END, error, 'inprocess', started, finished, seconds
                FROM trials
                """)
            try db.create(table: "meta") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
        }
        // v4: a reference's recorded metrics (a command objective's evaluator reports several;
        // constraints relative to a reference read them), a JSON object or NULL.
        migrator.registerMigration("v4: references.extras") { db in
            try db.alter(table: "references") { t in t.add(column: "extras", .text) }
        }
        // v5: multi-fidelity studies. A trial records the fidelity it was evaluated at (an index
        // into its objective's fidelities) and its cost; NULL is full fidelity, which every
        // earlier trial was, so existing rows stay as they are.
        migrator.registerMigration("v5: trials.fidelity, trials.cost") { db in
            try db.alter(table: "trials") { t in
                t.add(column: "fidelity", .integer)
                t.add(column: "cost", .double)
            }
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
                WHERE runs.study = ? AND trials.state IN ('COMPLETE', 'FAIL')
                """, arguments: [study]) ?? 0
            return StudyProgress(runsDone: runsDone, runsTotal: runsTotal, trialsDone: trialsDone, trialsTotal: trialsTotal)
        }
    }

    /// Finished trials (COMPLETE or FAIL) counted by objective name and fidelity index (nil:
    /// full fidelity of an objective without fidelities): what a progress in cost is summed from.
    public func finishedTrialsByFidelity(study: Int64) throws -> [(objective: String, fidelity: Int?, count: Int)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT objectives.name AS name, trials.fidelity AS fidelity, COUNT(*) AS n
                FROM trials JOIN runs ON runs.id = trials.run JOIN objectives ON objectives.id = runs.objective
                WHERE runs.study = ? AND trials.state IN ('COMPLETE', 'FAIL')
                GROUP BY objectives.name, trials.fidelity
                """, arguments: [study]).map { (objective: $0["name"], fidelity: $0["fidelity"], count: $0["n"]) }
        }
    }

    /// How many of a study's trials are in each state (one grouped count, not the trials).
    public func trialStates(study: Int64) throws -> [TrialState: Int] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT trials.state AS state, COUNT(*) AS n FROM trials JOIN runs ON runs.id = trials.run
                WHERE runs.study = ? GROUP BY trials.state
                """, arguments: [study])
            var counts: [TrialState: Int] = [:]
            for row in rows {
                if let s = TrialState(rawValue: row["state"]) { counts[s] = row["n"] }
            }
            return counts
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

    // MARK: Attempts

    /// The attempts of a trial, in order.
    public func attempts(trial: Int64) throws -> [AttemptRecord] {
        try pool.read { db in try AttemptRecord.filter(Column("trial") == trial).order(Column("number")).fetchAll(db) }
    }

    /// Every attempt of a study's trials, by trial id (empty for a ledger older than v3).
    public func attempts(study: Int64) throws -> [Int64: [AttemptRecord]] {
        try pool.read { db in
            guard try db.tableExists("attempts") else { return [:] }
            let all = try AttemptRecord.fetchAll(db, sql: """
                SELECT attempts.* FROM attempts JOIN trials ON trials.id = attempts.trial JOIN runs ON runs.id = trials.run
                WHERE runs.study = ? ORDER BY attempts.trial, attempts.number
                """, arguments: [study])
            return Dictionary(grouping: all, by: \.trial)
        }
    }

    /// Attempts of a study that are running, with their trial.
    public func runningAttempts(study: Int64) throws -> [(TrialRecord, AttemptRecord)] {
        try pool.read { db in
            guard try db.tableExists("attempts") else { return [] }
            let attempts = try AttemptRecord.fetchAll(db, sql: """
                SELECT attempts.* FROM attempts JOIN trials ON trials.id = attempts.trial JOIN runs ON runs.id = trials.run
                WHERE runs.study = ? AND attempts.state = 'RUNNING' ORDER BY attempts.trial
                """, arguments: [study])
            return try attempts.map { a in
                guard let t = try TrialRecord.fetchOne(db, key: a.trial) else { throw LedgerError.corrupt("attempt \(a.id!) has no trial") }
                return (t, a)
            }
        }
    }

    // MARK: The coordinator

    /// Makes `owner` the study's coordinator. Refused while another live coordinator holds it
    /// (on this host: its process exists; elsewhere: its heartbeat is recent).
    public func claimStudy(_ id: Int64, owner: Owner = .current, now: Date = Date()) throws -> StudyRecord {
        let staleAfter = self.staleAfter
        return try writeImmediate { db in
            guard var study = try StudyRecord.fetchOne(db, key: id) else { throw LedgerError.corrupt("no study with id \(id)") }
            if let token = study.owner, token != owner.token, let holder = Owner(token: token),
               holder.isAlive(heartbeat: study.heartbeat, now: now, staleAfter: staleAfter) {
                throw LedgerError.studyBusy(study: study.name, owner: holder.description)
            }
            study.owner = owner.token
            study.heartbeat = now.timeIntervalSince1970
            if study.status == "stopped" { study.status = "running" }
            try study.update(db)
            return study
        }
    }

    /// Hands the study back (no coordinator), with its new status ("done", "stopped", "running").
    public func releaseStudy(_ id: Int64, owner: Owner = .current, status: String) throws {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE studies SET owner = NULL, status = ? WHERE id = ? AND owner = ?",
                           arguments: [status, id, owner.token])
        }
    }

    /// Refreshes the coordinator's heartbeat.
    public func heartbeat(study: Int64, owner: Owner = .current, now: Date = Date()) throws {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE studies SET heartbeat = ? WHERE id = ? AND owner = ?",
                           arguments: [now.timeIntervalSince1970, study, owner.token])
        }
    }

    /// One write transaction of the coordinator of `study`: refuses (`lostStudy`) if the study
    /// has another coordinator now. Several events go into one transaction.
    public func write<T: Sendable>(study: Int64, owner: Owner = .current, _ body: (LedgerWriter) throws -> T) throws -> T {
        try writeImmediate { db in
            let token = try String.fetchOne(db.cachedStatement(sql: "SELECT owner FROM studies WHERE id = ?"), arguments: [study])
            guard token == owner.token else {
                let name = try String.fetchOne(db, sql: "SELECT name FROM studies WHERE id = ?", arguments: [study]) ?? "#\(study)"
                throw LedgerError.lostStudy(name)
            }
            return try body(LedgerWriter(db: db))
        }
    }

    /// A write on a study that has no live coordinator (e.g. `study stop` after the coordinator
    /// died): fails with `studyBusy` if one is alive.
    public func writeWithoutCoordinator<T: Sendable>(study: Int64, _ body: (LedgerWriter) throws -> T) throws -> T {
        let staleAfter = self.staleAfter
        return try writeImmediate { db in
            guard let record = try StudyRecord.fetchOne(db, key: study) else { throw LedgerError.corrupt("no study with id \(study)") }
            if let token = record.owner, let holder = Owner(token: token),
               holder.isAlive(heartbeat: record.heartbeat, now: Date(), staleAfter: staleAfter) {
                throw LedgerError.studyBusy(study: record.name, owner: holder.description)
            }
            return try body(LedgerWriter(db: db))
        }
    }
}

/// The writes a coordinator makes, inside one transaction (`Ledger.write`).
public struct LedgerWriter {
    let db: Database

    // The coordinator writes a trial and an attempt per ask and per outcome. GRDB's record
    // persistence encodes each record through Codable and builds its SQL every time, which cost
    // the 540-run study about a quarter of its CPU time; these write the same columns with
    // cached statements (LedgerTests checks the rows equal the records' own encoding).
    static let trialColumns = ["run", "number", "params", "unit", "value", "state", "error", "started", "finished",
                               "seconds", "extras", "origin", "attempts", "ask_seq", "tell_seq", "fidelity", "cost"]
    static let attemptColumns = ["trial", "number", "state", "reason", "detail", "executor", "job_id", "host", "slot",
                                 "exit_code", "signal", "directory", "started", "finished", "seconds"]
    static let insertTrialSQL = insertSQL("trials", trialColumns)
    static let updateTrialSQL = updateSQL("trials", trialColumns)
    static let insertAttemptSQL = insertSQL("attempts", attemptColumns)
    static let updateAttemptSQL = updateSQL("attempts", attemptColumns)

    static func insertSQL(_ table: String, _ columns: [String]) -> String {
        "INSERT INTO \(table) (id, \(columns.joined(separator: ", "))) VALUES (?\(String(repeating: ", ?", count: columns.count)))"
    }
    static func updateSQL(_ table: String, _ columns: [String]) -> String {
        "UPDATE \(table) SET \(columns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?"
    }

    static func values(_ t: TrialRecord) -> [(any DatabaseValueConvertible)?] {
        [t.run, t.number, t.params, t.unit, t.value, t.state.rawValue, t.error, t.started, t.finished,
         t.seconds, t.extras, t.origin.rawValue, t.attempts, t.askSeq, t.tellSeq, t.fidelity, t.cost]
    }
    static func values(_ a: AttemptRecord) -> [(any DatabaseValueConvertible)?] {
        [a.trial, a.number, a.state.rawValue, a.reason, a.detail, a.executor, a.jobID, a.host, a.slot,
         a.exitCode, a.signal, a.directory, a.started, a.finished, a.seconds]
    }

    public func insert(_ trial: inout TrialRecord) throws {
        try db.cachedStatement(sql: Self.insertTrialSQL).execute(arguments: StatementArguments([trial.id] + Self.values(trial)))
        trial.id = db.lastInsertedRowID
    }
    public func update(_ trial: TrialRecord) throws {
        guard let id = trial.id else { throw LedgerError.corrupt("update of a trial that was never inserted (run \(trial.run), number \(trial.number))") }
        try db.cachedStatement(sql: Self.updateTrialSQL).execute(arguments: StatementArguments(Self.values(trial) + [id]))
        guard db.changesCount == 1 else { throw LedgerError.corrupt("no trial with id \(id) to update") }
    }
    public func insert(_ attempt: inout AttemptRecord) throws {
        try db.cachedStatement(sql: Self.insertAttemptSQL).execute(arguments: StatementArguments([attempt.id] + Self.values(attempt)))
        attempt.id = db.lastInsertedRowID
    }
    public func update(_ attempt: AttemptRecord) throws {
        guard let id = attempt.id else { throw LedgerError.corrupt("update of an attempt that was never inserted (trial \(attempt.trial), number \(attempt.number))") }
        try db.cachedStatement(sql: Self.updateAttemptSQL).execute(arguments: StatementArguments(Self.values(attempt) + [id]))
        guard db.changesCount == 1 else { throw LedgerError.corrupt("no attempt with id \(id) to update") }
    }

    /// Fixes a run's batch size when it first starts, and marks it running.
    public func startRun(_ id: Int64, batch: Int) throws {
        try db.execute(sql: "UPDATE runs SET status = 'running', batch = ? WHERE id = ? AND status = 'pending'", arguments: [batch, id])
    }

    public func setStudyStatus(_ id: Int64, _ status: String) throws {
        try db.execute(sql: "UPDATE studies SET status = ?, owner = NULL WHERE id = ?", arguments: [status, id])
    }

    /// Marks a run done (all its trials are told); marks the study done with its last run.
    public func finishRun(_ id: Int64) throws {
        try db.execute(sql: "UPDATE runs SET status = 'done' WHERE id = ?", arguments: [id])
        // `status != 'done'` would walk every done run of the study in runs_by_status (O(runs)
        // per finished run: 16 ms at 100,000 runs); two ranges around 'done' are index seeks.
        try db.execute(sql: """
            UPDATE studies SET status = 'done'
            WHERE id = (SELECT study FROM runs WHERE id = ?)
              AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.study = studies.id AND r.status < 'done')
              AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.study = studies.id AND r.status > 'done')
            """, arguments: [id])
    }
}
