import Foundation
import Testing
import Fusion
import SafeTensors
import Testbed
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let testbedDirectory = repositoryRoot.appendingPathComponent("Testbed").path

/// A study whose trials merge the shipped testbed family to disk and score the written
/// checkpoint with `mergetune testbed eval --checkpoint` (the README's example of a real study).
func testbedCommandSpec(name: String, executor: String = "local", slots: Int = 2, budget: Int = 4, keepBest: Int? = 2,
                        optimizer: String = "random", extraMerge: String = "", evaluator: [String]? = nil) -> String {
    let models = testbedDirectory + "/models"
    let argv = evaluator ?? [MergeTuneBinary.url.path, "testbed", "eval", "--checkpoint", "{checkpoint}", "--scenario", "language",
                             "--testbed", testbedDirectory]
    return """
        name = "\(name)"
        seeds = 1
        budget = \(budget)
        [[optimizers]]
        kind = "\(optimizer)"

        [[objectives]]
        kind = "command"
        name = "testbed-language"
        command = [\(argv.map { "\"\($0)\"" }.joined(separator: ", "))]
        score = { source = "stdout", metrics = { perception = "perception", skill = "skill", target = "target" } }
        bounds = { vl_weight = [0, 2], exp_weight = [0, 2] }

        [objectives.merge]
        base = "\(models)/base"
        vlm = "\(models)/vlm"
        expert = "\(models)/expert-language"
        method = "task_arithmetic"
        \(keepBest.map { "keep_best = \($0)" } ?? "")
        \(extraMerge)

        [executor]
        kind = "\(executor)"
        slots = \(slots)
        """
}

/// Trials of a study from its CSV export: (run, number, state, value, params, extras by name).
func exportedTrialRows(_ study: String, ledger: String, in dir: URL) throws -> [[String: String]] {
    let file = "rows-\(UUID().uuidString).csv"
    let r = try MergeTuneBinary.run(["study", "export", study, "--ledger", ledger, "--trials", file], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let lines = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8).split(separator: "\n").map(String.init)
    let header = splitCSV(lines[0])
    return lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, splitCSV($0))) }
}

/// A trial's checkpoint directory name, `r<run>-t<number>`.
func isTrialCheckpoint(_ name: String) -> Bool { name.wholeMatch(of: /r[0-9]+-t[0-9]+/) != nil }

