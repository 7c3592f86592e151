import Foundation
import Testing
import Evaluation
import Executors
import Fusion
import SafeTensors
import Ledger
@testable import StudyEngine
import TestSupport

/// The repository's testbed family (its parents are the merge inputs of these specs).
let testbedModels = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Testbed/models").path

/// A python3 evaluator of a known function of the parameters: its score can be checked exactly.
func pythonEvaluator(_ body: String) -> String {
    "[\"python3\", \"-c\", \"import sys, json; p = json.loads(sys.argv[1]); \(body)\", \"{params_json}\"]"
}

func commandSpec(name: String = "cmd", command: String, score: String = "score = \"stdout\"", extra: String = "",
                 budget: Int = 5, optimizer: String = "random", seeds: Int = 1) -> String {
    """
    name = "\(name)"
    seeds = \(seeds)
    budget = \(budget)
    [[optimizers]]
    kind = "\(optimizer)"

    [[objectives]]
    kind = "command"
    name = "quadratic"
    command = \(command)
    \(score)
    bounds = { x = [0, 1], y = [-1, 1] }
    \(extra)
    """
}

@Suite("Command objectives")
struct CommandObjectiveTests {
    @Test func theScoreIsTheEvaluatorsNumberAtTheTrialsParameters() throws {
        let dir = try tempDirectory()
        let s = try spec(commandSpec(command: pythonEvaluator("print('log line'); print(-(p['x'] - 0.3) ** 2 - p['y'] ** 2)")), in: dir)
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        let (study, result) = try StudyEngine.launch(spec: s, ledgerPath: ledgerPath, options: LaunchOptions())
        #expect(result.runsCompleted == 1)
        let ledger = try Ledger(path: ledgerPath)
        let trials = try ledger.trials(study: study.id!)
        #expect(trials.count == 5)
        for t in trials {
            let p = parseParams(t.params)
            let x = try #require(p["x"]), y = try #require(p["y"])
            #expect(t.state == .complete)
            // Python prints repr(float): the shortest round-trip form, so the value is exact.
            #expect(t.value == -(x - 0.3) * (x - 0.3) - y * y, "\(t.params)")
        }
        // Each attempt ran in its own directory with the evaluator's logs and params.json.
        let attempts = try ledger.attempts(study: study.id!).values.flatMap { $0 }
        #expect(attempts.count == 5)
        for a in attempts {
            let d = try #require(a.directory)
            #expect(FileManager.default.fileExists(atPath: d + "/" + Evaluator.stdoutFile))
            #expect(FileManager.default.fileExists(atPath: d + "/params.json"))
        }
    }

    @Test func minimizeRecordsTheNegatedScore() throws {
        let dir = try tempDirectory()
        let s = try spec(commandSpec(command: pythonEvaluator("print(p['x'] + 10)"), extra: "direction = \"minimize\"", budget: 3), in: dir)
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        let (study, _) = try StudyEngine.launch(spec: s, ledgerPath: ledgerPath, options: LaunchOptions())
        for t in try Ledger(path: ledgerPath).trials(study: study.id!) {
            let x = try #require(parseParams(t.params)["x"])
            #expect(t.value == -(x + 10))
        }
    }

    @Test func aNonZeroExitIsAFailedTrialWithItsCodeWhateverItPrinted() throws {
        let dir = try tempDirectory()
        let s = try spec(commandSpec(command: pythonEvaluator("print(0.5); sys.stderr.write('cuda out of memory\\\\n'); sys.exit(3)"),
                                     budget: 2), in: dir)
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        let (study, _) = try StudyEngine.launch(spec: s, ledgerPath: ledgerPath, options: LaunchOptions())
        let ledger = try Ledger(path: ledgerPath)
        let trials = try ledger.trials(study: study.id!)
        #expect(trials.allSatisfy { $0.state == .fail && $0.value == nil })
        let attempts = try ledger.attempts(study: study.id!).values.flatMap { $0 }
        #expect(attempts.allSatisfy { $0.reason == "exit_code" && $0.exitCode == 3 })
        #expect(attempts.allSatisfy { ($0.detail ?? "").contains("cuda out of memory") }, "\(attempts.map(\.detail))")
    }

