import Evaluation
import Executors
import Foundation
import Testing
import TestSupport

/// The evaluator contract (docs/evaluators.md), one fixture evaluator per case.
enum Fixture {
    static func path(_ name: String) -> String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name)").path
    }

    /// Runs `bash FIXTURE ARGS…` in a fresh attempt directory.
    static func run(_ name: String, _ args: [String] = [], score: ScoreSpec = ScoreSpec(source: .stdout),
                    timeout: Double? = 30, grace: Double = 2, maxStdoutBytes: Int = EvaluatorCommand.defaultMaxStdoutBytes,
                    environment: [String: String] = [:], directory: String? = nil) -> (AttemptOutcome, String) {
        let dir = directory ?? Scratch.directory("evaluator-\(name)").path
        let command = EvaluatorCommand(argv: ["bash", path(name)] + args, environment: environment, timeout: timeout,
                                       grace: grace, maxStdoutBytes: maxStdoutBytes)
        return (Evaluator.run(command, score: score, directory: dir), dir)
    }
}

@Suite struct EvaluatorRunTests {
    @Test func theLastLineOfStdoutIsTheScoreAndLogsGoToFiles() throws {
        let (o, dir) = Fixture.run("ok.sh")
        #expect(o.failure == nil)
        #expect(o.value == 0.8125)
        #expect(o.extras == ["score": 0.8125])
        #expect(o.exitCode == 0 && o.signal == nil)
        #expect(o.seconds != nil && o.seconds! < 10)
        let out = try String(contentsOfFile: dir + "/evaluator.stdout.log", encoding: .utf8)
        let err = try String(contentsOfFile: dir + "/evaluator.stderr.log", encoding: .utf8)
        #expect(out == "evaluating 100 items\n0.8125\n")
        #expect(err == "loading checkpoint\n")
    }

    @Test func aNonZeroExitOverridesAPrintedScore() {
        let (o, _) = Fixture.run("exit_code.sh")
        #expect(o.failure == .exitCode)
        #expect(o.value == nil)
        #expect(o.exitCode == 3)
        #expect(o.detail?.contains("exited with code 3") == true)
        // The detail ends with the tail of stderr.
        #expect(o.detail?.hasSuffix("RuntimeError: CUDA out of memory\n") == true)
    }

    @Test func aSignalIsRecordedWithItsNumber() {
        let (o, _) = Fixture.run("signal.sh")
        #expect(o.failure == .signal)
        #expect(o.signal == 9)
        #expect(o.value == nil)
        #expect(o.detail?.contains("signal 9") == true)
    }

    @Test func aTimeoutIsATimeoutEvenWhenItThenExitsZeroWithANumber() throws {
        let (o, dir) = Fixture.run("timeout.sh", timeout: 0.5, grace: 5)
        #expect(o.failure == .timeout)
        #expect(o.value == nil)
        #expect(o.exitCode == 0)  // it did exit 0 on SIGTERM…
        let out = try String(contentsOfFile: dir + "/evaluator.stdout.log", encoding: .utf8)
        #expect(out.hasSuffix("0.99\n"))  // …after printing a number
        #expect(o.seconds! >= 0.5 && o.seconds! < 5)  // SIGTERM at 0.5 s, no need for the SIGKILL
    }

    @Test func aTimeoutEscalatesToSIGKILLAfterTheGrace() {
        // Ignores SIGTERM entirely: the group gets SIGKILL after the grace period.
        let dir = Scratch.directory("evaluator-kill").path
        let command = EvaluatorCommand(argv: ["bash", "-c", "trap '' TERM; sleep 30 & wait; sleep 30"], timeout: 0.3, grace: 0.5)
        let o = Evaluator.run(command, score: ScoreSpec(source: .stdout), directory: dir)
        #expect(o.failure == .timeout)
        #expect(o.signal == 9)
        #expect(o.seconds! >= 0.8 && o.seconds! < 10)
    }

