import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A study whose trials run as child processes of the local executor (4 slots), each taking
/// ~0.15 s: 4 optimizers × 2 seeds on a measured landscape, 2 trials in flight per run, results
/// told in ask order (deterministic), so an interrupted study must equal an uninterrupted one.
func localSpec(name: String = "local", delayMs: Int = 150, deterministic: Bool = true, optimizers: [String] = ["random", "sobol", "gp", "cmaes"],
               budget: Int = 12, batch: Int = 2, slots: Int = 4) -> String {
    let landscape = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Surrogates/testbed-language-task_arithmetic.csv").path
    return """
        name = "\(name)"
        seeds = 2
        budget = \(budget)
        \(optimizers.map { "[[optimizers]]\nkind = \"\($0)\"\n" }.joined(separator: "\n"))
        [[objectives]]
        name = "language"
        kind = "surrogate"
        landscape = "\(landscape)"
        delay_ms = \(delayMs)

        [executor]
        kind = "local"
        slots = \(slots)
        batch = \(batch)
        deterministic = \(deterministic)
        """
}

/// Attempt directories under `<ledger>.trials` whose worker wrote a result (real evaluations).
func evaluatedAttemptDirectories(_ trialRoot: URL) -> [String] {
    guard let e = FileManager.default.enumerator(atPath: trialRoot.path) else { return [] }
    var out: [String] = []
    while let path = e.nextObject() as? String {
        if path.hasSuffix("/result.json") { out.append(String(path.dropLast("/result.json".count))) }
    }
    return out.sorted()
}

/// Attempts started under a trial root (each leaves its supervisor's `worker.pid`).
func workerFiles(_ trialRoot: URL) -> Int {
    guard let e = FileManager.default.enumerator(atPath: trialRoot.path) else { return 0 }
    var n = 0
    while let path = e.nextObject() as? String { if path.hasSuffix("/worker.pid") { n += 1 } }
    return n
}

/// Processes whose command line mentions `needle` (left-over supervisors or workers).
func processes(mentioning needle: String) -> [Int32] {
    let me = getpid()
    return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
        guard pid != me, let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), stat.contains(") Z ") { return false }
        return cmd.replacingOccurrences(of: "\u{0}", with: " ").contains(needle)
    }
}

func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline { if condition() { return true }; Thread.sleep(forTimeInterval: 0.02) }
    return condition()
}

@Suite("coordinator CLI", .serialized)
struct CoordinatorCLITests {
    /// Deterministic mode: every optimizer must equal the uninterrupted run; asynchronous mode
    /// (results told on arrival): random and Sobol must.
    @Test(arguments: [true, false])
    func killMinus9OfTheCoordinatorWhileJobsRunLosesNothing(deterministic: Bool) throws {
        let dir = Scratch.directory("coordinator-cli")
        let optimizers = deterministic ? ["random", "sobol", "gp", "cmaes", "pattern", "powell"] : ["random", "sobol"]
        let spec = localSpec(deterministic: deterministic, optimizers: optimizers, budget: deterministic ? 10 : 12)
        try spec.write(to: dir.appendingPathComponent("local.toml"), atomically: true, encoding: .utf8)
        // The uninterrupted reference, in-process (same batch): trials depend on the spec alone,
        // not on the executor.
        try spec.replacingOccurrences(of: "kind = \"local\"", with: "kind = \"inprocess\"")
            .write(to: dir.appendingPathComponent("ref.toml"), atomically: true, encoding: .utf8)
        let ref = try MergeTuneBinary.run(["study", "launch", "ref.toml", "--ledger", "ref.sqlite"], in: dir)
        #expect(ref.status == 0, "\(ref.stderr)")
        let reference = try exportedTrials("local", ledger: "ref.sqlite", in: dir)
        #expect(reference.count == optimizers.count * 2 * (deterministic ? 10 : 12))

        var kills: [String] = []
        var reattached = 0
        for attempt in 0..<4 {
            let err = dir.appendingPathComponent("err\(attempt).txt")
            // Kill while jobs run: once this coordinator has started an attempt of its own (on a
            // loaded machine a fixed delay can land before the study is even created), then later.
            let started = workerFiles(dir.appendingPathComponent("l.trials"))
            let p = try MergeTuneBinary.spawn(["study", "launch", "local.toml", "--ledger", "l.sqlite"], in: dir,
                                              stdout: dir.appendingPathComponent("out\(attempt).txt"), stderr: err)
            _ = waitFor(60) { workerFiles(dir.appendingPathComponent("l.trials")) > started || !p.isRunning }
            let wait = Double.random(in: 0.05...0.8)
            Thread.sleep(forTimeInterval: wait)
            if p.isRunning { kill(p.processIdentifier, SIGKILL); kills.append(String(format: "%.2fs", wait)) }
            p.waitUntilExit()
            let text = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            if let r = text.range(of: #"(\d+) running attempts reattached"#, options: .regularExpression) {
                reattached += Int(text[r].split(separator: " ")[0]) ?? 0
            }
        }
        let resumed = try MergeTuneBinary.run(["study", "resume", "local", "--ledger", "l.sqlite"], in: dir)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        if let r = resumed.stderr.range(of: #"(\d+) running attempts reattached"#, options: .regularExpression) {
            reattached += Int(resumed.stderr[r].split(separator: " ")[0]) ?? 0
        }
        #expect(kills.count >= 2, "most kills should land while the study runs (\(kills))")
        #expect(reattached > 0, "a restart waits for the jobs the dead coordinator left running (kills: \(kills))")

        let trials = try exportedTrials("local", ledger: "l.sqlite", in: dir)
        #expect(trials.count == reference.count, "every run has exactly its budget (kills: \(kills))")
        #expect(trials == reference, "trial for trial equal to the uninterrupted run (kills: \(kills))")
        // Nothing evaluated twice without a second attempt on record: each evaluated attempt
        // directory is an attempt row, and each trial has one complete attempt.
        let all = try exportedRows("local", ledger: "l.sqlite", in: dir)
        let attempts = all.reduce(0) { $0 + Int($1["attempts"]!)! }
        let evaluated = evaluatedAttemptDirectories(dir.appendingPathComponent("l.trials"))
        #expect(evaluated.count <= attempts, "\(evaluated.count) evaluations, \(attempts) attempts recorded")
        #expect(evaluated.count >= trials.count)
        #expect(waitFor(5) { processes(mentioning: "--dir \(dir.path)").isEmpty }, "no supervisor or worker outlives the study")
    }

