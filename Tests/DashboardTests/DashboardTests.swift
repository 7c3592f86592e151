import Dashboard
import Foundation
import GRDB
import Ledger
import StudyEngine
import Testing
import TestSupport

/// The dashboard's answers, computed in-process from a ledger (no server).
@Suite struct DashboardAnswers {
    @Test func studyListAndStudyMatchTheLedger() throws {
        let (_, path) = try Fixture.finishedLedger("listed", optimizers: ["random", "sobol"], budget: 6)
        let site = Fixture.site(path)
        let list = try Fixture.decode(StudyList.self, site.studiesAPI())
        #expect(list.ledger == path)
        #expect(list.studies.map(\.name) == ["listed"])
        let s = list.studies[0]
        // 2 optimizers × 2 seeds × 2 objectives = 8 runs of 6 evaluations.
        #expect(s.status == "done")
        #expect(s.runsDone == 8 && s.runsTotal == 8)
        #expect(s.trialsDone == 48 && s.trialsTotal == 48)
        #expect(s.running == 0 && s.waiting == 0 && s.failed == 0)
        #expect(s.coordinator == nil)
        #expect(try Fixture.decode(StudyEntry.self, site.studyAPI("listed")) == s)
        let running = try Fixture.decode(RunningTrials.self, site.runningAPI("listed"))
        #expect(running.study == "listed" && running.running.isEmpty)
    }

    @Test func summaryIsExactlyTheCommandsJSON() throws {
        let (_, path) = try Fixture.finishedLedger("summed")
        let reply = Fixture.site(path).summaryAPI("summed")
        #expect(reply.status == 200)
        #expect(reply.contentType.hasPrefix("application/json"))
        let cli = try MergeTune.run(["study", "summary", "summed", "--format", "json", "--ledger", path])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(reply.body == cli.stdout)
        let summary = try JSONDecoder().decode(StudySummary.self, from: Data(reply.body.utf8))
        #expect(summary.objectives.count == 2)
        #expect(summary.overall.map(\.optimizer) == ["random", "sobol", "cmaes"])
    }

    @Test func studyPageCarriesProgressRunningAndSections() throws {
        let (_, path) = try Fixture.finishedLedger("paged", optimizers: ["random", "cmaes"], budget: 6)
        let site = Fixture.site(path)
        let page = site.get("/studies/paged")
        #expect(page.status == 200)
        #expect(page.contentType.hasPrefix("text/html"))
        #expect(DOM.text(page.body, id: "study-name") == "paged")
        #expect(DOM.text(page.body, id: "trials") == "48 / 48")
        #expect(DOM.text(page.body, id: "runs") == "8 / 8")
        #expect(DOM.text(page.body, id: "status") == "done")
        let sections = try Fixture.decode(SectionList.self, site.sectionsAPI("paged"))
        #expect(!sections.sections.isEmpty)
        for s in sections.sections {
            #expect(DOM.elements(page.body, with: "data-section", equal: s.id).count == 1, "section \(s.id)")
        }
        // The page's script polls these routes (and nothing outside the dashboard: works offline).
        #expect(page.body.contains("'/sections'") && page.body.contains("'/running'"))
        #expect(!page.body.contains("src=\"http") && !page.body.contains("<link") && !page.body.contains("@import"))
    }

    @Test func indexListsEveryStudyWithALink() throws {
        let (dir, path) = try Fixture.finishedLedger("first", optimizers: ["random"], budget: 4)
        let second = dir.appendingPathComponent("second.toml")
        try Fixture.spec(name: "second.one", optimizers: ["sobol"], budget: 3).write(to: second, atomically: true, encoding: .utf8)
        _ = try StudyEngine.launch(specURL: second, ledgerPath: path)
        let page = Fixture.site(path).get("/")
        #expect(page.status == 200)
        let rows = DOM.elements(page.body, with: "data-study")
        #expect(rows.map { $0["data-study"]! } == ["first", "second.one"])
        #expect(page.body.contains("href=\"/studies/second.one\""))
        #expect(Fixture.site(path).get("/studies/second.one").status == 200)
    }