@Suite("command objective CLI", .serialized)
struct CommandStudyCLITests {
    /// The same parameters give the in-memory testbed objective's score, to the float16 rounding
    /// of the written checkpoint; references are measured once, through the same evaluator.
    @Test func mergingToDiskAndEvaluatingGivesTheInMemoryTestbedScores() throws {
        let dir = Scratch.directory("command-cli")
        try testbedCommandSpec(name: "tune").write(to: dir.appendingPathComponent("tune.toml"), atomically: true, encoding: .utf8)
        let r = try MergeTuneBinary.run(["study", "launch", "tune.toml", "--ledger", "l.sqlite"], in: dir)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let rows = try exportedTrialRows("tune", ledger: "l.sqlite", in: dir)
        #expect(rows.count == 4)
        let evaluator = try TestbedEvaluator(directory: URL(fileURLWithPath: testbedDirectory), scenario: .language)
        var worst = 0.0
        for row in rows {
            #expect(row["state"] == "COMPLETE", "\(row)")
            let vl = try #require(Double(row["param_vl_weight"] ?? "")), exp = try #require(Double(row["param_exp_weight"] ?? ""))
            let value = try #require(Double(row["value"] ?? ""))
            let memory = try evaluator.evaluate(spec: MergeSpec(method: .taskArithmetic, vlWeight: vl, expWeight: exp))
            worst = max(worst, abs(value - memory.value))
            #expect(abs(value - memory.value) < 2e-3, "(\(vl), \(exp)): disk \(value), memory \(memory.value)")
            #expect(Double(row["extra_perception"] ?? "") != nil && Double(row["extra_skill"] ?? "") != nil, "\(row)")
        }
        print("command objective vs in-memory testbed: max |Δ| = \(worst) over \(rows.count) trials")
        // The closed forms and parents, measured at creation through the evaluator.
        let summary = try MergeTuneBinary.run(["study", "summary", "tune", "--ledger", "l.sqlite", "--format", "json"], in: dir)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(summary.stdout.utf8)) as? [String: Any])
        let objective = try #require((json["objectives"] as? [[String: Any]])?.first)
        let refs = try #require(objective["references"] as? [[String: Any]])
        #expect(Set(refs.compactMap { $0["method"] as? String }) == ["frank", "metagpt", "nan", "vlm", "expert"])
        let vlm = try #require(refs.first { $0["method"] as? String == "vlm" }?["value"] as? Double)
        #expect(abs(vlm - (try evaluator.evaluate(decoder: evaluator.family.vlm)).value) < 1e-9, "the VLM is evaluated as it is")
        let frank = try #require(refs.first { $0["method"] as? String == "frank" }?["value"] as? Double)
        #expect(abs(frank - (try evaluator.evaluate(spec: MergeSpec(method: .frank))).value) < 2e-3)
        // keep_best = 2: the two best trials' checkpoints stay, the others are gone.
        let root = dir.appendingPathComponent("l.trials/tune/checkpoints/testbed-language")
        let kept = try FileManager.default.contentsOfDirectory(atPath: root.path).filter(isTrialCheckpoint).sorted()
        let best = rows.sorted { Double($0["value"]!)! > Double($1["value"]!)! }.prefix(2).map { "r\($0["run"]!)-t\($0["number"]!)" }.sorted()
        #expect(kept == best)
        for k in kept {
            _ = try Checkpoint(path: root.appendingPathComponent(k).path)
            // Each trial checkpoint carries its merge as a mergekit config.
            let yaml = try String(contentsOf: root.appendingPathComponent(k).appendingPathComponent("mergekit_config.yml"), encoding: .utf8)
            #expect(yaml.contains("task_arithmetic"), "\(yaml)")
        }

        // The best trial as a mergekit config, merged again by `merge --config`: the same tensors.
        let export = try MergeTuneBinary.run(["study", "export", "tune", "--ledger", "l.sqlite", "--best", "-o", "best.yml"], in: dir)
        #expect(export.status == 0, "\(export.stderr)")
        let yaml = try String(contentsOf: dir.appendingPathComponent("best.yml"), encoding: .utf8)
        #expect(yaml.contains("task_arithmetic"), "\(yaml)")
        let remerge = try MergeTuneBinary.run(["merge", "--config", "best.yml", "-o", "again"], in: dir)
        #expect(remerge.status == 0, "\(remerge.stderr)")
        let remerged = try Checkpoint(path: dir.appendingPathComponent("again").path)
        let bestName = rows.max { Double($0["value"]!)! < Double($1["value"]!)! }.map { "r\($0["run"]!)-t\($0["number"]!)" }!
        let trialCheckpoint = try Checkpoint(path: root.appendingPathComponent(bestName).path)
        #expect(remerged.names == trialCheckpoint.names)
        for name in remerged.names {
            #expect(try remerged.tensor(name).floats() == (try trialCheckpoint.tensor(name).floats()), "\(name)")
        }

        // Resuming a finished study measures nothing again.
        let again = try MergeTuneBinary.run(["study", "launch", "tune.toml", "--ledger", "l.sqlite"], in: dir)
        #expect(again.status == 0 && !again.stderr.contains("measuring reference"), "\(again.stderr)")
    }

    /// kill -9 of the coordinator while evaluators (local executor) and merges (in-process
    /// executor: the merge runs inside the coordinator) are running; resume loses nothing.
    @Test(arguments: ["local", "inprocess"])
    func killMinus9DuringMergesAndEvaluationsLosesNothing(executor: String) throws {
        let dir = Scratch.directory("command-kill")
        let spec = testbedCommandSpec(name: "k", executor: executor, slots: 2, budget: 6, keepBest: nil,
                                      extraMerge: "references = [\"vlm\"]")
        try spec.write(to: dir.appendingPathComponent("k.toml"), atomically: true, encoding: .utf8)
        var kills = 0
        for delay in [1.2, 2.0, 2.8] {
            let out = dir.appendingPathComponent("out-\(kills).log"), err = dir.appendingPathComponent("err-\(kills).log")
            let p = try MergeTuneBinary.spawn(["study", "launch", "k.toml", "--ledger", "l.sqlite"], in: dir, stdout: out, stderr: err)
            Thread.sleep(forTimeInterval: delay)
            if p.isRunning { kill(p.processIdentifier, SIGKILL); kills += 1 }
            p.waitUntilExit()
        }
        let resumed = try MergeTuneBinary.run(["study", "launch", "k.toml", "--ledger", "l.sqlite"], in: dir)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let rows = try exportedTrialRows("k", ledger: "l.sqlite", in: dir)
        #expect(rows.count == 6)
        #expect(rows.allSatisfy { $0["state"] == "COMPLETE" }, "\(rows.map { $0["state"] ?? "" }) \(rows.map { $0["error"] ?? "" })")
        #expect(kills >= 1, "the study finished before the first kill; nothing was tested")
        // Every trial's checkpoint is complete; no temporary folder of a killed merge is left.
        let root = dir.appendingPathComponent("l.trials/k/checkpoints/testbed-language")
        let entries = try FileManager.default.contentsOfDirectory(atPath: root.path)
        for e in entries where isTrialCheckpoint(e) { _ = try Checkpoint(path: root.appendingPathComponent(e).path) }
        #expect(entries.filter(isTrialCheckpoint).count == 6, "\(entries)")
        #expect(!entries.contains { $0.hasPrefix(".") && $0.contains("partial") }, "\(entries)")
        // Local: no evaluator or supervisor is left running.
        #expect(waitFor(10) { processes(mentioning: dir.path).isEmpty }, "\(processes(mentioning: dir.path))")
    }
}

