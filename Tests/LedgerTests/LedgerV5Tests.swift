import Foundation
import Testing
import GRDB
@testable import Ledger
import TestSupport

@Suite("Ledger v5 (fidelities)")
struct LedgerV5Tests {
    /// A v4 ledger (as 0.3.0 wrote it) migrates in place: its trials were all evaluated at full
    /// fidelity, which v5 records as NULL fidelity and cost; a read-only open reads them so too.
    @Test func aV4LedgerMigratesToV5WithEveryTrialAtFullFidelity() throws {
        let dir = Scratch.directory("ledger-tests")
        let path = dir.appendingPathComponent("v4.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try Ledger.migrator.migrate(queue, upTo: "v4: references.extras")
            let columns = try queue.read { db in try db.columns(in: "trials").map(\.name) }
            #expect(!columns.contains("fidelity") && !columns.contains("cost"))
            try queue.write { db in
                try db.execute(sql: "INSERT INTO studies (name, spec, created, status) VALUES ('s', '{}', '2026-01-01 00:00:00.000', 'running')")
                try db.execute(sql: "INSERT INTO objectives (study, name, kind, definition, f_min, f_max) VALUES (1, 'o', 'analytic', '{}', 0, 1)")
                try db.execute(sql: "INSERT INTO runs (study, objective, optimizer, seed, optimizer_seed, budget, status, batch) VALUES (1, 1, 'random', 0, 0, 3, 'running', 1)")
                try db.execute(sql: """
                    INSERT INTO trials (run, number, params, unit, value, state, started, ask_seq, tell_seq, origin, attempts)
                    VALUES (1, 1, '{}', '[0.5]', 0.25, 'COMPLETE', '2026-01-01 00:00:00.000', 0, 1, 'optimizer', 1)
                    """)
            }
        }
        let reader = try Ledger(path: path, readOnly: true)
        let old = try reader.trials(run: 1)
        #expect(old.count == 1 && old[0].fidelity == nil && old[0].cost == nil && old[0].value == 0.25)
        let before = try DatabaseQueue(path: path).read { db in try Ledger.migrator.appliedIdentifiers(db) }
        #expect(!before.contains("v5: trials.fidelity, trials.cost"))

        let ledger = try Ledger(path: path)
        let applied = try ledger.pool.read { db in try Ledger.migrator.appliedIdentifiers(db) }
        #expect(applied.contains("v5: trials.fidelity, trials.cost"))
        let trials = try ledger.trials(run: 1)
        #expect(trials.count == 1 && trials[0].fidelity == nil && trials[0].cost == nil)
        #expect(trials[0].askSeq == 0 && trials[0].tellSeq == 1 && trials[0].value == 0.25)
        let version = try ledger.pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'written_by'") }
        #expect(version == Ledger.writerVersion && Ledger.writerVersion == "0.6.0")
        // A v5 trial keeps its fidelity and cost through the writer's fast path.
        _ = try ledger.claimStudy(1)
        try ledger.write(study: 1) { w in
            var t = TrialRecord(run: 1, number: 2, params: "{}", unit: "[0.25]", state: .waiting, started: Date(),
                                askSeq: 2, fidelity: 0, cost: 1.5)
            try w.insert(&t)
            t.state = .complete; t.value = 0.5
            try w.update(t)
        }
        let again = try ledger.trials(run: 1)
        #expect(again.map(\.fidelity) == [nil, 0] && again.map(\.cost) == [nil, 1.5])
    }
}