    @Test func perObjectiveRetriesRetryTheNamedReasons() throws {
        let dir = try tempDirectory()
        // Fails the first time in each attempt directory's trial (a marker file beside the attempts).
        let marker = dir.appendingPathComponent("seen").path
        let body = "import os; m = '\(marker)' + str(p['x']); first = not os.path.exists(m); open(m, 'w').close(); sys.exit(5) if first else print(1.5)"
        let s = try spec(commandSpec(command: "[\"python3\", \"-c\", \"import sys, json; p = json.loads(sys.argv[1]); \(body)\", \"{params_json}\"]",
                                     extra: "retries = 1\nretry_on = [\"exit_code\"]", budget: 3), in: dir)
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        let (study, _) = try StudyEngine.launch(spec: s, ledgerPath: ledgerPath, options: LaunchOptions())
        let ledger = try Ledger(path: ledgerPath)
        let trials = try ledger.trials(study: study.id!)
        #expect(trials.allSatisfy { $0.state == .complete && $0.value == 1.5 && $0.attempts == 2 })
    }

    @Test func aTrialOutsideAConstraintIsInfeasibleWithItsMetricsKept() throws {
        let dir = try tempDirectory()
        let s = try spec(commandSpec(command: pythonEvaluator("print(json.dumps(dict(score=p['y'], perception=p['x'])))"),
                                     score: "score = { source = \"stdout\", metrics = { perception = \"perception\" } }",
                                     extra: "[[objectives.constraints]]\nmetric = \"perception\"\nmin = 0.5", budget: 8), in: dir)
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        let (study, _) = try StudyEngine.launch(spec: s, ledgerPath: ledgerPath, options: LaunchOptions())
        let ledger = try Ledger(path: ledgerPath)
        let trials = try ledger.trials(study: study.id!)
        let attempts = try ledger.attempts(study: study.id!)
        #expect(trials.contains { $0.state == .fail } && trials.contains { $0.state == .complete }, "8 random points in [0, 1] should fall on both sides of 0.5")
        for t in trials {
            let p = parseParams(t.params)
            let extras = parseParams(try #require(t.extras))
            #expect(extras["perception"] == p["x"])
            if p["x"]! >= 0.5 {
                #expect(t.state == .complete && t.value == p["y"])
            } else {
                #expect(t.state == .fail && t.value == nil)
                #expect(attempts[t.id!]?.last?.reason == "infeasible")
                #expect((t.error ?? "").contains("perception"), "\(t.error ?? "")")
            }
        }
    }

    @Test func specErrorsNameTheKey() throws {
        func error(_ command: String, score: String = "score = \"stdout\"", extra: String = "") throws -> SpecError? {
            try specError(commandSpec(command: command, score: score, extra: extra))
        }
        let unknown = try #require(try error("[\"eval\", \"{chekpoint}\"]"))
        #expect(unknown.key == "objectives[0].command" && unknown.message.contains("chekpoint"), "\(unknown)")
        let shell = try #require(try error("\"python eval.py\""))
        #expect(shell.key == "objectives[0].command")
        let source = try #require(try error("[\"eval\"]", score: "score = \"stderr\""))
        #expect(source.key == "objectives[0].score" && source.message.contains("stderr"), "\(source)")
        let cache = try #require(try error("[\"lm_eval\", \"--use_cache\", \"/tmp/shared-cache\"]", score: "score = \"lm-eval\""))
        #expect(cache.key == "objectives[0].command", "\(cache)")
        let merge = """
            [objectives.merge]
            base = "\(testbedModels)/base"
            vlm = "\(testbedModels)/vlm"
            expert = "\(testbedModels)/expert-language"
            method = "task_arithmetic"
            """
        // x, y are not parameters of task arithmetic.
        let notSearchable = try #require(try error("[\"eval\", \"{checkpoint}\"]", extra: merge))
        #expect(notSearchable.key == "objectives[0].bounds.x" || notSearchable.key == "objectives[0].bounds.y", "\(notSearchable)")
        let missing = try #require(try error("[\"eval\"]", extra: merge.replacingOccurrences(of: "/base\"", with: "/nope\"")))
        #expect(missing.key == "objectives[0].merge.base", "\(missing)")
        let relative = try #require(try error("[\"eval\"]", extra: "[[objectives.constraints]]\nmetric = \"p\"\nmin = 0.9\nrelative_to = \"vlm\""))
        #expect(relative.key == "objectives[0].constraints[0].relative_to", "\(relative)")
    }
}

@Suite("Trial checkpoints")
struct TrialCheckpointTests {
    func merge() -> MergeTable {
        MergeTable(base: testbedModels + "/base", vlm: testbedModels + "/vlm", expert: testbedModels + "/expert-language",
                   method: .taskArithmetic)
    }