    @Test func cachedAnswersFollowTheLedger() throws {
        let (dir, path) = try Fixture.finishedLedger("cached", optimizers: ["random"], budget: 3)
        let site = Fixture.site(path)
        let first = try Fixture.decode(SectionList.self, site.sectionsAPI("cached"))
        #expect(try Fixture.decode(SectionList.self, site.sectionsAPI("cached")).version == first.version)
        let summary = site.summaryAPI("cached").body
        // Another study written to the ledger: the version moves, the list grows, and this
        // study's summary (unchanged) is still exactly the command's.
        let more = dir.appendingPathComponent("more.toml")
        try Fixture.spec(name: "more", optimizers: ["sobol"], budget: 3).write(to: more, atomically: true, encoding: .utf8)
        _ = try StudyEngine.launch(specURL: more, ledgerPath: path)
        // The first answer after the change is the previous one, marked stale, while the new one
        // is computed in the background; then the new one comes.
        let stale = try Fixture.decode(SectionList.self, site.sectionsAPI("cached"))
        #expect(stale.stale && stale.version == first.version && stale.sections == first.sections)
        var next = stale
        let deadline = Date().addingTimeInterval(20)
        while next.stale && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            next = try Fixture.decode(SectionList.self, site.sectionsAPI("cached"))
        }
        #expect(!next.stale && next.version != first.version)
        #expect(!first.stale)
        #expect(try Fixture.decode(StudyList.self, site.studiesAPI()).studies.map(\.name) == ["cached", "more"])
        #expect(site.summaryAPI("cached").body == summary)
        #expect(try Fixture.decode(StudyEntry.self, site.studyAPI("more")).trialsDone == 12)
    }

    @Test func unknownStudiesAndRoutesAre404() throws {
        let (_, path) = try Fixture.finishedLedger("known", optimizers: ["random"], budget: 3)
        let site = Fixture.site(path)
        let page = site.get("/studies/nope")
        #expect(page.status == 404)
        #expect(page.body.contains("no study named &#39;nope&#39;"))
        for route in ["/api/studies/nope", "/api/studies/nope/summary", "/api/studies/nope/running", "/api/studies/nope/sections"] {
            let r = site.get(route)
            #expect(r.status == 404, "\(route)")
            #expect(try Fixture.decode(APIError.self, r).error == "no_such_study", "\(route)")
        }
        #expect(site.get("/api/studies/known/other").status == 404)
        #expect(site.get("/elsewhere").status == 404)
    }
}

/// Ledgers the dashboard cannot read give a page that says why, never a crash, and it never
/// creates or changes a ledger.
@Suite struct DashboardFailures {
    @Test func aMissingLedgerGetsAPageNamingThePath() throws {
        let path = Scratch.path("absent") + ".sqlite"
        let site = Fixture.site(path)
        let page = site.get("/")
        #expect(page.status == 404)
        #expect(page.body.contains("No ledger yet"))
        #expect(page.body.contains(path))
        #expect(page.body.contains("http-equiv=\"refresh\""))  // reloads until the study is launched
        let api = site.get("/api/studies")
        #expect(api.status == 404)
        #expect(try Fixture.decode(APIError.self, api).error == "missing_ledger")
        #expect(!FileManager.default.fileExists(atPath: path))
        // Once a study is launched there, the same dashboard shows it.
        let specURL = URL(fileURLWithPath: Scratch.path("late") + ".toml")
        try Fixture.spec(name: "late", optimizers: ["random"], budget: 3).write(to: specURL, atomically: true, encoding: .utf8)
        _ = try StudyEngine.launch(specURL: specURL, ledgerPath: path)
        #expect(site.get("/").status == 200)
        #expect(try Fixture.decode(StudyList.self, site.studiesAPI()).studies.map(\.name) == ["late"])
    }

