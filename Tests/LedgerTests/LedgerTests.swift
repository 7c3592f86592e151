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
        #expect(tables == ["objectives", "references", "runs", "studies", "trials"])
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

    @Test func claimsPendingRunsOnceEachInOrder() throws {
        let (ledger, _) = try makeLedger()
        let study = try seedStudy(ledger)
        var claimed: [Int64] = []
        while let claim = try ledger.claimRun(study: study.id!) {
            #expect(claim.run.status == "running")
            #expect(claim.run.owner == Owner.current.token)
            claimed.append(claim.run.id!)
        }
        #expect(claimed == [1, 2, 3])
        // Runs held by this (live) process are not handed out again.
        #expect(try ledger.claimRun(study: study.id!) == nil)
    }

    @Test func reclaimsRunsOfADeadOwnerAndDropsItsRunningTrial() throws {
        let (ledger, _) = try makeLedger()
        let study = try seedStudy(ledger, runs: 1)
        let claim = try #require(try ledger.claimRun(study: study.id!, owner: deadOwner))
        let runID = claim.run.id!
        var t1 = try ledger.beginTrial(trial(runID, 1), owner: deadOwner)
        t1.state = .complete; t1.value = 0.25; t1.finished = Date(); t1.seconds = 0.1
        try ledger.finishTrial(t1, owner: deadOwner)
        _ = try ledger.beginTrial(trial(runID, 2), owner: deadOwner)  // the process "dies" here

        let again = try #require(try ledger.claimRun(study: study.id!))
        #expect(again.run.id == runID)
        #expect(again.staleTrialsRemoved == 1)
        #expect(again.trials.map(\.number) == [1])
        #expect(again.trials[0].value == 0.25)
        #expect(try ledger.trials(run: runID).count == 1)
    }

    @Test func theDeadOwnerCannotWriteAfterTheRunWasReclaimed() throws {
        let (ledger, _) = try makeLedger()
        let study = try seedStudy(ledger, runs: 1)
        let claim = try #require(try ledger.claimRun(study: study.id!, owner: deadOwner))
        _ = try #require(try ledger.claimRun(study: study.id!))
        #expect(throws: LedgerError.lostClaim(run: claim.run.id!)) {
            _ = try ledger.beginTrial(trial(claim.run.id!, 1), owner: deadOwner)
        }
        #expect(throws: LedgerError.lostClaim(run: claim.run.id!)) { try ledger.finishRun(claim.run.id!, owner: deadOwner) }
    }

    @Test func otherHostsAreJudgedByTheirHeartbeat() throws {
        let (ledger, _) = try makeLedger(staleAfter: 60)
        let study = try seedStudy(ledger, runs: 1)
        let remote = Owner(host: "elsewhere.example", pid: 1, start: 1)
        let now = Date()
        _ = try #require(try ledger.claimRun(study: study.id!, owner: remote, now: now))
        // Fresh heartbeat: still held.
        #expect(try ledger.claimRun(study: study.id!, now: now.addingTimeInterval(30)) == nil)
        #expect(try ledger.runsHeldElsewhere(study: study.id!, now: now.addingTimeInterval(30)).count == 1)
        // Stale heartbeat: reclaimable.
        #expect(try ledger.claimRun(study: study.id!, now: now.addingTimeInterval(61)) != nil)
    }

    @Test func trialNumbersAreUniquePerRun() throws {
        let (ledger, _) = try makeLedger()
        let study = try seedStudy(ledger, runs: 1)
        let claim = try #require(try ledger.claimRun(study: study.id!))
        _ = try ledger.beginTrial(trial(claim.run.id!, 1))
        #expect(throws: (any Error).self) { _ = try ledger.beginTrial(trial(claim.run.id!, 1)) }
    }

    @Test func theLastFinishedRunFinishesTheStudy() throws {
        let (ledger, _) = try makeLedger()
        let study = try seedStudy(ledger, runs: 2)
        let a = try #require(try ledger.claimRun(study: study.id!))
        let b = try #require(try ledger.claimRun(study: study.id!))
        try ledger.finishRun(a.run.id!)
        #expect(try ledger.study(named: "s")?.status == "running")
        try ledger.finishRun(b.run.id!)
        #expect(try ledger.study(named: "s")?.status == "done")
        #expect(try ledger.progress(study: study.id!) == StudyProgress(runsDone: 2, runsTotal: 2, trialsDone: 0, trialsTotal: 6))
    }

    @Test func releasedRunsArePendingAgainWithTheirTrials() throws {
        let (ledger, _) = try makeLedger()
        let study = try seedStudy(ledger, runs: 1)
        let claim = try #require(try ledger.claimRun(study: study.id!))
        var t = try ledger.beginTrial(trial(claim.run.id!, 1))
        t.state = .fail; t.error = "boom"; t.finished = Date()
        try ledger.finishTrial(t)
        try ledger.releaseRun(claim.run.id!)
        let again = try #require(try ledger.claimRun(study: study.id!))
        #expect(again.trials.map(\.state) == [.fail])
        #expect(again.trials[0].error == "boom")
        #expect(again.trials[0].value == nil)
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

    @Test func concurrentClaimsFromManyOwnersNeverShareARun() throws {
        let (ledger, dir) = try makeLedger(staleAfter: 3600)
        let study = try seedStudy(ledger, runs: 40)
        let path = dir.appendingPathComponent("ledger.sqlite").path
        // Eight connections (as eight processes would have), each an owner on its own "host"
        // with a fresh heartbeat, so none may take another's run.
        let lock = NSLock()
        nonisolated(unsafe) var claimed: [Int64] = []
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let mine = try! Ledger(path: path, staleAfter: 3600)
            let owner = Owner(host: "host\(i)", pid: 1, start: 1)
            while let claim = try! mine.claimRun(study: study.id!, owner: owner) {
                lock.lock(); claimed.append(claim.run.id!); lock.unlock()
            }
        }
        #expect(claimed.count == 40)
        #expect(Set(claimed).count == 40)
        #expect(try ledger.runs(study: study.id!).allSatisfy { $0.status == "running" })
    }
}
