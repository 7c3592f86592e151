import Foundation
import Testing
import TestSupport
@testable import Executors
#if canImport(Glibc)
import Glibc
#endif

/// A worker's evaluator runs in a process group of its own (module Evaluation) and registers
/// it in `evaluator.pid`; the supervisor signals that group with the worker's.
@Suite struct EvaluatorGroupTests {
    /// A worker that starts an "evaluator" in its own group (bash job control) that ignores
    /// SIGTERM, registers it as Evaluator.run does, then runs `rest`.
    func worker(_ rest: String) -> String {
        #"set -m; bash -c "trap '' TERM; exec sleep 60" & echo "$!/0" > "$MERGETUNE_ATTEMPT_DIR/evaluator.pid"; set +m; "# + rest
    }

    func evaluatorGroup(_ dir: String) throws -> pid_t {
        let text = try String(contentsOfFile: dir + "/evaluator.pid", encoding: .utf8)
        return try #require(Posix.parseToken(text)).pid
    }

    @Test func aTimedOutWorkerTakesItsEvaluatorWithIt() throws {
        let ex = try LocalExecutor(slots: 1, supervisor: Binary.path, grace: 0.5)
        let spec = AttemptSpec(label: "evalgroup-timeout", directory: Scratch.directory("evalgroup-timeout").path,
                               command: ["bash", "-c", worker("sleep 60")], timeout: 0.5)
        let o = try outcome(of: try ex.submit(spec, slot: 0), from: ex)
        #expect(o.failure == .timeout)
        let pgid = try evaluatorGroup(spec.directory)
        #expect(pgid > 1)
        #expect(!groupExists(pgid), "the evaluator's group outlived its worker")
    }

    @Test func aWorkerThatExitsLeavingItsEvaluatorRunningTakesItWithIt() throws {
        let ex = try LocalExecutor(slots: 1, supervisor: Binary.path, grace: 0.5)
        let spec = AttemptSpec(label: "evalgroup-exit", directory: Scratch.directory("evalgroup-exit").path,
                               command: ["bash", "-c", worker("exit 0")])
        let o = try outcome(of: try ex.submit(spec, slot: 0), from: ex)
        #expect(o.seconds.map { $0 < 10 } == true)
        let pgid = try evaluatorGroup(spec.directory)
        #expect(!groupExists(pgid), "the evaluator's group outlived its worker")
    }
}
