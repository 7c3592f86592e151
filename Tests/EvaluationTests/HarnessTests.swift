import Evaluation
import Executors
import Foundation
import Testing
import TestSupport

/// lm-eval and lmms-eval results files, as the fake harnesses in Fixtures write them.
@Suite struct HarnessTests {
    let model = "/work/merged/t3"

    func lmEval(_ metrics: [String: String], weights: [String: Double]? = nil, direction: ScoreSpec.Direction = .maximize,
                extra: [String] = [], directory: String? = nil) -> (AttemptOutcome, String) {
        Fixture.run("lm_eval.sh", ["--model", "hf", "--model_args", "pretrained=\(model),dtype=float32",
                                   "--tasks", "arc_easy", "--output_path", "lm_eval"] + extra,
                    score: ScoreSpec(source: .lmEval, metrics: metrics, weights: weights, direction: direction),
                    directory: directory)
    }

    @Test func lmEvalResultsUnderTheSanitizedModelDirectory() throws {
        let (o, dir) = lmEval(["acc": "arc_easy/acc,none"])
        #expect(o.failure == nil)
        #expect(o.value == 0.7412)
        #expect(o.extras == ["score": 0.7412, "acc": 0.7412])
        let file = dir + "/lm_eval/__work__merged__t3/results_2026-12-02T01-02-03.123456.json"
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(o.detail?.contains("read \(file)") == true)
        // n-samples effective 100 < original 2376: a --limit, reported.
        #expect(o.detail?.contains("arc_easy ran on 100 of 2376 samples (--limit)") == true)
    }

    @Test func lmmsEvalResultsWithTheirTimestampFirst() {
        let (o, dir) = Fixture.run("lmms_eval.sh", ["--model", "llava", "--model_args", "pretrained=\(model)", "--output_path", "lmms_eval"],
                                   score: ScoreSpec(source: .lmmsEval, metrics: ["mmmu": "mmmu_val/mmmu_acc,none"]))
        #expect(o.value == 0.4122)
        #expect(o.detail?.contains("read \(dir)/lmms_eval/merged__t3/20261202_090203_results.json") == true)
        #expect(o.detail?.contains("--limit") == false)
    }

    @Test func theNewestResultsFileWins() {
        // Writes 2026-12-02T01-02-03 (0.9) first, then 2026-12-01T23-59-59 (0.1111): the name's
        // timestamp decides, not the write order.
        let (o, _) = lmEval(["acc": "arc_easy/acc,none"], extra: ["--acc", "0.9", "--two"])
        #expect(o.value == 0.9)
    }

    @Test func resultsLeftByAnEarlierAttemptAreIgnored() {
        let (first, dir) = lmEval(["acc": "arc_easy/acc,none"])
        #expect(first.value == 0.7412)
        // A second attempt in the same directory that exits 0 without results (lmms-eval does
        // that when a task raises) must not be scored from the first one's file.
        let command = EvaluatorCommand(argv: ["bash", "-c", "echo evaluation failed"])
        let o = Evaluator.run(command, score: ScoreSpec(source: .lmEval, metrics: ["acc": "arc_easy/acc,none"]), directory: dir)
        #expect(o.failure == .missingFile)
        #expect(o.detail?.contains("left by an earlier attempt") == true)
        // A later attempt that does write results is read.
        let (third, _) = lmEval(["acc": "arc_easy/acc,none"], extra: ["--acc", "0.5", "--stamp", "2026-12-02T02-00-00.000000"], directory: dir)
        #expect(third.value == 0.5)
    }

    @Test func anNAStderrDoesNotStopTheMetricAndIsNotANumberItself() {
        let (ok, _) = lmEval(["mmlu": "mmlu/acc,none"])
        #expect(ok.value == 0.5523)
        let (na, _) = lmEval(["se": "mmlu/acc_stderr,none"])
        #expect(na.failure == .notANumber)
        #expect(na.detail?.contains("\"N/A\"") == true)
    }