    @Test func aLedgerBeingCreatedHasNoStudiesYet() throws {
        // The moment after `study launch` created the file and before it made the tables.
        let path = Scratch.path("creating") + ".sqlite"
        FileManager.default.createFile(atPath: path, contents: nil)
        let site = Fixture.site(path)
        let index = site.get("/")
        #expect(index.status == 200)
        #expect(DOM.elements(index.body, with: "data-study").isEmpty)
        #expect(index.body.contains("No studies in this ledger yet"))
        #expect(site.get("/studies/soon").status == 404)
        #expect(try Fixture.decode(APIError.self, site.get("/api/studies/soon/summary")).error == "no_such_study")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
    }

    @Test func aLockedLedgerGetsA503AfterRetrying() throws {
        let (_, path) = try Fixture.finishedLedger("locked", optimizers: ["random"], budget: 3)
        // Another process's exclusive lock, taken while nobody has the ledger open (every open WAL
        // connection holds a shared lock, so a running coordinator or a dashboard that already
        // reads it keeps it from being taken): the only way a WAL reader is shut out.
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.allowsUnsafeTransactions = true  // the lock outlives one access
        let holder = try DatabaseQueue(path: path, configuration: config)
        try holder.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
            try db.execute(sql: "BEGIN EXCLUSIVE")
            try db.execute(sql: "UPDATE meta SET value = value")
        }
        let site = Fixture.site(path, busyTimeout: 0.4)
        for route in ["/", "/studies/locked"] {
            let start = Date()
            let page = site.get(route)
            let waited = Date().timeIntervalSince(start)
            #expect(page.status == 503, "\(route): \(page.body.prefix(400))")
            #expect(page.retryAfter == 2)
            #expect(page.body.contains("Ledger locked"))
            #expect(page.body.contains(path))
            #expect(waited >= 0.3 && waited < 5, "retried for \(waited) s")
        }
        let api = site.get("/api/studies/locked/summary")
        #expect(api.status == 503)
        #expect(try Fixture.decode(APIError.self, api).error == "locked")
        try holder.writeWithoutTransaction { db in
            try db.execute(sql: "COMMIT")
            try db.execute(sql: "PRAGMA locking_mode = NORMAL")
            _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM studies")  // releases the lock
        }
        try holder.close()
        // Once the lock is gone the same dashboard answers.
        #expect(site.get("/").status == 200)
        #expect(site.get("/api/studies").status == 200)
    }

    @Test func aLedgerFromANewerMergetuneGetsAClearPage() throws {
        let (_, path) = try Fixture.finishedLedger("future", optimizers: ["random"], budget: 3)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9: from the future')")
            try db.execute(sql: "UPDATE meta SET value = '9.9.9' WHERE key = 'written_by'")
        }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let site = Fixture.site(path)
        for route in ["/", "/studies/future"] {
            let page = site.get(route)
            #expect(page.status == 500, "\(route)")
            #expect(page.body.contains("Ledger from a newer mergetune"))
            #expect(page.body.contains("v9: from the future"))
            #expect(page.body.contains("Upgrade mergetune"))
        }
        #expect(try Fixture.decode(APIError.self, site.get("/api/studies")).error == "newer_schema")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func anotherProgramsDatabaseIsNotALedger() throws {
        let path = Scratch.path("foreign") + ".sqlite"
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "CREATE TABLE songs (title TEXT)") }
        try queue.close()
        let page = Fixture.site(path).get("/")
        #expect(page.status == 500)
        #expect(page.body.contains("not a mergetune ledger"))
        #expect(page.body.contains(path))
    }
}

/// The `mergetune` binary for the CLI comparisons.
enum MergeTune {
    struct Output { let status: Int32; let stdout: String; let stderr: String }