    @Test func blankStdoutIsNoOutput() {
        let (o, _) = Fixture.run("no_output.sh")
        #expect(o.failure == .noOutput)
        #expect(o.detail?.contains("progress 100%") == true)
    }

    @Test func wordsAreNotANumber() {
        let (o, _) = Fixture.run("not_a_number.sh")
        #expect(o.failure == .notANumber)
        #expect(o.detail?.contains("accuracy: high") == true)
    }

    @Test func nanIsNonFinite() {
        let (o, _) = Fixture.run("non_finite.sh")
        #expect(o.failure == .nonFinite)
        #expect(o.value == nil)
    }

    @Test func twoNumbersAreAmbiguousForTheStrictProtocol() {
        let (strict, _) = Fixture.run("ambiguous.sh", score: ScoreSpec(source: .stdoutStrict))
        #expect(strict.failure == .ambiguous)
        #expect(strict.detail?.contains("2 numbers") == true)
        // The plain protocol takes the last line.
        let (plain, _) = Fixture.run("ambiguous.sh")
        #expect(plain.value == 0.7)
    }

    @Test func endlessStdoutIsStoppedAsOutputTooLarge() {
        let (o, dir) = Fixture.run("output_too_large.sh", maxStdoutBytes: 1 << 20)
        #expect(o.failure == .outputTooLarge)
        #expect(o.seconds! < 20)
        // Stopped soon after the limit (the size is checked every ≤ 50 ms).
        let size = (try? FileManager.default.attributesOfItem(atPath: dir + "/evaluator.stdout.log")[.size] as? Int) ?? 0
        #expect(size > 1 << 20)
    }

    @Test func aMissingJSONFileIsMissingFile() {
        let (o, dir) = Fixture.run("missing_file.sh", score: ScoreSpec(source: .jsonFile(path: "metrics.json", key: "score")))
        #expect(o.failure == .missingFile)
        #expect(o.detail?.contains(dir + "/metrics.json") == true)
    }

    @Test func aTruncatedJSONFileIsBadJSON() {
        let (o, dir) = Fixture.run("bad_json.sh", score: ScoreSpec(source: .jsonFile(path: "{trial_dir}/metrics.json", key: "score")))
        #expect(o.failure == .badJSON)
        #expect(o.detail?.contains(dir + "/metrics.json: not valid JSON") == true)
    }

    @Test func aLeftoverChildHoldingStdoutDoesNotHoldUpTheRunAndIsKilled() throws {
        let (o, dir) = Fixture.run("leftover_child.sh")
        #expect(o.value == 0.75)
        #expect(o.seconds! < 10)  // the child sleeps 60 s with stdout open
        let text = try String(contentsOfFile: dir + "/child.pid", encoding: .utf8)
        let child = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        var state = Posix.liveness(child, ticks: nil)
        for _ in 0..<200 where state == .running { usleep(10_000); state = Posix.liveness(child, ticks: nil) }
        #expect(state != .running)
    }

    @Test func crlfLineEndingsAreFine() {
        #expect(Fixture.run("crlf.sh").0.value == 0.625)
        #expect(Fixture.run("crlf.sh", score: ScoreSpec(source: .stdoutStrict)).0.failure == .notANumber)  // "log line" too
    }

    @Test func surroundingWhitespaceIsFine() {
        #expect(Fixture.run("whitespace.sh").0.value == 0.375)
        #expect(Fixture.run("whitespace.sh", score: ScoreSpec(source: .stdoutStrict)).0.value == 0.375)
    }

    @Test func hexFloatsAreNotNumbers() {
        let (o, _) = Fixture.run("hex_float.sh")
        #expect(o.failure == .notANumber)
        #expect(o.detail?.contains("hexadecimal") == true)
    }

