import Foundation
import Testing
import GRDB
@testable import Ledger
import TestSupport

/// A fresh ledger in its own temporary directory.
func makeLedger(_ name: String = "ledger.sqlite", staleAfter: TimeInterval = 300) throws -> (Ledger, URL) {
    let dir = Scratch.directory("ledger-tests")
    return (try Ledger(path: dir.appendingPathComponent(name).path, staleAfter: staleAfter), dir)
}

/// A study with one objective and `runs` pending runs of budget 3.
func seedStudy(_ ledger: Ledger, name: String = "s", runs: Int = 3) throws -> StudyRecord {
    let objective = ObjectiveRecord(study: 0, name: "o", kind: "analytic", definition: "{}", fMin: 0, fMax: 1)
    let runRecords = (0..<runs).map { RunRecord(study: 0, objective: 0, optimizer: "random", seed: $0, optimizerSeed: UInt64($0), budget: 3) }
    let (study, created) = try ledger.createStudy(
        StudyRecord(name: name, spec: "{}", created: Date()),
        objectives: [.init(objective: objective, references: [ReferenceRecord(objective: 0, method: "frank", params: nil, value: 0.5)], runs: runRecords)])
    #expect(created)
    return study
}

func trial(_ run: Int64, _ number: Int, state: TrialState = .running, value: Double? = nil) -> TrialRecord {
    TrialRecord(run: run, number: number, params: "{\"x\":\(number)}", unit: "[0.5]", value: value, state: state, started: Date())
}

/// An owner on this host whose process does not exist.
let deadOwner = Owner(host: Owner.current.host, pid: Int32.max - 7, start: 1)