    @Test func aMissingTaskOrMetricNamesTheFileAndWhatIsMissing() {
        let (task, dir) = lmEval(["acc": "arc_challenge/acc,none"])
        #expect(task.failure == .badJSON)
        let file = dir + "/lm_eval/__work__merged__t3/results_2026-12-02T01-02-03.123456.json"
        #expect(task.detail?.contains(file) == true)
        #expect(task.detail?.contains("no task `arc_challenge`") == true)
        #expect(task.detail?.contains("tasks: arc_easy, mmlu, wikitext") == true)

        let (metric, _) = lmEval(["f1": "arc_easy/f1,none"])
        #expect(metric.failure == .badJSON)
        #expect(metric.detail?.contains("results.arc_easy has no metric `f1,none`") == true)
        #expect(metric.detail?.contains("acc,none") == true)
    }

    @Test func noResultsFileIsMissingFileWithTheExpectedLayout() {
        let command = EvaluatorCommand(argv: ["bash", "-c", "true"])
        let dir = Scratch.directory("evaluator-noresults").path
        let o = Evaluator.run(command, score: ScoreSpec(source: .lmEval, metrics: ["acc": "arc_easy/acc,none"]), directory: dir)
        #expect(o.failure == .missingFile)
        #expect(o.detail?.contains("results_<timestamp>.json") == true)
        #expect(o.detail?.contains("--output_path {trial_dir}/lm_eval") == true)
    }

    @Test func minimizeAPerplexityAndWarnWhenTheDirectionDisagrees() {
        let (o, _) = lmEval(["ppl": "wikitext/word_perplexity,none"], direction: .minimize)
        #expect(o.value == -16.45)
        #expect(o.extras == ["score": 16.45, "ppl": 16.45])
        #expect(o.detail?.contains("higher is") == false)
        let (wrong, _) = lmEval(["ppl": "wikitext/word_perplexity,none"], direction: .maximize)
        #expect(wrong.value == 16.45)
        #expect(wrong.detail?.contains("lm-eval says higher is worse for wikitext/word_perplexity, but direction = maximize") == true)
    }

    @Test func aWeightedSumOfHarnessMetrics() {
        let (o, _) = lmEval(["acc": "arc_easy/acc,none", "bpb": "wikitext/bits_per_byte,none"], weights: ["acc": 1, "bpb": -0.5])
        #expect(o.value == 0.7412 - 0.5 * 0.7485)
        #expect(o.extras == ["score": 0.7412 - 0.5 * 0.7485, "acc": 0.7412, "bpb": 0.7485])
    }

    @Test func readScoreRereadsAFinishedAttempt() {
        let spec = ScoreSpec(source: .lmEval, metrics: ["acc": "arc_easy/acc,none"])
        let (_, dir) = lmEval(["acc": "arc_easy/acc,none"])
        let o = Evaluator.readScore(spec, stdoutPath: dir + "/evaluator.stdout.log", directory: dir)
        #expect(o.value == 0.7412)
    }
}

/// Score reading on hand-written stdout files (no process).
@Suite struct StdoutParsingTests {
    static let cases: [(String, FailureReason?, Double?)] = [
        ("0.5\n", nil, 0.5),
        ("  -1.25e-3 \t\r\n\r\n", nil, -1.25e-3),
        (".5", nil, 0.5),
        ("0x1.8p-1\n", .notANumber, nil),
        ("nan\n", .nonFinite, nil),
        ("inf\n", .nonFinite, nil),
        ("-Infinity\n", .nonFinite, nil),
        ("1e999\n", .nonFinite, nil),
        ("0.5 0.7\n", .ambiguous, nil),
        ("acc 0.5\n", .notANumber, nil),
        ("1,5\n", .notANumber, nil),
        ("", .noOutput, nil),
        ("{\"score\": NaN}\n", .nonFinite, nil),
        ("{\"score\": null}\n", .nonFinite, nil),
        ("{\"score\": 0.25}\n", nil, 0.25),
        // Integers 1 and 0 are numbers, not booleans; true is not a number.
        ("{\"score\": 1}\n", nil, 1),
        ("{\"score\": 0}\n", nil, 0),
        ("{\"score\": true}\n", .notANumber, nil),
        ("{\"score\": \"0.5\"}\n", .notANumber, nil),
        ("[0.5]\n", .notANumber, nil),
        ("{\"acc\": 0.25}\n", .badJSON, nil),
        ("{\"score\": 0.25\n", .badJSON, nil),
    ]

