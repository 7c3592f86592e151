import Foundation
import Testing
import TestSupport
@testable import Executors
#if canImport(Glibc)
import Glibc
#endif

/// The built mergetune binary (next to the test bundle in the products directory): its
/// `trial supervise` runs every local attempt.
enum Binary {
    static let path: String = BuiltProducts.mergetune.path
}

/// Whether a live process (not a zombie: an orphan killed with its group may wait a while
/// for init to reap it) of process group `pgid` exists, waiting up to a second for the kills to land.
func groupExists(_ pgid: pid_t) -> Bool {
    func live() -> Bool {
        guard kill(-pgid, 0) == 0 || errno == EPERM else { return false }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for name in entries {
            guard let pid = pid_t(name), let stat = Posix.procStat(pid), stat.count > 2 else { continue }
            if pid_t(stat[2]) == pgid && stat[0] != "Z" && stat[0] != "X" { return true }
        }
        return false
    }
    for _ in 0..<100 { if !live() { return false }; usleep(10_000) }
    return true
}

/// The worker's pid (= its process group id) once the supervisor recorded it.
func workerPID(_ dir: String, within seconds: Double = 10) throws -> pid_t {
    let deadline = Date(timeIntervalSinceNow: seconds)
    while Date() < deadline {
        if let text = try? String(contentsOfFile: dir + "/worker.pid", encoding: .utf8), let (pid, _) = Posix.parseToken(text) {
            return pid
        }
        usleep(10_000)
    }
    throw ExecutorError("no worker.pid in \(dir)")
}

/// Outcomes `wait` returned, kept for the handle they belong to (one wait may end several).
nonisolated(unsafe) private var reported: [ObjectIdentifier: [AttemptHandle: AttemptOutcome]] = [:]
private let reportedLock = NSLock()

/// Waits until `executor` reports `handle`; each attempt must be reported exactly once.
func outcome(of handle: AttemptHandle, from executor: TrialExecutor, within seconds: Double = 20) throws -> AttemptOutcome {
    let key = ObjectIdentifier(executor)
    let deadline = Date(timeIntervalSinceNow: seconds)
    while true {
        reportedLock.lock()
        let early = reported[key]?.removeValue(forKey: handle)
        reportedLock.unlock()
        if let early { return early }
        guard Date() < deadline else { break }
        for (h, o) in try executor.wait(timeout: 0.5) {
            reportedLock.lock()
            let twice = reported[key, default: [:]].updateValue(o, forKey: h) != nil
            reportedLock.unlock()
            #expect(!twice, "\(h.jobID) reported twice")
        }
    }
    throw ExecutorError("\(handle.jobID) did not end within \(seconds) s")
}

func attempt(_ script: String, label: String = "t", timeout: Double? = nil, env: [String: String] = [:]) -> AttemptSpec {
    AttemptSpec(label: label, directory: Scratch.directory("local-\(label)").path, command: ["/bin/sh", "-c", script],
                environment: env, timeout: timeout)
}

@Suite struct LocalExecutorTests {
    func executor(slots: Int = 1, grace: Double = 0.5, env: [String: String] = [:]) throws -> LocalExecutor {
        try LocalExecutor(slots: slots, environment: env, supervisor: Binary.path, grace: grace)
    }

    func run(_ spec: AttemptSpec, _ ex: LocalExecutor? = nil) throws -> AttemptOutcome {
        let ex = try ex ?? executor()
        let handle = try ex.submit(spec, slot: 0)
        let o = try outcome(of: handle, from: ex)
        #expect(ex.inFlight.isEmpty)
        return o
    }

