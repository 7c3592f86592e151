import Dashboard
import Foundation
import Ledger
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `mergetune serve` itself: the built binary on a free port of 127.0.0.1.
@Suite(.serialized) struct ServeCommand {
    @Test func bindsLoopbackPrintsTheURLAndServesEveryRoute() throws {
        let (_, path) = try Fixture.finishedLedger("served", optimizers: ["random", "sobol"], budget: 4)
        let server = try ServeProcess(ledger: path)
        #expect(server.url.hasPrefix("http://127.0.0.1:"))
        let port = Int(server.url.dropFirst("http://127.0.0.1:".count).dropLast())!
        #expect(port > 0 && port != 8080)
        for (route, type) in [("", "text/html"), ("studies/served", "text/html"), ("api/studies", "application/json"),
                              ("api/studies/served", "application/json"), ("api/studies/served/summary", "application/json"),
                              ("api/studies/served/running", "application/json"), ("api/studies/served/sections", "application/json")] {
            let r = httpGet(server.url + route)
            #expect(r.status == 200, "\(route): \(r.body.prefix(300))")
            #expect(r.contentType.hasPrefix(type), "\(route): \(r.contentType)")
        }
        let list = try JSONDecoder().decode(StudyList.self, from: Data(httpGet(server.url + "api/studies").body.utf8))
        #expect(list.studies.map(\.trialsDone) == [32])
        #expect(httpGet(server.url + "api/studies/nope").status == 404)
        #expect(httpGet(server.url + "no/such/page").status == 404)
        #expect(server.stop() == 0, "\(server.stderr)")
    }

    @Test func aMissingLedgerIsServedAsAPageNotACrash() throws {
        let path = Scratch.path("nowhere") + ".sqlite"
        let server = try ServeProcess(ledger: path)
        let r = httpGet(server.url)
        #expect(r.status == 404)
        #expect(r.body.contains(path))
        #expect(server.process.isRunning)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(server.stop() == 0)
    }

    @Test func aPortInUseIsAClearError() throws {
        let (_, path) = try Fixture.finishedLedger("busyport", optimizers: ["random"], budget: 3)
        let first = try ServeProcess(ledger: path)
        let port = String(first.url.dropFirst("http://127.0.0.1:".count).dropLast())
        let second = try MergeTune.run(["serve", "--ledger", path, "--port", port])
        #expect(second.status == 1)
        #expect(second.stderr.contains("error:"), "\(second.stderr)")
        #expect(second.stderr.contains("cannot listen on 127.0.0.1:\(port): the address is already in use"), "\(second.stderr)")
        #expect(first.stop() == 0)
    }

    /// Several coordinators write to one ledger (a local-executor study with 4 slots of child
    /// processes, and an in-process one) while clients hammer every route: both studies finish
    /// with every trial COMPLETE, no coordinator reports a busy or locked ledger, and the
    /// dashboard saw trials running in their slots.
    @Test func aRunningStudyWithSeveralWritersNeverWaitsOnTheDashboard() throws {
        let dir = Scratch.directory("writers")
        let local = Fixture.spec(name: "slots", optimizers: ["random", "sobol"], budget: 10, delayMs: 60,
                                 executor: "[executor]\nkind = \"local\"\nslots = 4\nbatch = 2\n")
        try local.write(to: dir.appendingPathComponent("slots.toml"), atomically: true, encoding: .utf8)
        try Fixture.spec(name: "threads", optimizers: ["random", "cmaes", "sobol"], budget: 40, delayMs: 5)
            .write(to: dir.appendingPathComponent("threads.toml"), atomically: true, encoding: .utf8)
        let ledger = dir.appendingPathComponent("shared.sqlite").path
        // The ledger exists before the server starts (it also copes when it does not).
        let server = try ServeProcess(ledger: ledger)
        let a = try MergeTune.spawn(["study", "launch", "slots.toml", "--ledger", ledger], in: dir)
        let b = try MergeTune.spawn(["study", "launch", "threads.toml", "--ledger", ledger, "--jobs", "2"], in: dir)

        let stats = HammerStats()
        let routes = ["", "api/studies", "studies/slots", "api/studies/slots", "api/studies/slots/running",
                      "api/studies/slots/summary", "api/studies/slots/sections", "studies/threads",
                      "api/studies/threads/running", "api/studies/threads/summary"]
        let deadline = Date().addingTimeInterval(240)
        let group = DispatchGroup()
        let base = server.url
        for worker in 0..<3 {
            group.enter()
            Thread.detachNewThread {
                var i = worker
                // Bounded in count and time; stops once both coordinators exited.
                while (a.0.isRunning || b.0.isRunning) && Date() < deadline && i < 20_000 {
                    let route = routes[i % routes.count]
                    let r = httpGet(base + route)
                    stats.record(route: route, status: r.status, body: r.body)
                    i += 1
                }
                group.leave()
            }
        }
        a.0.waitUntilExit()
        b.0.waitUntilExit()
        group.wait()
        let errA = (try? String(contentsOf: a.2, encoding: .utf8)) ?? ""
        let errB = (try? String(contentsOf: b.2, encoding: .utf8)) ?? ""
        #expect(a.0.terminationStatus == 0, "\(errA)")
        #expect(b.0.terminationStatus == 0, "\(errB)")
        for text in [errA, errB] {
            #expect(!text.lowercased().contains("busy") && !text.lowercased().contains("locked"), "\(text)")
        }
        let reader = try Ledger(path: ledger, readOnly: true)
        for (name, total) in [("slots", 2 * 2 * 2 * 10), ("threads", 3 * 2 * 2 * 40)] {
            let study = try #require(try reader.study(named: name))
            #expect(study.status == "done")
            let states = try reader.trialStates(study: study.id!)
            #expect(states[.complete] == total, "\(name): \(states)")
            #expect(states.count == 1, "\(name): \(states)")
        }
        let s = stats.snapshot()
        #expect(s.requests >= 30, "only \(s.requests) requests while the studies ran")
        #expect(s.failures.isEmpty, "\(s.failures.prefix(5))")
        #expect(s.maxRunning >= 2, "the dashboard never saw several trials running (max \(s.maxRunning))")
        #expect(s.slotsSeen.isSubset(of: [0, 1, 2, 3]) && s.slotsSeen.count >= 2, "slots \(s.slotsSeen)")
        #expect(server.stop() == 0)
    }
}

final class HammerStats: @unchecked Sendable {
    private let lock = NSLock()
    private var requests = 0
    private var failures: [String] = []
    private var maxRunning = 0
    private var slots: Set<Int> = []

    func record(route: String, status: Int, body: String) {
        var running: RunningTrials?
        if route == "api/studies/slots/running", status == 200 {
            running = try? JSONDecoder().decode(RunningTrials.self, from: Data(body.utf8))
        }
        lock.withLock {
            requests += 1
            // Before the coordinator creates its study the routes of that study are 404: expected.
            if status != 200 && status != 404 { failures.append("\(route): \(status) \(body.prefix(1500))") }
            if let running {
                maxRunning = max(maxRunning, running.running.count)
                slots.formUnion(running.running.compactMap(\.slot))
            }
        }
    }

    func snapshot() -> (requests: Int, failures: [String], maxRunning: Int, slotsSeen: Set<Int>) {
        lock.withLock { (requests, failures, maxRunning, slots) }
    }
}