    @Test(arguments: cases.indices) func theLastLine(_ i: Int) throws {
        let (text, reason, value) = Self.cases[i]
        let dir = Scratch.directory("stdout-parse").path
        let path = dir + "/evaluator.stdout.log"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let o = Evaluator.readScore(ScoreSpec(source: .stdout), stdoutPath: path, directory: dir)
        #expect(o.failure == reason, "\(text.debugDescription): \(o.detail ?? "")")
        #expect(o.value == value, "\(text.debugDescription)")
    }

    @Test func aLastLineThatFillsTheTailExactlyIsRead() throws {
        // The tail (64 KiB) starts exactly at the last line: the newline before it is outside.
        let dir = Scratch.directory("stdout-exact").path
        let path = dir + "/evaluator.stdout.log"
        let line = "{\"score\": 0.5, \"pad\": \"" + String(repeating: "x", count: 65536 - 26) + "\"}\n"
        #expect(line.utf8.count == 65536)
        try Data(("log\n" + line).utf8).write(to: URL(fileURLWithPath: path))
        let o = Evaluator.readScore(ScoreSpec(source: .stdout), stdoutPath: path, directory: dir)
        #expect(o.value == 0.5, "\(o.detail ?? "")")
    }

    @Test func aLastLineLongerThanTheTailIsOutputTooLarge() throws {
        let dir = Scratch.directory("stdout-long").path
        let path = dir + "/evaluator.stdout.log"
        try Data(("{\"score\": 0.5, \"pad\": \"" + String(repeating: "x", count: 70_000) + "\"}\n").utf8).write(to: URL(fileURLWithPath: path))
        let o = Evaluator.readScore(ScoreSpec(source: .stdout), stdoutPath: path, directory: dir)
        #expect(o.failure == .outputTooLarge)
    }
}

@Suite struct PlaceholderTests {
    @Test func expandsEachArgumentOnItsOwn() throws {
        let argv = ["lm_eval", "--model_args", "pretrained={checkpoint},dtype=bf16", "--output_path", "{trial_dir}/lm_eval",
                    "--seed", "{seed}", "--gen_kwargs", "{{\"t\": {temperature}}}", "{params_json}"]
        let values = ["checkpoint": "/runs/t 7/merged", "trial_dir": "/runs/t7", "seed": "42", "temperature": "0.7",
                      "params_json": "{\"vl_weight\": 0.5}", "trial": "7"]
        #expect(try Placeholders.expand(argv, values) == [
            "lm_eval", "--model_args", "pretrained=/runs/t 7/merged,dtype=bf16", "--output_path", "/runs/t7/lm_eval",
            "--seed", "42", "--gen_kwargs", "{\"t\": 0.7}", "{\"vl_weight\": 0.5}",
        ])
        // A value is never re-expanded.
        #expect(try Placeholders.expand(["{a}"], ["a": "{b}", "b": "no"]) == ["{b}"])
    }

    @Test func anUnknownPlaceholderNamesItAndListsTheKnownOnes() {
        #expect {
            try Placeholders.expand(["eval", "--ckpt={chekpoint}"], ["checkpoint": "/c", "seed": "1"])
        } throws: { error in
            "\(error)" == "command[1] `--ckpt={chekpoint}`: unknown placeholder {chekpoint}; known: {checkpoint}, {seed} (write {{ and }} for literal braces)"
        }
        #expect(throws: EvaluationError.self) { try Placeholders.check(["{vl_weight}"], known: Set(Placeholders.builtIn)) }
        #expect(throws: Never.self) { try Placeholders.check(["{vl_weight}", "{trial}"], known: Set(Placeholders.builtIn + ["vl_weight"])) }
    }

    @Test func unbalancedBracesAreErrors() {
        for bad in ["{checkpoint", "a}b", "{}", "{a{b}"] {
            #expect(throws: EvaluationError.self, "\(bad)") { try Placeholders.check([bad], known: ["checkpoint", "a", "b"]) }
        }
        #expect(Placeholders.names(in: ["{a}-{b}", "{{c}}"]) == ["a", "b"])
    }
}

@Suite struct ScoreSpecTests {
    func message(_ spec: ScoreSpec) -> String? {
        do { try spec.validate(); return nil } catch { return "\(error)" }
    }