    @Test func invalidUTF8IsAnErrorNotACrash() {
        let (bad, _) = Fixture.run("invalid_utf8.sh")
        #expect(bad.failure == .notANumber)
        #expect(bad.detail?.contains("not valid UTF-8") == true)
        // Only the line that is read must be UTF-8.
        #expect(Fixture.run("invalid_utf8_earlier.sh").0.value == 0.5)
        #expect(Fixture.run("invalid_utf8_earlier.sh", score: ScoreSpec(source: .stdoutStrict)).0.failure == .notANumber)
    }

    @Test func hugeOutputIsReadFromItsTail() throws {
        let (o, dir) = Fixture.run("huge_output.sh")
        #expect(o.value == 0.4375)
        let size = try #require(FileManager.default.attributesOfItem(atPath: dir + "/evaluator.stdout.log")[.size] as? Int)
        #expect(size > 5_000_000)
        // stdout_strict refuses it rather than reading it all.
        #expect(Fixture.run("huge_output.sh", score: ScoreSpec(source: .stdoutStrict)).0.failure == .outputTooLarge)
    }

    @Test func stdinIsDevNullAndTheEvaluatorLeadsItsOwnProcessGroup() {
        let dir = Scratch.directory("evaluator-group").path
        // `cat` returns at once on /dev/null; field 5 of /proc/PID/stat is the process group.
        let script = #"cat > stdin.txt; echo $(( $(cut -d' ' -f5 /proc/$$/stat) == $$ ))"#
        let o = Evaluator.run(EvaluatorCommand(argv: ["bash", "-c", script], timeout: 10), score: ScoreSpec(source: .stdout), directory: dir)
        #expect(o.value == 1, "\(o.detail ?? "")")
        #expect((try? Data(contentsOf: URL(fileURLWithPath: dir + "/stdin.txt")))?.isEmpty == true)
    }