@Suite("Ledger")
struct LedgerTests {
    @Test func migratesToWALWithAllTablesAndReopens() throws {
        let (ledger, dir) = try makeLedger()
        let tables = try ledger.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name")
        }
        #expect(tables == ["attempts", "meta", "objectives", "references", "runs", "studies", "trials"])
        let mode = try ledger.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        _ = try seedStudy(ledger)
        // Reopening migrates nothing and keeps the data.
        let again = try Ledger(path: dir.appendingPathComponent("ledger.sqlite").path)
        #expect(try again.studies().map(\.name) == ["s"])
        #expect(try again.runs(study: 1).count == 3)
        #expect(try again.references(study: 1).map(\.method) == ["frank"])
    }

    @Test func aV1LedgerMigratesToV2AndKeepsItsTrials() throws {
        let dir = Scratch.directory("ledger-tests")
        let path = dir.appendingPathComponent("old.sqlite").path
        // A ledger as written before v2: migrated up to v1 only, with one trial.
        do {
            let queue = try DatabaseQueue(path: path)
            try Ledger.migrator.migrate(queue, upTo: "v1: studies, objectives, runs, trials, references")
            let columns = try queue.read { db in try db.columns(in: "trials").map(\.name) }
            #expect(!columns.contains("extras"))
            try queue.write { db in
                try db.execute(sql: "INSERT INTO studies (name, spec, created, status) VALUES ('s', '{}', '2026-01-01 00:00:00.000', 'running')")
                try db.execute(sql: "INSERT INTO objectives (study, name, kind, definition, f_min, f_max) VALUES (1, 'o', 'analytic', '{}', 0, 1)")
                try db.execute(sql: "INSERT INTO runs (study, objective, optimizer, seed, optimizer_seed, budget, status) VALUES (1, 1, 'random', 0, 0, 3, 'pending')")
                try db.execute(sql: "INSERT INTO trials (run, number, params, unit, value, state, started) VALUES (1, 1, '{}', '[0.5]', 0.25, 'COMPLETE', '2026-01-01 00:00:00.000')")
            }
        }
        let ledger = try Ledger(path: path)
        let trials = try ledger.trials(run: 1)
        #expect(trials.count == 1 && trials[0].value == 0.25 && trials[0].extras == nil)
        let applied = try ledger.pool.read { db in try Ledger.migrator.appliedIdentifiers(db) }
        #expect(applied.contains("v2: trials.extras"))
    }

    @Test func creatingAnExistingStudyWritesNothing() throws {
        let (ledger, _) = try makeLedger()
        let first = try seedStudy(ledger)
        let (second, created) = try ledger.createStudy(StudyRecord(name: "s", spec: "{\"other\":1}", created: Date()), objectives: [])
        #expect(!created)
        #expect(second.id == first.id && second.spec == "{}")
        #expect(try ledger.runs(study: first.id!).count == 3)
    }

    @Test func tablesAfterV3() throws {
        let (ledger, _) = try makeLedger()
        let tables = try ledger.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name")
        }
        #expect(tables == ["attempts", "meta", "objectives", "references", "runs", "studies", "trials"])
        let version = try ledger.pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'written_by'") }
        #expect(version == Ledger.writerVersion)
    }

    @Test func aV2LedgerMigratesToV3WithOneAttemptPerTrialInNumberOrder() throws {
        let dir = Scratch.directory("ledger-tests")
        let path = dir.appendingPathComponent("v2.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try Ledger.migrator.migrate(queue, upTo: "v2: trials.extras")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO studies (name, spec, created, status) VALUES ('s', '{}', '2026-01-01 00:00:00.000', 'running')")
                try db.execute(sql: "INSERT INTO objectives (study, name, kind, definition, f_min, f_max) VALUES (1, 'o', 'analytic', '{}', 0, 1)")
                try db.execute(sql: "INSERT INTO runs (study, objective, optimizer, seed, optimizer_seed, budget, status) VALUES (1, 1, 'random', 0, 0, 3, 'running')")
                for (n, state) in [(1, "COMPLETE"), (2, "FAIL"), (3, "RUNNING")] {
                    try db.execute(sql: "INSERT INTO trials (run, number, params, unit, value, state, error, started) VALUES (1, ?, '{}', '[0.5]', ?, ?, ?, '2026-01-01 00:00:00.000')",
                                   arguments: [n, state == "COMPLETE" ? 0.25 : nil, state, state == "FAIL" ? "boom" : nil])
                }
            }
        }
        // A read-only open neither migrates nor writes, and reads the v2 trials as v3 ones.
        let reader = try Ledger(path: path, readOnly: true)
        let old = try reader.trials(run: 1)
        #expect(old.map(\.askSeq) == [0, 2, 4] && old.map(\.tellSeq) == [1, 3, nil])
        let before = try DatabaseQueue(path: path).read { db in try Ledger.migrator.appliedIdentifiers(db) }
        #expect(!before.contains("v3: coordinator, ask/tell order, attempts"))

        let ledger = try Ledger(path: path)
        let trials = try ledger.trials(run: 1)
        #expect(trials.map(\.askSeq) == [0, 2, 4])
        #expect(trials.map(\.tellSeq) == [1, 3, nil])
        #expect(trials.allSatisfy { $0.origin == .optimizer && $0.attempts == 1 })
        let attempts = try trials.map { try ledger.attempts(trial: $0.id!) }
        #expect(attempts.map { $0.map(\.state) } == [[.complete], [.fail], [.running]])
        #expect(attempts[1][0].reason == "objective_error" && attempts[1][0].detail == "boom")
        #expect(try ledger.runs(study: 1)[0].batch == 1)
    }

    @Test func aLedgerFromANewerVersionIsRefusedAndNotWritten() throws {
        let (ledger, dir) = try makeLedger()
        _ = try seedStudy(ledger)
        let path = dir.appendingPathComponent("ledger.sqlite").path
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9: from the future')")
        }
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        for readOnly in [true, false] {
            #expect(throws: LedgerError.newerSchema(path: path, unknown: ["v9: from the future"])) {
                _ = try Ledger(path: path, readOnly: readOnly)
            }
        }
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int == size)
    }

    @Test func anotherProgramsDatabaseIsRefusedAndGetsNoTables() throws {
        let dir = Scratch.directory("ledger-tests")
        let path = dir.appendingPathComponent("foreign.sqlite").path
        try DatabaseQueue(path: path).write { db in try db.execute(sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)") }
        #expect(throws: LedgerError.notALedger(path: path)) { _ = try Ledger(path: path) }
        let tables = try DatabaseQueue(path: path).read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        #expect(tables == ["notes"])
    }

    @Test func readOnlyOpeningDoesNotCreateAFile() throws {
        let dir = Scratch.directory("ledger-tests")
        let path = dir.appendingPathComponent("none.sqlite").path
        #expect(throws: LedgerError.self) { _ = try Ledger(path: path, readOnly: true) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func closingLeavesEveryCommitInTheMainFile() throws {
        let (ledger, dir) = try makeLedger()
        _ = try seedStudy(ledger)
        ledger.close()
        let path = dir.appendingPathComponent("ledger.sqlite").path
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        #expect(wal == 0)
        // The main file alone (as a user would copy it) has the study.
        let copy = dir.appendingPathComponent("copy.sqlite").path
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        #expect(try Ledger(path: copy, readOnly: true).studies().map(\.name) == ["s"])
    }

    @Test func oneCoordinatorPerStudy() throws {
        let (ledger, _) = try makeLedger()
        let study = try seedStudy(ledger)
        let remote = Owner(host: "node7", pid: 42, start: 1)
        let now = Date()
        _ = try ledger.claimStudy(study.id!, owner: remote, now: now)
        // A live coordinator elsewhere (fresh heartbeat) keeps it; writes by others are refused.
        #expect(throws: LedgerError.studyBusy(study: "s", owner: remote.description)) {
            _ = try ledger.claimStudy(study.id!, now: now.addingTimeInterval(30))
        }
        #expect(throws: LedgerError.lostStudy("s")) { try ledger.write(study: study.id!) { _ in } }
        // Its heartbeat goes stale: the study is taken over, and the old coordinator's writes fail.
        _ = try ledger.claimStudy(study.id!, now: now.addingTimeInterval(301))
        #expect(throws: LedgerError.lostStudy("s")) { try ledger.write(study: study.id!, owner: remote) { _ in } }
        try ledger.write(study: study.id!) { w in
            var t = trial(try ledger.runs(study: study.id!)[0].id!, 1, state: .waiting)
            try w.insert(&t)
        }
        try ledger.releaseStudy(study.id!, status: "running")
        #expect(try ledger.study(named: "s")?.owner == nil)
        // A dead coordinator on this host is replaced at once.
        _ = try ledger.claimStudy(study.id!, owner: deadOwner)
        _ = try ledger.claimStudy(study.id!)
    }

    /// The writer's cached-statement inserts and updates store exactly the row GRDB's own record
    /// encoding stores (every column, dates and NULLs included), and read back as the record.
    @Test func writerRowsEqualTheRecordsOwnEncoding() throws {
        let (ledger, _) = try makeLedger()
        let study = try seedStudy(ledger)
        _ = try ledger.claimStudy(study.id!)
        let run = try ledger.runs(study: study.id!)[0].id!
        let date = Date(timeIntervalSince1970: 1_764_640_000.125)
        var full = TrialRecord(run: run, number: 1, params: "{\"x\":0.25}", unit: "[0.25]", value: -1.5, state: .complete,
                               error: "e", started: date, finished: date.addingTimeInterval(2.5), seconds: 2.5,
                               extras: "{\"a\":1}", askSeq: 0, tellSeq: 1, origin: .warmStart, attempts: 2)
        let sparse = TrialRecord(run: run, number: 2, params: "{}", unit: "[]", state: .running, started: date)
        var attempt = AttemptRecord(trial: 0, number: 1, executor: "local", jobID: "12", host: "h", slot: 1,
                                    directory: "/tmp/a", started: date)
        try ledger.write(study: study.id!) { w in
            // Fast path: rows 1, 2; GRDB's record persistence: rows 3, 4 (same content).
            var a = full, b = sparse
            try w.insert(&a); try w.insert(&b)
            var c = full, d = sparse
            c.number = 3; d.number = 4
            try c.insert(w.db); try d.insert(w.db)
            #expect([a.id, b.id, c.id, d.id] == [1, 2, 3, 4])
            full.id = a.id
            full.value = 2; full.state = .fail; full.tellSeq = nil; full.error = nil
            try w.update(full)
            var e = full; e.id = c.id; e.number = 3
            try e.update(w.db)
            attempt.trial = a.id!
            var f = attempt
            try w.insert(&f)
            f.state = .fail; f.reason = "timeout"; f.exitCode = 9; f.signal = 15; f.finished = date; f.seconds = 1
            try w.update(f)
            var g = attempt; g.trial = c.id!
            try g.insert(w.db)
            g.state = .fail; g.reason = "timeout"; g.exitCode = 9; g.signal = 15; g.finished = date; g.seconds = 1
            try g.update(w.db)
        }
        func rows(_ sql: String) throws -> [[DatabaseValue]] {
            try ledger.pool.read { db in try Row.fetchAll(db, sql: sql).map { Array($0.databaseValues) } }
        }
        let trials = try rows("SELECT * FROM trials ORDER BY id")
        #expect(trials.count == 4)
        // Same columns but id and number.
        func rest(_ r: [DatabaseValue]) -> [DatabaseValue] { Array(r.dropFirst(3)) + [r[1]] }
        #expect(rest(trials[0]) == rest(trials[2]))
        #expect(rest(trials[1]) == rest(trials[3]))
        let attempts = try rows("SELECT * FROM attempts ORDER BY id")
        #expect(attempts.count == 2 && Array(attempts[0].dropFirst(2)) == Array(attempts[1].dropFirst(2)))
        let back = try ledger.trials(run: run)
        #expect(back[0] == full)
        #expect(back[1].unit == "[]" && back[1].value == nil && back[1].finished == nil && back[1].origin == .optimizer)
        #expect(try ledger.attempts(trial: 1).first?.reason == "timeout")
        // Updating a record that was never inserted names it.
        #expect(throws: LedgerError.self) { try ledger.write(study: study.id!) { w in try w.update(sparse) } }
    }

    @Test func attemptsAreKeptBesideEachOther() throws {
        let (ledger, _) = try makeLedger()
        let study = try seedStudy(ledger)
        _ = try ledger.claimStudy(study.id!)
        let run = try ledger.runs(study: study.id!)[0].id!
        try ledger.write(study: study.id!) { w in
            var t = trial(run, 1, state: .running)
            t.askSeq = 0
            try w.insert(&t)
            var a1 = AttemptRecord(trial: t.id!, number: 1, executor: "slurm", jobID: "17", host: "node1", slot: 0, started: Date())
            try w.insert(&a1)
            a1.state = .fail; a1.reason = "preempted"; a1.finished = Date()
            try w.update(a1)
            var a2 = AttemptRecord(trial: t.id!, number: 2, executor: "slurm", jobID: "18", slot: 1, started: Date())
            try w.insert(&a2)
        }
        let t = try ledger.trials(run: run)[0]
        #expect(try ledger.attempts(trial: t.id!).map(\.reason) == ["preempted", nil])
        #expect(try ledger.runningAttempts(study: study.id!).map { $0.1.jobID } == ["18"])
        // Another attempt numbered 2 is a contradiction the schema refuses.
        #expect(throws: (any Error).self) {
            try ledger.write(study: study.id!) { w in
                var dup = AttemptRecord(trial: t.id!, number: 2, executor: "slurm", started: Date())
                try w.insert(&dup)
            }
        }
    }

    @Test func ownersRoundTripAndTellLiveFromDead() throws {
        let me = Owner.current
        #expect(Owner(token: me.token) == me)
        #expect(Owner(token: "a/b/12/34") == Owner(host: "a/b", pid: 12, start: 34))
        #expect(Owner(token: "garbage") == nil)
        #expect(me.isAlive(heartbeat: nil, staleAfter: 1))
        #expect(!deadOwner.isAlive(heartbeat: Date().timeIntervalSince1970, staleAfter: 300))
        #if os(Linux)
        #expect(me.start != 0)
        // Same pid, other start time: the pid was reused by another process.
        let reused = Owner(host: me.host, pid: me.pid, start: me.start + 1)
        #expect(!reused.isAlive(heartbeat: nil, staleAfter: 300))
        #endif
    }

}