extension CommandStudyCLITests {
    /// The evaluator runs in a process group of its own: stopping the study (local executor:
    /// `study stop`; in-process: SIGTERM to the coordinator) must still stop it.
    @Test(arguments: ["local", "inprocess"])
    func stoppingAStudyStopsItsEvaluators(executor: String) throws {
        let dir = Scratch.directory("command-stop")
        let spec = """
            name = "s"
            seeds = 1
            budget = 2
            [[optimizers]]
            kind = "random"
            [[objectives]]
            kind = "command"
            command = ["bash", "-c", "echo $$ > {trial_dir}/eval.pid; sleep 120; echo 1"]
            score = "stdout"
            bounds = { x = [0, 1] }
            [executor]
            kind = "\(executor)"
            slots = 2
            \(executor == "inprocess" ? "batch = 2" : "")
            """
        try spec.write(to: dir.appendingPathComponent("s.toml"), atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.log"), err = dir.appendingPathComponent("err.log")
        let p = try MergeTuneBinary.spawn(["study", "launch", "s.toml", "--ledger", "l.sqlite"], in: dir, stdout: out, stderr: err)
        func pidFiles() -> [String] {
            (FileManager.default.enumerator(atPath: dir.appendingPathComponent("l.trials").path)?.allObjects as? [String] ?? [])
                .filter { $0.hasSuffix("eval.pid") }
        }
        #expect(waitFor(30) { pidFiles().count == 2 }, "\(pidFiles()) \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        let pids = pidFiles().compactMap { Int32((try? String(contentsOfFile: dir.appendingPathComponent("l.trials/\($0)").path, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") }
        #expect(pids.count == 2)
        if executor == "local" {
            let stop = try MergeTuneBinary.run(["study", "stop", "s", "--ledger", "l.sqlite"], in: dir)
            #expect(stop.status == 0, "\(stop.stderr)")
        } else {
            kill(p.processIdentifier, SIGTERM)
        }
        #expect(waitFor(30) { !p.isRunning }, "the coordinator did not stop")
        p.waitUntilExit()
        for pid in pids { #expect(waitFor(10) { kill(pid, 0) != 0 }, "evaluator \(pid) still runs") }
        let rows = try exportedTrialRows("s", ledger: "l.sqlite", in: dir)
        #expect(rows.allSatisfy { $0["state"] != "COMPLETE" }, "\(rows)")
    }
}
