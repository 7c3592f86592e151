import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// A study of analytic objectives with a small simulated cost per evaluation, so that kills land
/// in the middle of runs: 3 objectives × 6 optimizers × 2 seeds = 36 runs, 468 evaluations.
/// Every optimizer kind is in it: replaying the ledger must rebuild each one's state exactly.
let crashSpec = """
    name = "crash"
    seeds = 2
    budget = { 2 = 12, 3 = 15 }

    [[optimizers]]
    kind = "random"

    [[optimizers]]
    kind = "sobol"

    [[optimizers]]
    kind = "gp"

    [[optimizers]]
    kind = "cmaes"

    [[optimizers]]
    kind = "pattern"

    [[optimizers]]
    kind = "powell"

    [[objectives]]
    kind = "analytic"
    function = "branin"
    delay_ms = 2

    [[objectives.references]]
    name = "centre"
    params = { x1 = 2.5, x2 = 7.5 }

    [[objectives]]
    kind = "analytic"
    function = "six_hump_camel"
    delay_ms = 2

    [[objectives]]
    kind = "analytic"
    function = "hartmann3"
    delay_ms = 2
    """
let crashRuns = 36
let crashTrials = 2 * 6 * (12 + 12 + 15)

func makeDirectory() throws -> URL {
    Scratch.directory("study-cli")
}

/// The trials of a study as exported, without the timing columns (and sorted by run identity),
/// so that two ledgers can be compared trial for trial.
func exportedTrials(_ study: String, ledger: String, in dir: URL) throws -> [[String]] {
    let file = "trials-\(UUID().uuidString).csv"
    let r = try MergeTuneBinary.run(["study", "export", study, "--ledger", ledger, "--trials", file], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
    let lines = text.split(separator: "\n").map(String.init)
    let header = splitCSV(lines[0])
    let keep = ["objective", "optimizer", "seed", "number", "state", "value", "error", "params"].map { header.firstIndex(of: $0)! }
    return lines.dropFirst().map { line in let f = splitCSV(line); return keep.map { f[$0] } }
        .sorted { $0.lexicographicallyPrecedes($1) }
}

/// A CSV line's fields (quotes as written by the exporter).
func splitCSV(_ line: String) -> [String] {
    var fields: [String] = [], field = "", quoted = false
    var chars = Array(line)[...]
    while let c = chars.popFirst() {
        if quoted {
            if c == "\"" { if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false } }
            else { field.append(c) }
        } else if c == "\"" { quoted = true } else if c == "," { fields.append(field); field = "" } else { field.append(c) }
    }
    fields.append(field)
    return fields
}

/// The uninterrupted run every crash test compares with (built once).
let uninterrupted: Result<(dir: URL, trials: [[String]]), Error> = Result {
    let dir = try makeDirectory()
    try crashSpec.write(to: dir.appendingPathComponent("crash.toml"), atomically: true, encoding: .utf8)
    let r = try MergeTuneBinary.run(["study", "launch", "crash.toml", "--ledger", "reference.sqlite"], in: dir)
    guard r.status == 0 else { throw CocoaError(.featureUnsupported, userInfo: ["stderr": r.stderr]) }
    return (dir, try exportedTrials("crash", ledger: "reference.sqlite", in: dir))
}

func lines(of file: URL, containing needle: String) -> Int {
    ((try? String(contentsOf: file, encoding: .utf8)) ?? "").components(separatedBy: "\n").filter { $0.contains(needle) }.count
}

@Suite("study CLI", .serialized)
struct StudyCLITests {
    @Test func theReferenceRunIsComplete() throws {
        let reference = try uninterrupted.get()
        #expect(reference.trials.count == crashTrials)
        // No (objective, optimizer, seed, number) twice.
        #expect(Set(reference.trials.map { $0.prefix(4).joined(separator: "|") }).count == crashTrials)
        #expect(reference.trials.allSatisfy { $0[4] == "COMPLETE" })
    }