    static func run(_ arguments: [String]) throws -> Output {
        let dir = Scratch.directory("mergetune-run")
        let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = BuiltProducts.mergetune
        p.arguments = arguments
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    static func spawn(_ arguments: [String], in dir: URL) throws -> (Process, URL, URL) {
        let out = dir.appendingPathComponent("out-\(UUID().uuidString)"), err = dir.appendingPathComponent("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = BuiltProducts.mergetune
        p.arguments = arguments
        p.currentDirectoryURL = dir
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }
}

@Suite struct DashboardFirstAnswer {
    /// A study whose report takes long to compute (100,000 trials take ~6 s): the page does not
    /// wait for it, it shows a placeholder marked stale and the real sections once computed.
    @Test func aSlowFirstReportDoesNotHoldThePage() throws {
        let (_, path) = try Fixture.finishedLedger("slow", optimizers: ["random"], budget: 4)
        let data = DashboardData(source: LedgerSource(path: path, busyTimeout: 0.3), sections: { ledger, name in
            Thread.sleep(forTimeInterval: 3)
            return try DashboardSections.standard(ledger, name)
        })
        let start = Date()
        let first = try data.sections("slow")
        #expect(Date().timeIntervalSince(start) < 1.5, "the page waited for the whole computation")
        #expect(first.stale && first.sections.map(\.id) == ["computing"], "\(first.sections.map(\.id))")
        Thread.sleep(forTimeInterval: 3)
        let later = try data.sections("slow")
        #expect(!later.stale && later.sections.contains { $0.id == "regret" }, "\(later.sections.map(\.id))")
        #expect(throws: (any Error).self) { try data.sections("no-such-study") }
    }
}

/// A study with fidelities: its budget is in cost, so the dashboard's progress is too.
@Suite struct DashboardCostProgress {
    @Test func aMultiFidelityStudyShowsCostAgainstItsBudget() throws {
        let dir = Scratch.directory("dashboard-cost")
        let specURL = dir.appendingPathComponent("mf.toml")
        try """
            name = "mf"
            seeds = 1
            budget = 3
            [[optimizers]]
            kind = "asha"
            [[objectives]]
            kind = "command"
            name = "quadratic"
            command = ["python3", "-c", "import sys, json; p = json.loads(sys.argv[1]); print(-(p['x'] - 0.3) ** 2 + 0.001 * int(sys.argv[2]))", "{params_json}", "{fidelity}"]
            score = "stdout"
            bounds = { x = [0, 1] }
            fidelities = [{ value = 10, cost = 1 }, { value = 30, cost = 3 }]
            """.write(to: specURL, atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("ledger.sqlite").path
        _ = try StudyEngine.launch(specURL: specURL, ledgerPath: path)
        let trials = try Ledger(path: path, readOnly: true).trials(study: 1)
        let cost = trials.reduce(0.0) { $0 + $1.cost! } / 3
        let site = Fixture.site(path)
        let s = try Fixture.decode(StudyEntry.self, site.studyAPI("mf"))
        #expect(s.trialsDone == trials.count && s.trialsTotal == 3 && abs(s.costDone! - cost) < 1e-12 && trials.count > 3, "\(s)")
        let page = site.studyPage("mf").body
        let r = (cost * 100).rounded() / 100  // the page's rounding
        #expect(page.contains("cost \(r == r.rounded() ? String(Int(r)) : String(r)) / 3 (\(trials.count) trials)"), "\(page)")
        // Its regret chart is against cost, as in `study report` (the same sections).
        let regret = try #require(try Fixture.decode(SectionList.self, site.sectionsAPI("mf")).sections.first { $0.id == "regret" })
        #expect(regret.html.contains("regret over cost") && regret.html.contains("cost (full-fidelity evaluations)"))
        // An ordinary study's entry has no cost.
        let (_, plain) = try Fixture.finishedLedger("plain", optimizers: ["random"], budget: 4)
        #expect(try Fixture.decode(StudyEntry.self, Fixture.site(plain).studyAPI("plain")).costDone == nil)
    }
}