    @Test func validSpecsPass() {
        #expect(message(ScoreSpec(source: .stdout)) == nil)
        #expect(message(ScoreSpec(source: .stdout, metrics: ["acc": "acc"], weights: ["acc": 1])) == nil)
        #expect(message(ScoreSpec(source: .jsonFile(path: "{trial_dir}/m.json", key: "a.b"))) == nil)
        #expect(message(ScoreSpec(source: .lmEval, metrics: ["acc": "arc_easy/acc,none"], direction: .maximize)) == nil)
    }

    @Test func errorsNameTheFieldAndTheFix() {
        #expect(message(ScoreSpec(source: .stdout, metrics: ["score": "x"]))?.contains("`score` is reserved") == true)
        #expect(message(ScoreSpec(source: .stdout, metrics: ["acc": "acc"], weights: ["f1": 1]))
            == "score.weights.f1: not a recorded metric; add it to score.metrics (recorded: acc)")
        #expect(message(ScoreSpec(source: .stdoutStrict, metrics: ["acc": "acc"]))?.contains("stdout_strict") == true)
        #expect(message(ScoreSpec(source: .jsonFile(path: "/tmp/m.json", key: "a")))?.contains("is absolute") == true)
        #expect(message(ScoreSpec(source: .jsonFile(path: "../m.json", key: "a")))?.contains("`..`") == true)
        #expect(message(ScoreSpec(source: .lmEval))?.contains("at least one metric") == true)
        #expect(message(ScoreSpec(source: .lmEval, metrics: ["acc": "arc_easy/acc"]))
            == "score.metrics.acc: `arc_easy/acc` has no filter; lm-eval keys are \"metric,filter\", e.g. \"arc_easy/acc,none\"")
        #expect(message(ScoreSpec(source: .lmmsEval, metrics: ["a": "t/acc,none", "b": "t/f1,none"]))?.contains("give weights") == true)
        #expect(message(ScoreSpec(source: .stdout, metrics: ["a": "a"], weights: ["a": .infinity]))?.contains("not a finite number") == true)
    }

    @Test func roundTripsThroughJSON() throws {
        let spec = ScoreSpec(source: .jsonFile(path: "m.json", key: "eval.acc"), metrics: ["loss": "eval.loss"],
                             weights: ["loss": -1], direction: .minimize)
        let back = try JSONDecoder().decode(ScoreSpec.self, from: JSONEncoder().encode(spec))
        #expect(back == spec)
    }
}

@Suite struct CacheWarningTests {
    @Test func aSharedUseCacheIsRefusedAPerTrialOneIsFine() {
        let shared = Evaluator.lmEvalCacheWarning(argv: ["lm_eval", "--model", "hf", "--use_cache", "/scratch/lm_cache", "--tasks", "arc_easy"])
        #expect(shared?.contains("`/scratch/lm_cache`") == true)
        #expect(shared?.contains("{trial_dir}") == true)
        #expect(Evaluator.lmEvalCacheWarning(argv: ["lm_eval", "--use_cache={trial_dir}/cache"]) == nil)
        #expect(Evaluator.lmEvalCacheWarning(argv: ["lm_eval", "--use_cache", "{trial_dir}/cache"]) == nil)
        #expect(Evaluator.lmEvalCacheWarning(argv: ["lm_eval", "--use_cache=/c"]) != nil)
        #expect(Evaluator.lmEvalCacheWarning(argv: ["lm_eval", "--tasks", "arc_easy"]) == nil)
        // Inside a shell string, and lmms-eval's short -c.
        #expect(Evaluator.lmEvalCacheWarning(argv: ["bash", "-c", "lm_eval --use_cache /c --tasks x"]) != nil)
        #expect(Evaluator.lmEvalCacheWarning(argv: ["python3", "-m", "lmms_eval", "-c", "/c"]) != nil)
        #expect(Evaluator.lmEvalCacheWarning(argv: ["bash", "-c", "lmms-eval --tasks x"]) == nil)
        // An expanded argv, with the trial's directory known.
        #expect(Evaluator.lmEvalCacheWarning(argv: ["lm_eval", "--use_cache", "/runs/t7/cache"], trialDirectory: "/runs/t7") == nil)
        #expect(Evaluator.lmEvalCacheWarning(argv: ["lm_eval", "--use_cache", "/runs/cache"], trialDirectory: "/runs/t7") != nil)
    }
}