    @Test func killMinus9AtRandomMomentsThenResumeEqualsAnUninterruptedRun() throws {
        let reference = try uninterrupted.get()
        let dir = try makeDirectory()
        try crashSpec.write(to: dir.appendingPathComponent("crash.toml"), atomically: true, encoding: .utf8)
        var killed = 0
        var moments: [String] = []
        for attempt in 0..<5 {
            let err = dir.appendingPathComponent("err\(attempt).txt")
            let process = try MergeTuneBinary.spawn(["study", "launch", "crash.toml", "--ledger", "crash.sqlite", "--jobs", "2"],
                                             in: dir, stdout: dir.appendingPathComponent("out\(attempt).txt"), stderr: err)
            // Wait until this process has started work (its first progress line) and finished
            // 0–1 runs, then a random extra 0–40 ms: the kill lands mid-run, mid-trial or mid-commit.
            let runsFirst = Int.random(in: 0...1)
            let extra = Double.random(in: 0...0.04)
            let deadline = Date().addingTimeInterval(60)
            while process.isRunning, Date() < deadline,
                  lines(of: err, containing: "[crash]") < 1 + runsFirst {
                Thread.sleep(forTimeInterval: 0.002)
            }
            Thread.sleep(forTimeInterval: extra)
            moments.append("after \(runsFirst) runs + \(Int(extra * 1000)) ms")
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()  // reaped: the pid is gone, its runs are reclaimable
            if process.terminationReason == .uncaughtSignal { killed += 1 }
        }
        #expect(killed >= 3, "most kills should land while the study runs (\(moments))")
        let status = try MergeTuneBinary.run(["study", "list", "--ledger", "crash.sqlite"], in: dir)
        #expect(status.status == 0)

        let resumed = try MergeTuneBinary.run(["study", "resume", "crash", "--ledger", "crash.sqlite", "--jobs", "2"], in: dir)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("regret over random"))
        let trials = try exportedTrials("crash", ledger: "crash.sqlite", in: dir)
        #expect(trials.count == crashTrials, "no trial lost or duplicated (kills: \(moments))")
        #expect(trials == reference.trials, "trial for trial equal to the uninterrupted run (kills: \(moments))")
    }

    @Test func twoLaunchesOnOneLedgerShareOneCoordinator() throws {
        let reference = try uninterrupted.get()
        let dir = try makeDirectory()
        try crashSpec.write(to: dir.appendingPathComponent("crash.toml"), atomically: true, encoding: .utf8)
        // Both start on a fresh ledger: they race to migrate it and create the study; one becomes
        // its coordinator, the other is refused with the coordinator's name (or, if it comes
        // second, finds the study done).
        let errs = (0..<2).map { dir.appendingPathComponent("err\($0).txt") }
        let processes = try (0..<2).map { i in
            try MergeTuneBinary.spawn(["study", "launch", "crash.toml", "--ledger", "shared.sqlite", "--jobs", "2"], in: dir,
                               stdout: dir.appendingPathComponent("out\(i).txt"), stderr: errs[i])
        }
        for p in processes { p.waitUntilExit() }
        let statuses = processes.map(\.terminationStatus)
        #expect(statuses.contains(0))
        for (i, p) in processes.enumerated() where p.terminationStatus != 0 {
            let text = (try? String(contentsOf: errs[i], encoding: .utf8)) ?? ""
            #expect(p.terminationStatus == 1 && text.contains("is being run by another coordinator"), "\(text)")
        }
        let trials = try exportedTrials("crash", ledger: "shared.sqlite", in: dir)
        #expect(trials.count == crashTrials)
        #expect(trials == reference.trials)
    }

    @Test func summaryAndExportsFromTheCommandLine() throws {
        let reference = try uninterrupted.get()
        let dir = reference.dir
        let table = try MergeTuneBinary.run(["study", "summary", "crash", "--ledger", "reference.sqlite"], in: dir)
        #expect(table.status == 0)
        #expect(table.stdout.contains("objective branin (analytic)"))
        #expect(table.stdout.contains("mean RoR"))
        #expect(table.stdout.contains("centre"))
        let json = try MergeTuneBinary.run(["study", "summary", "crash", "--ledger", "reference.sqlite", "--format", "json"], in: dir)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["objectives"] as? [Any])?.count == 3)
        let csv = try MergeTuneBinary.run(["study", "summary", "crash", "--ledger", "reference.sqlite", "--format", "csv"], in: dir)
        #expect(csv.stdout.hasPrefix("section,objective,optimizer,reference,metric,value\n"))

        let export = try MergeTuneBinary.run(["study", "export", "crash", "--ledger", "reference.sqlite", "--curves", "curves.csv"], in: dir)
        #expect(export.status == 0)
        let curves = try String(contentsOf: dir.appendingPathComponent("curves.csv"), encoding: .utf8).split(separator: "\n")
        #expect(curves.first == "study,objective,optimizer,seed,n,state,value,best,regret")
        #expect(curves.count == 1 + crashTrials)

        let list = try MergeTuneBinary.run(["study", "list", "--ledger", "reference.sqlite"], in: dir)
        #expect(list.stdout.contains("crash") && list.stdout.contains("36/36"))
        let show = try MergeTuneBinary.run(["study", "show", "crash", "--ledger", "reference.sqlite"], in: dir)
        #expect(show.status == 0 && show.stdout.contains("hartmann3"))
    }

    @Test func exitCodesAndErrorsThatNameFileAndKey() throws {
        let dir = try makeDirectory()
        let missing = try MergeTuneBinary.run(["study", "launch", "nowhere.toml", "--ledger", "l.sqlite"], in: dir)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("nowhere.toml"))

        try """
            name = "bad"
            [[optimizers]]
            kind = "annealing"
            [[objectives]]
            kind = "analytic"
            function = "branin"
            """.write(to: dir.appendingPathComponent("bad.toml"), atomically: true, encoding: .utf8)
        let bad = try MergeTuneBinary.run(["study", "launch", "bad.toml", "--ledger", "l.sqlite"], in: dir)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("bad.toml: optimizers[0].kind: unknown optimizer 'annealing'"))

        #expect(try MergeTuneBinary.run(["study", "launch", "bad.toml", "--jobs", "0"], in: dir).status == 2)
        #expect(try MergeTuneBinary.run(["study", "summary"], in: dir).status == 2)
        #expect(try MergeTuneBinary.run(["study", "summary", "x", "--format", "xml"], in: dir).status == 2)
        #expect(try MergeTuneBinary.run(["study", "export", "x", "--ledger", "l.sqlite"], in: dir).status == 2)
        let noLedger = try MergeTuneBinary.run(["study", "show", "x", "--ledger", "absent.sqlite"], in: dir)
        #expect(noLedger.status == 1)
        #expect(noLedger.stderr.contains("absent.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("absent.sqlite").path))
        #expect(try MergeTuneBinary.run(["study", "list", "--no-such-flag"], in: dir).status == 2)
        // Resuming a study the ledger lacks is a runtime failure.
        let reference = try uninterrupted.get()
        let unknown = try MergeTuneBinary.run(["study", "resume", "nope", "--ledger", "reference.sqlite"], in: reference.dir)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no study named 'nope'"))
    }
}