    @Test func exitZeroWithAValue() throws {
        let spec = attempt(#"echo chatter; printf '{"value": 0.1, "extras": {"acc": 0.25}}' > "$MERGETUNE_RESULT""#, label: "value")
        let o = try run(spec)
        #expect(o.value == 0.1 && o.extras == ["acc": 0.25] && o.failure == nil, "\(o)")
        #expect(o.exitCode == 0 && o.host == Posix.hostName)
        #expect(try String(contentsOfFile: spec.directory + "/stdout.log", encoding: .utf8) == "chatter\n")
    }

    @Test func nonZeroExitOverridesAPrintedValue() throws {
        let o = try run(attempt(#"printf '{"value": 1}' > "$MERGETUNE_RESULT"; echo dying >&2; exit 4"#, label: "exit4"))
        #expect(o.failure == .exitCode && o.exitCode == 4 && o.value == nil, "\(o)")
        #expect(o.detail?.contains("dying") == true)
    }

    @Test func killedBySignal() throws {
        let o = try run(attempt(#"kill -USR1 $$; sleep 5"#, label: "signal"))
        #expect(o.failure == .signal && o.signal == SIGUSR1, "\(o)")
    }

    @Test func timeoutWithSIGTERMHonoured() throws {
        // The worker prints a number, then overstays; it exits 0 on SIGTERM: still a timeout.
        let spec = attempt(#"printf '{"value": 1}' > "$MERGETUNE_RESULT"; trap 'echo got-term >&2; exit 0' TERM; sleep 20 & wait"#,
                           label: "timeout-term", timeout: 0.5)
        let start = Date()
        let o = try run(spec, executor(grace: 10))
        #expect(o.failure == .timeout && o.value == nil && o.exitCode == 0, "\(o)")
        #expect(o.detail?.contains("got-term") == true)
        #expect(Date().timeIntervalSince(start) < 5, "SIGTERM was honoured: no need to wait for the 10 s grace")
        #expect(!groupExists(try workerPID(spec.directory)), "the backgrounded sleep went with the group")
    }

    @Test func timeoutWithSIGTERMIgnoredEndsInSIGKILL() throws {
        let spec = attempt("trap '' TERM; sleep 20", label: "timeout-kill", timeout: 0.5)
        let o = try run(spec, executor(grace: 0.5))
        #expect(o.failure == .timeout && o.signal == SIGKILL, "\(o)")
        let seconds = try #require(o.seconds)
        #expect(seconds >= 0.95 && seconds < 5, "timeout 0.5 + grace 0.5: \(seconds)")
        #expect(!groupExists(try workerPID(spec.directory)))
    }

    @Test func grandchildHoldingStdoutNeitherHangsNorSurvives() throws {
        let spec = attempt(#"sleep 30 & echo $! > "$MERGETUNE_ATTEMPT_DIR/grandchild"; printf '{"value": 2}' > "$MERGETUNE_RESULT""#,
                           label: "grandchild")
        let start = Date()
        let o = try run(spec)
        #expect(o.value == 2, "\(o)")
        #expect(Date().timeIntervalSince(start) < 10)
        let grandchild = try #require(pid_t(try String(contentsOfFile: spec.directory + "/grandchild", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        // Killed with the group (it may linger a moment as a zombie of init).
        var state = Posix.liveness(grandchild, ticks: nil)
        for _ in 0..<100 where state == .running { usleep(10_000); state = Posix.liveness(grandchild, ticks: nil) }
        #expect(state != .running)
    }

    @Test func stdinIsDevNull() throws {
        let spec = attempt(#"readlink /proc/self/fd/0 > "$MERGETUNE_ATTEMPT_DIR/stdin"; cat > /dev/null; printf '{"value": 3}' > "$MERGETUNE_RESULT""#,
                           label: "stdin")
        #expect(try run(spec).value == 3)
        #expect(try String(contentsOfFile: spec.directory + "/stdin", encoding: .utf8) == "/dev/null\n")
    }

    @Test func cancelStopsTheWholeGroup() throws {
        let ex = try executor(grace: 1)
        let spec = attempt("sleep 30 & sleep 30", label: "cancel")
        let handle = try ex.submit(spec, slot: 0)
        let pgid = try workerPID(spec.directory)
        #expect(groupExists(pgid))
        try ex.cancel(handle)
        let o = try outcome(of: handle, from: ex, within: 10)
        #expect(o.failure == .cancelled, "\(o)")
        #expect(!groupExists(pgid))
    }

    @Test func reattachAfterARestartWhileTheJobRuns() throws {
        let spec = attempt(#"sleep 1; printf '{"value": 4}' > "$MERGETUNE_RESULT""#, label: "reattach-running")
        var first: LocalExecutor? = try executor()
        let handle = try first!.submit(spec, slot: 0)
        first = nil  // the coordinator's restart: a fresh instance knows only the ledger's handles
        let second = try executor()
        try second.reattach([(handle, spec)])
        #expect(second.inFlight == [handle])
        #expect(try second.wait(timeout: 0).isEmpty, "still running")
        let o = try outcome(of: handle, from: second)
        #expect(o.value == 4, "\(o)")
        #expect(second.inFlight.isEmpty)
    }

    @Test func reattachToAJobThatFinishedMeanwhile() throws {
        let spec = attempt(#"printf '{"value": 5}' > "$MERGETUNE_RESULT""#, label: "reattach-done")
        var first: LocalExecutor? = try executor()
        let handle = try first!.submit(spec, slot: 0)
        first = nil
        let (pid, ticks) = try #require(Posix.parseToken(handle.jobID))
        for _ in 0..<1000 where Posix.liveness(pid, ticks: ticks) == .running { usleep(10_000) }
        let second = try executor()
        try second.reattach([(handle, spec)])
        let ended = try second.wait(timeout: 5)
        #expect(ended.count == 1 && ended.first?.0 == handle && ended.first?.1.value == 5, "\(ended)")
    }

    @Test func reattachToAnAttemptThatCannotBeFoundIsLost() throws {
        let spec = attempt("true", label: "reattach-gone")
        let ex = try executor()
        let elsewhere = AttemptHandle(executor: "local", jobID: "123/456", host: "some-other-host", slot: 0)
        let vanished = AttemptHandle(executor: "local", jobID: "999999/1", host: Posix.hostName, slot: 0)
        try ex.reattach([(elsewhere, spec), (vanished, spec)])
        let ended = Dictionary(uniqueKeysWithValues: try ex.wait(timeout: 1).map { ($0.0, $0.1) })
        #expect(ended[elsewhere]?.failure == .lost && ended[elsewhere]?.detail?.contains("some-other-host") == true)
        #expect(ended[vanished]?.failure == .lost)
    }

    @Test func aKilledSupervisorIsLostAndLeavesNoWorker() throws {
        let ex = try executor()
        let spec = attempt("sleep 30", label: "lost")
        let handle = try ex.submit(spec, slot: 0)
        let pgid = try workerPID(spec.directory)
        let (supervisor, _) = try #require(Posix.parseToken(handle.jobID))
        kill(supervisor, SIGKILL)
        let o = try outcome(of: handle, from: ex)
        #expect(o.failure == .lost && o.detail?.contains("SIGKILL") == true, "\(o)")
        #expect(!groupExists(pgid))
    }

    @Test func gpuSlotsSeeTheirOwnDevice() throws {
        let ex = try LocalExecutor(gpus: [3, 5], environment: ["EXTRA": "7", "CUDA_VISIBLE_DEVICES": "0,1,2"],
                                   supervisor: Binary.path, grace: 0.5)
        #expect(ex.slots == 2)
        let script = #"printf '{"value": %s, "extras": {"extra": %s, "own": %s}}' "$CUDA_VISIBLE_DEVICES" "$EXTRA" "$OWN" > "$MERGETUNE_RESULT""#
        let a = attempt(script, label: "gpu0", env: ["OWN": "1", "CUDA_VISIBLE_DEVICES": "9"])
        let b = attempt(script, label: "gpu1", env: ["OWN": "2"])
        let ha = try ex.submit(a, slot: 0), hb = try ex.submit(b, slot: 1)
        #expect(throws: ExecutorError.self) { try ex.submit(b, slot: 1) }  // busy
        let oa = try outcome(of: ha, from: ex), ob = try outcome(of: hb, from: ex)
        #expect(oa.value == 3 && oa.extras == ["extra": 7, "own": 1], "\(oa)")
        #expect(ob.value == 5 && ob.extras == ["extra": 7, "own": 2], "\(ob)")
    }

    @Test func resultFileProblems() throws {
        let ex = try executor(slots: 3)
        let nan = try ex.submit(attempt(#"printf '{"value": NaN}' > "$MERGETUNE_RESULT""#, label: "nan"), slot: 0)
        let utf = try ex.submit(attempt(#"printf '{"value": 1, "error": "\377"}' > "$MERGETUNE_RESULT""#, label: "utf8"), slot: 1)
        let missing = try ex.submit(attempt("echo nothing written", label: "missing"), slot: 2)
        #expect(try outcome(of: nan, from: ex).failure == .nonFinite)
        #expect(try outcome(of: utf, from: ex).failure == .badJSON)
        #expect(try outcome(of: missing, from: ex).failure == .missingFile)
    }

    @Test func aWorkerThatCannotStart() throws {
        let spec = AttemptSpec(label: "nostart", directory: Scratch.directory("local-nostart").path, command: ["/no/such/worker"])
        let o = try run(spec)
        #expect(o.failure == .exitCode && o.exitCode == 127 && o.detail?.contains("/no/such/worker") == true, "\(o)")
    }

    @Test func submitRefusesWhatItCannotRun() throws {
        let ex = try executor()
        #expect(throws: ExecutorError.self) { try ex.submit(AttemptSpec(label: "x", directory: "/no/such/dir", command: ["true"]), slot: 0) }
        #expect(throws: ExecutorError.self) { try ex.submit(attempt("true"), slot: 1) }
        #expect(throws: ExecutorError.self) { try ex.cancel(AttemptHandle(executor: "local", jobID: "1/1", slot: 0)) }
        #expect(throws: ExecutorError.self) { try LocalExecutor(slots: 1, supervisor: "/no/such/mergetune") }
    }
}

/// `mergetune trial supervise` run directly, as the Slurm executor's batch script does.
@Suite struct SuperviseCommandTests {
    func run(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test func writesExitJSONAndExitsZeroEvenWhenTheWorkerFails() throws {
        let dir = Scratch.directory("supervise-cli").path
        #expect(try run(["trial", "supervise", "--dir", dir, "--timeout", "0.3", "--grace", "0.2", "--", "sh", "-c", "sleep 10; exit 3"]) == 0)
        let exit = try #require(try AttemptFiles.readExit(directory: dir))
        #expect(exit.timedOut && exit.signal == SIGTERM && exit.exitCode == nil, "\(exit)")
        #expect(exit.finished - exit.started < 5)
    }

    @Test func usageErrorsExitTwo() throws {
        let dir = Scratch.directory("supervise-usage").path
        #expect(try run(["trial", "supervise", "--dir", dir]) == 2)  // no worker command
        #expect(try run(["trial", "supervise", "--dir", dir, "--timeout", "0", "--", "true"]) == 2)
        #expect(try run(["trial", "supervise", "--dir", dir + "/missing", "--", "true"]) == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/exit.json"))
    }
}