    @Test func aMergeThatWouldNotFitIsRefusedBeforeAnythingIsWritten() throws {
        let dir = try tempDirectory()
        let target = dir.appendingPathComponent("ckpt/r1-t1").path
        let spec = try merge().recipe.spec(searched: ["vl_weight": 1, "exp_weight": 0.5])
        let outcome = try #require(try TrialCheckpoint.write(merge(), spec: spec, to: target, freeBytes: { _ in 1 << 20 }))
        #expect(outcome.failure == .noSpace)
        #expect((outcome.detail ?? "").contains("MiB needed"), "\(outcome.detail ?? "")")
        #expect(!FileManager.default.fileExists(atPath: target))
        // With the real free space it merges, and a second call reuses the complete checkpoint.
        #expect(TrialCheckpoint.freeBytes(dir.path).map { $0 > 0 } == true)
        #expect(try TrialCheckpoint.write(merge(), spec: spec, to: target) == nil)
        let written = try FileManager.default.attributesOfItem(atPath: target + "/model.safetensors")[.modificationDate] as? Date
        #expect(try TrialCheckpoint.write(merge(), spec: spec, to: target) == nil)
        let again = try FileManager.default.attributesOfItem(atPath: target + "/model.safetensors")[.modificationDate] as? Date
        #expect(written == again, "the complete checkpoint of the same merge is reused, not rewritten")
        // Another merge in the same directory replaces it.
        let other = try merge().recipe.spec(searched: ["vl_weight": 0.5, "exp_weight": 0.5])
        #expect(try TrialCheckpoint.write(merge(), spec: other, to: target) == nil)
        let marker = try String(contentsOfFile: target + "/" + TrialCheckpoint.recipeFile, encoding: .utf8)
        #expect(marker.contains("0.5"))
    }
}

extension CommandObjectiveTests {
    @Test func aFailedMergeIsAFailedAttemptThatLeavesNoCheckpoint() throws {
        let dir = try tempDirectory()
        // An expert whose tensor data is cut short: the merge fails reading it.
        let broken = dir.appendingPathComponent("broken-expert")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        let data = try Data(contentsOf: URL(fileURLWithPath: testbedModels + "/expert-language/model.safetensors"))
        try data.prefix(data.count / 2).write(to: broken.appendingPathComponent("model.safetensors"))
        try FileManager.default.copyItem(atPath: testbedModels + "/expert-language/config.json", toPath: broken.appendingPathComponent("config.json").path)
        let text = commandSpec(command: "[\"/bin/echo\", \"1\"]", budget: 2)
            .replacingOccurrences(of: "bounds = { x = [0, 1], y = [-1, 1] }", with: "bounds = { vl_weight = [0, 2], exp_weight = [0, 2] }")
            + """

            [objectives.merge]
            base = "\(testbedModels)/base"
            vlm = "\(testbedModels)/vlm"
            expert = "\(broken.path)"
            references = []
            """
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        let (study, _) = try StudyEngine.launch(spec: try spec(text, in: dir), ledgerPath: ledgerPath, options: LaunchOptions())
        let ledger = try Ledger(path: ledgerPath)
        let attempts = try ledger.attempts(study: study.id!).values.flatMap { $0 }
        #expect(attempts.count == 2 && attempts.allSatisfy { $0.reason == "merge_failed" }, "\(attempts.map(\.reason))")
        #expect(attempts.allSatisfy { ($0.detail ?? "").contains("broken-expert") }, "\(attempts.map(\.detail))")
        let root = dir.appendingPathComponent("l.trials/cmd/checkpoints/quadratic")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        #expect(left.allSatisfy { (try? Checkpoint(path: root.appendingPathComponent($0).path)) == nil && !$0.hasPrefix("r") }, "\(left)")
    }
}

extension CommandObjectiveTests {
    /// lm-eval's real layout through a study: each attempt's own output directory, the task's
    /// metric by its "metric,filter" key.
    @Test func lmEvalResultsAreReadFromEachTrialsOwnOutputDirectory() throws {
        let dir = try tempDirectory()
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("EvaluationTests/Fixtures/lm_eval.sh").path
        let command = "[\"bash\", \"\(fixture)\", \"--model_args\", \"pretrained=org/merge-{trial}\", \"--output_path\", \"{trial_dir}/lm_eval\", \"--acc\", \"{x}\"]"
        let s = try spec(commandSpec(command: command, score: "score = { source = \"lm-eval\", metrics = { arc = \"arc_easy/acc,none\" } }",
                                     budget: 3), in: dir)
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        let (study, _) = try StudyEngine.launch(spec: s, ledgerPath: ledgerPath, options: LaunchOptions())
        let ledger = try Ledger(path: ledgerPath)
        for t in try ledger.trials(study: study.id!) {
            let x = try #require(parseParams(t.params)["x"])
            #expect(t.state == .complete && t.value == x, "\(t.error ?? "")")
            #expect(parseParams(t.extras ?? "")["arc"] == x)
        }
    }
}