    @Test func aResumeUnderAnotherBLASThreadCountContinuesFromTheLedger() throws {
        // GP-BO's and CMA-ES's points depend on BLAS's summation order; a resume on a machine
        // with another thread count (or CPU kernels) must continue from the recorded points.
        let dir = Scratch.directory("coordinator-cli")
        let text = localSpec(name: "blas", delayMs: 20, deterministic: true, optimizers: ["gp", "cmaes"], budget: 30, batch: 2, slots: 2)
            .replacingOccurrences(of: "kind = \"local\"", with: "kind = \"inprocess\"")
        try text.write(to: dir.appendingPathComponent("b.toml"), atomically: true, encoding: .utf8)
        let err = dir.appendingPathComponent("err.txt")
        let p = try MergeTuneBinary.spawn(["study", "launch", "b.toml", "--ledger", "b.sqlite"], in: dir,
                                          stdout: dir.appendingPathComponent("out.txt"), stderr: err,
                                          environment: ["MERGETUNE_BLAS_THREADS": "2"])
        #expect(waitFor(60) { lines(of: err, containing: "[blas]") >= 2 })  // two runs finished
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let resumed = try MergeTuneBinary.run(["study", "resume", "blas", "--ledger", "b.sqlite"], in: dir)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("trials replayed"))
        let rows = try exportedRows("blas", ledger: "b.sqlite", in: dir)
        #expect(rows.count == 4 * 30 && rows.allSatisfy { $0["state"] == "COMPLETE" })
    }

    @Test func sigintAndSigtermCancelRunningTrialsAndAResumeFinishes() throws {
        for (sig, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            let dir = Scratch.directory("coordinator-cli")
            try localSpec(name: "sig", delayMs: 3000, deterministic: false, optimizers: ["random"], budget: 3, batch: 2, slots: 2)
                .write(to: dir.appendingPathComponent("s.toml"), atomically: true, encoding: .utf8)
            let err = dir.appendingPathComponent("err.txt")
            let p = try MergeTuneBinary.spawn(["study", "launch", "s.toml", "--ledger", "s.sqlite"], in: dir,
                                              stdout: dir.appendingPathComponent("out.txt"), stderr: err)
            #expect(waitFor(20) { processes(mentioning: "trial supervise --dir \(dir.path)").count >= 2 })
            let status1 = try MergeTuneBinary.run(["study", "status", "sig", "--ledger", "s.sqlite"], in: dir)
            #expect(status1.stdout.contains("running: 2"), "\(status1.stdout)")
            #expect(status1.stdout.contains("local"))
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            #expect(p.terminationStatus == status, "\((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
            #expect(waitFor(5) { processes(mentioning: "trial eval --dir \(dir.path)").isEmpty }, "no worker outlives the stop")
            let rows = try exportedRows("sig", ledger: "s.sqlite", in: dir)
            let cancelled = rows.filter { $0["reason"] == "cancelled" }
            #expect(cancelled.count == 2, "\(rows)")
            #expect(cancelled.allSatisfy { $0["state"] == "WAITING" })
            let list = try MergeTuneBinary.run(["study", "list", "--ledger", "s.sqlite"], in: dir)
            #expect(list.stdout.contains("stopped"), "\(list.stdout)")

            let resumed = try MergeTuneBinary.run(["study", "resume", "sig", "--ledger", "s.sqlite", "--slots", "6"], in: dir)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let done = try exportedRows("sig", ledger: "s.sqlite", in: dir)
            #expect(done.count == 6 && done.allSatisfy { $0["state"] == "COMPLETE" })
            #expect(done.filter { $0["attempts"] == "2" }.count == 2, "the cancelled attempts stay beside the new ones")
        }
    }

    @Test func studyStopCancelsOrWaits() throws {
        for wait in [false, true] {
            let dir = Scratch.directory("coordinator-cli")
            try localSpec(name: "stop", delayMs: 1500, deterministic: false, optimizers: ["random"], budget: 4, batch: 2, slots: 2)
                .write(to: dir.appendingPathComponent("s.toml"), atomically: true, encoding: .utf8)
            let p = try MergeTuneBinary.spawn(["study", "launch", "s.toml", "--ledger", "s.sqlite"], in: dir,
                                              stdout: dir.appendingPathComponent("out.txt"), stderr: dir.appendingPathComponent("err.txt"))
            #expect(waitFor(20) { processes(mentioning: "trial supervise --dir \(dir.path)").count >= 2 })
            let stop = try MergeTuneBinary.run(["study", "stop", "stop", "--ledger", "s.sqlite"] + (wait ? ["--wait"] : []), in: dir)
            #expect(stop.status == 0, "\(stop.stderr)")
            #expect(stop.stdout.contains("stopped study stop"), "\(stop.stdout)")
            p.waitUntilExit()
            #expect(p.terminationStatus == 143)
            let rows = try exportedRows("stop", ledger: "s.sqlite", in: dir)
            if wait {
                // Let finish: the running trials completed, nothing new was asked.
                #expect(rows.filter { $0["state"] == "COMPLETE" }.count == 2, "\(rows)")
                #expect(rows.count == 2)
            } else {
                #expect(rows.filter { $0["reason"] == "cancelled" }.count == 2, "\(rows)")
            }
        }
    }

    @Test func aStudyWithNoLiveCoordinatorIsStoppedByCancellingItsJobs() throws {
        let dir = Scratch.directory("coordinator-cli")
        try localSpec(name: "orphan", delayMs: 20000, deterministic: false, optimizers: ["random"], budget: 2, batch: 2, slots: 2)
            .write(to: dir.appendingPathComponent("s.toml"), atomically: true, encoding: .utf8)
        let p = try MergeTuneBinary.spawn(["study", "launch", "s.toml", "--ledger", "s.sqlite"], in: dir,
                                          stdout: dir.appendingPathComponent("out.txt"), stderr: dir.appendingPathComponent("err.txt"))
        #expect(waitFor(20) { processes(mentioning: "trial supervise --dir \(dir.path)").count >= 2 })
        Thread.sleep(forTimeInterval: 0.3)  // the job ids are committed right after the start
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        // The jobs outlive their coordinator ...
        #expect(processes(mentioning: "trial supervise --dir \(dir.path)").count == 2)
        let status = try MergeTuneBinary.run(["study", "status", "orphan", "--ledger", "s.sqlite"], in: dir)
        #expect(status.stdout.contains("not running"), "\(status.stdout)")
        // ... until `study stop` cancels them and records it.
        let stop = try MergeTuneBinary.run(["study", "stop", "orphan", "--ledger", "s.sqlite", "--timeout", "20"], in: dir)
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(stop.stdout.contains("2 running attempts cancelled"), "\(stop.stdout)")
        #expect(waitFor(15) { processes(mentioning: "trial eval --dir \(dir.path)").isEmpty })
        let rows = try exportedRows("orphan", ledger: "s.sqlite", in: dir)
        #expect(rows.count == 2 && rows.allSatisfy { $0["reason"] == "cancelled" && $0["state"] == "WAITING" })
    }
}

/// The exported trials as dictionaries by column name.
func exportedRows(_ study: String, ledger: String, in dir: URL) throws -> [[String: String]] {
    let file = "rows-\(UUID().uuidString).csv"
    let r = try MergeTuneBinary.run(["study", "export", study, "--ledger", ledger, "--trials", file], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let lines = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8).split(separator: "\n").map(String.init)
    let header = splitCSV(lines[0])
    return lines.dropFirst().map { line in Dictionary(uniqueKeysWithValues: zip(header, splitCSV(line))) }
}