    @Test func theEvaluatorsGroupIsRegisteredWhileItRuns() {
        // evaluator.pid holds "pid/ticks" of the evaluator (its group) while it runs, for the
        // supervisor; it is removed once the group is gone.
        let dir = Scratch.directory("evaluator-pidfile").path
        // (Written right after the spawn, so the evaluator may start before it exists.)
        let script = #"for i in $(seq 500); do [ -s evaluator.pid ] && break; sleep 0.01; done; read t < evaluator.pid; echo $(( ${t%%/*} == $$ ))"#
        let o = Evaluator.run(EvaluatorCommand(argv: ["bash", "-c", script], timeout: 10), score: ScoreSpec(source: .stdout), directory: dir)
        #expect(o.value == 1, "\(o.detail ?? "")")
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + AttemptFiles.evaluatorFile))
    }

    @Test func theScoreIsNeverReadFromStderr() {
        let dir = Scratch.directory("evaluator-stderr").path
        let command = EvaluatorCommand(argv: ["bash", "-c", "echo 0.5 >&2"])
        let o = Evaluator.run(command, score: ScoreSpec(source: .stdout), directory: dir)
        #expect(o.failure == .noOutput)
    }

    @Test func environmentAdditionsAndTheWorkingDirectory() throws {
        let (o, dir) = Fixture.run("env_cwd.sh", environment: ["FIXTURE_SCORE": "0.25"])
        #expect(o.value == 0.25)
        let cwd = try String(contentsOfFile: dir + "/cwd.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(URL(fileURLWithPath: cwd).resolvingSymlinksInPath().path == URL(fileURLWithPath: dir).resolvingSymlinksInPath().path)
    }

    @Test func aRelativeProgramIsTakenFromTheAttemptDirectory() throws {
        let dir = Scratch.directory("evaluator-relative").path
        try "#!/bin/sh\necho 0.125\n".write(toFile: dir + "/eval.sh", atomically: true, encoding: .utf8)
        chmod(dir + "/eval.sh", 0o755)
        let o = Evaluator.run(EvaluatorCommand(argv: ["./eval.sh"]), score: ScoreSpec(source: .stdout), directory: dir)
        #expect(o.value == 0.125, "\(o.detail ?? "")")
    }

    @Test func aCommandDecodesWithDefaults() throws {
        let c = try JSONDecoder().decode(EvaluatorCommand.self, from: Data(#"{"argv": ["eval"], "timeout": 60}"#.utf8))
        #expect(c == EvaluatorCommand(argv: ["eval"], timeout: 60))
    }

    @Test func aCommandThatCannotStartIsExitCode127() {
        let dir = Scratch.directory("evaluator-nostart").path
        let o = Evaluator.run(EvaluatorCommand(argv: ["/no/such/evaluator"]), score: ScoreSpec(source: .stdout), directory: dir)
        #expect(o.failure == .exitCode)
        #expect(o.exitCode == 127)
        #expect(o.detail?.contains("/no/such/evaluator") == true)
    }

    @Test func stdoutJSONWithSubMetricsAndAWeightedSum() {
        let spec = ScoreSpec(source: .stdout, metrics: ["acc": "acc", "f1": "f1", "bleu": "nested.bleu.4"])
        let (o, _) = Fixture.run("json_stdout.sh", score: spec)
        #expect(o.value == 0.7)
        #expect(o.extras == ["score": 0.7, "acc": 0.8, "f1": 0.6, "bleu": 0.3])

        var weighted = ScoreSpec(source: .stdout, metrics: ["acc": "acc", "f1": "f1"], weights: ["acc": 0.5, "f1": 2])
        let (w, _) = Fixture.run("json_stdout.sh", score: weighted)
        #expect(w.value == 0.5 * 0.8 + 2 * 0.6)
        #expect(w.extras == ["score": 0.5 * 0.8 + 2 * 0.6, "acc": 0.8, "f1": 0.6])

        weighted.direction = .minimize
        let (m, _) = Fixture.run("json_stdout.sh", score: weighted)
        #expect(m.value == -(0.5 * 0.8 + 2 * 0.6))
        #expect(m.extras?["score"] == 0.5 * 0.8 + 2 * 0.6)

        // A boolean and a string are not numbers; a missing key names what is there.
        #expect(Fixture.run("json_stdout.sh", score: ScoreSpec(source: .stdout, metrics: ["x": "flag"])).0.failure == .notANumber)
        #expect(Fixture.run("json_stdout.sh", score: ScoreSpec(source: .stdout, metrics: ["x": "label"])).0.failure == .notANumber)
        let (missing, _) = Fixture.run("json_stdout.sh", score: ScoreSpec(source: .stdout, metrics: ["x": "nested.rouge"]))
        #expect(missing.failure == .badJSON)
        #expect(missing.detail?.contains("no `rouge` in `nested` (has: bleu.4)") == true)
    }

    @Test func aJSONFileWithAKeyPath() {
        let spec = ScoreSpec(source: .jsonFile(path: "metrics.json", key: "eval.accuracy"),
                             metrics: ["loss": "eval.loss", "bleu": "bleu.4.corpus", "second": "per_task.1"])
        let (o, _) = Fixture.run("json_file.sh", score: spec)
        #expect(o.value == 0.81)
        #expect(o.extras == ["score": 0.81, "loss": 0.42, "bleu": 0.3, "second": 0.2])
    }

    @Test func aJSONFileLeftByAnEarlierAttemptIsNotThisAttemptsResult() {
        let spec = ScoreSpec(source: .jsonFile(path: "metrics.json", key: "eval.accuracy"))
        let (first, dir) = Fixture.run("json_file.sh", score: spec)
        #expect(first.value == 0.81)
        let (second, _) = Fixture.run("missing_file.sh", score: spec, directory: dir)
        #expect(second.failure == .missingFile)
        #expect(second.detail?.contains("not written by this attempt") == true)
    }

    @Test func minimizeHandsBackTheNegatedScore() {
        let (o, _) = Fixture.run("ok.sh", score: ScoreSpec(source: .stdout, direction: .minimize))
        #expect(o.value == -0.8125)
        #expect(o.extras == ["score": 0.8125])
    }
}
