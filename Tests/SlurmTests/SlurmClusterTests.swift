import Foundation
import Testing
import TestSupport
@testable import Executors

/// The local test cluster (scripts/slurm-up.sh). Without it these suites are skipped, and say so.
enum SlurmCluster {
    static let up: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["scontrol", "ping"]
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let ok = p.terminationStatus == 0 && out.contains("is UP")
        if !ok { print("SKIPPED: slurm not running (run scripts/slurm-up.sh); the Slurm cluster tests are skipped") }
        return ok
    }()

    /// The built `mergetune` (the supervisor), next to the test bundle in the products directory.
    static let mergetune: String = BuiltProducts.mergetune.path

    static func run(_ program: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try ProcessSlurmRunner().run(program, args)
    }

    static func state(_ id: String) throws -> String {
        try run("squeue", ["--jobs=\(id)", "--states=all", "--noheader", "--format=%T"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Counts the Slurm commands the executor runs (the real ones run underneath).
final class CountingRunner: SlurmCommandRunner, @unchecked Sendable {
    let real = ProcessSlurmRunner()
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        lock.lock(); counts[program, default: 0] += 1; lock.unlock()
        return try real.run(program, arguments)
    }
    func count(_ program: String) -> Int { lock.lock(); defer { lock.unlock() }; return counts[program] ?? 0 }
}

/// A worker that writes result.json (temporary name, then rename) with the value of $MT_VALUE,
/// after sleeping `sleep` seconds.
func valueWorker(_ dir: String, sleep: Double = 0) -> [String] {
    ["/bin/sh", "-c", "sleep \(sleep); printf '{\"value\": %s, \"extras\": {\"acc\": 0.5}}' \"$MT_VALUE\" > \"$1/result.tmp\" && mv \"$1/result.tmp\" \"$1/result.json\"", "sh", dir]
}

@Suite(.enabled(if: SlurmCluster.up, "needs the local Slurm cluster: bash scripts/slurm-up.sh"))
struct SlurmClusterTests {
    func executor(slots: Int = 4, runner: SlurmCommandRunner? = nil, lostAfter: Double = 30) -> SlurmExecutor {
        SlurmExecutor(config: SlurmConfig(slots: slots, mergetune: SlurmCluster.mergetune, grace: 1,
                                          pollInitial: 0.2, pollMax: 1, lostAfter: lostAfter, filesAfter: 2),
                      runner: runner)
    }

    /// Waits until `n` attempts ended (at most `limit` seconds).
    func collect(_ exec: SlurmExecutor, _ n: Int, limit: Double = 30) throws -> [String: (AttemptHandle, AttemptOutcome)] {
        var got: [String: (AttemptHandle, AttemptOutcome)] = [:]
        let deadline = Date().addingTimeInterval(limit)
        while got.count < n && Date() < deadline {
            for (h, o) in try exec.wait(timeout: 1) {
                #expect(got[h.jobID] == nil, "job \(h.jobID) reported twice")
                got[h.jobID] = (h, o)
            }
        }
        #expect(got.count == n, "\(got.count) of \(n) attempts ended within \(limit) s")
        return got
    }

    func waitRunning(_ id: String, limit: Double = 20) throws {
        let deadline = Date().addingTimeInterval(limit)
        while try SlurmCluster.state(id) != "RUNNING" && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(try SlurmCluster.state(id) == "RUNNING")
    }

    @Test func resultFileGivesTheValue() throws {
        // A directory with a space and a quote: every path in the job script must be quoted.
        let dir = Scratch.directory("slurm it's").path
        let exec = executor()
        let h = try exec.submit(AttemptSpec(label: "value-t1", directory: dir, command: valueWorker(dir),
                                            environment: ["MT_VALUE": "0.25"], timeout: 60), slot: 0)
        #expect(h.executor == "slurm")
        #expect(Int(h.jobID) != nil)
        #expect(exec.inFlight == [h])
        // The job name is the attempt's label (squeue knows it at once; sacct's copy lags).
        let name = try SlurmCluster.run("squeue", ["--jobs=\(h.jobID)", "--states=all", "--noheader", "--format=%j"]).stdout
        #expect(name.trimmingCharacters(in: .whitespacesAndNewlines) == "value-t1")
        let got = try collect(exec, 1)
        let o = try #require(got[h.jobID]?.1)
        #expect(o.value == 0.25, "\(o)")
        #expect(o.extras == ["acc": 0.5])
        #expect(o.failure == nil)
        #expect(o.host != nil)
        #expect(exec.inFlight.isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir + "/job.sh"))
        #expect(FileManager.default.fileExists(atPath: dir + "/slurm-\(h.jobID).out"))
    }

    @Test func nonZeroExitIsExitCode() throws {
        let dir = Scratch.directory("slurm-exit").path
        let exec = executor()
        let h = try exec.submit(AttemptSpec(label: "exit-t1", directory: dir,
                                            command: ["/bin/sh", "-c", "echo boom >&2; exit 3"]), slot: 0)
        let o = try #require(try collect(exec, 1)[h.jobID]?.1)
        #expect(o.failure == .exitCode)
        #expect(o.exitCode == 3)
        #expect(o.detail?.contains("boom") == true, "\(o.detail ?? "")")
    }

    @Test func timeoutIsEnforcedBySupervisor() throws {
        let dir = Scratch.directory("slurm-timeout").path
        let exec = executor()
        let start = Date()
        let h = try exec.submit(AttemptSpec(label: "timeout-t1", directory: dir, command: ["/bin/sleep", "30"], timeout: 1), slot: 0)
        let o = try #require(try collect(exec, 1)[h.jobID]?.1)
        #expect(o.failure == .timeout, "\(o)")
        #expect(Date().timeIntervalSince(start) < 15)
    }

    @Test func scancelFromOutsideIsCancelled() throws {
        let dir = Scratch.directory("slurm-scancel").path
        let exec = executor()
        let h = try exec.submit(AttemptSpec(label: "scancel-t1", directory: dir, command: ["/bin/sleep", "30"]), slot: 0)
        try waitRunning(h.jobID)
        Thread.sleep(forTimeInterval: 0.3) // the supervisor has its signal handlers set up
        let r = try SlurmCluster.run("scancel", [h.jobID]) // as a user would
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(try collect(exec, 1)[h.jobID]?.1)
        #expect(o.failure == .cancelled, "\(o)")
        #expect(o.value == nil)
    }

    @Test func cancelThroughTheExecutor() throws {
        let dir1 = Scratch.directory("slurm-cancel-run").path, dir2 = Scratch.directory("slurm-cancel-pend").path
        let exec = executor()
        let running = try exec.submit(AttemptSpec(label: "cancel-run", directory: dir1, command: ["/bin/sleep", "30"]), slot: 0)
        try waitRunning(running.jobID)
        // A job held in the queue never starts: its cancel has no exit.json, only Slurm's word.
        let held = try exec.submit(AttemptSpec(label: "cancel-pend", directory: dir2, command: ["/bin/sleep", "30"]), slot: 1)
        _ = try SlurmCluster.run("scontrol", ["hold", held.jobID])
        Thread.sleep(forTimeInterval: 0.3)
        try exec.cancel(running)
        try exec.cancel(held)
        let got = try collect(exec, 2)
        #expect(got[running.jobID]?.1.failure == .cancelled)
        #expect(got[held.jobID]?.1.failure == .cancelled)
        #expect(!FileManager.default.fileExists(atPath: dir2 + "/exit.json"))
    }

    @Test func freshExecutorReattachesToRunningAndFinishedJobs() throws {
        let quick = Scratch.directory("slurm-reattach-quick").path, slow = Scratch.directory("slurm-reattach-slow").path
        let first = executor()
        let qs = AttemptSpec(label: "re-quick", directory: quick, command: valueWorker(quick), environment: ["MT_VALUE": "1.5"])
        let ss = AttemptSpec(label: "re-slow", directory: slow, command: valueWorker(slow, sleep: 3), environment: ["MT_VALUE": "2.5"])
        let qh = try first.submit(qs, slot: 0), sh = try first.submit(ss, slot: 1)
        // The coordinator "dies" here: `first` is never asked again.
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: quick + "/exit.json") && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        try waitRunning(sh.jobID)
        let second = executor(lostAfter: 1)
        let ghost = AttemptHandle(executor: "slurm", jobID: "987654", slot: 2)
        try second.reattach([(qh, qs), (sh, ss), (ghost, AttemptSpec(label: "ghost", directory: Scratch.path("slurm-ghost")))])
        #expect(Set(second.inFlight) == [qh, sh, ghost])
        let start = Date()
        let firstRound = try second.wait(timeout: 5)
        #expect(firstRound.map(\.0.jobID) == [qh.jobID], "the finished job is reported first")
        #expect(firstRound.first?.1.value == 1.5)
        let rest = try collect(second, 2)
        #expect(rest[sh.jobID]?.1.value == 2.5)
        #expect(rest[sh.jobID]?.0.slot == 1)
        #expect(rest[ghost.jobID]?.1.failure == .lost)
        #expect(Date().timeIntervalSince(start) < 20)
    }

    @Test func jobPurgedFromTheQueueIsReportedFromAccounting() throws {
        // A job without the supervisor (so no exit.json), ended and gone from squeue (MinJobAge):
        // only sacct knows how it ended.
        let dir = Scratch.directory("slurm-purged").path
        let r = try SlurmCluster.run("sbatch", ["--parsable", "--output=/dev/null", "--wrap", "exit 3"])
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(r.status == 0 && Int(id) != nil, "\(r.stderr)")
        let deadline = Date().addingTimeInterval(40)
        while try !SlurmCluster.state(id).isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.5) }
        #expect(try SlurmCluster.state(id).isEmpty, "job \(id) still in squeue")
        let runner = CountingRunner()
        let exec = executor(runner: runner)
        try exec.reattach([(AttemptHandle(executor: "slurm", jobID: id, slot: 0), AttemptSpec(label: "purged", directory: dir))])
        let o = try #require(try collect(exec, 1)[id]?.1)
        #expect(o.failure == .exitCode, "\(o)")
        #expect(o.exitCode == 3)
        #expect(o.detail?.contains("no exit.json") == true)
        #expect(runner.count("sacct") >= 1)
    }

    @Test func preemptedJobIsPreemptedNotCancelled() throws {
        // scripts/slurm-up.sh: partition low is preemptible (PreemptMode=CANCEL) by the default
        // partition. The supervisor sees only a SIGTERM; Slurm's PREEMPTED must win.
        let dir = Scratch.directory("slurm-preempt").path
        let exec = SlurmExecutor(config: SlurmConfig(slots: 1, mergetune: SlurmCluster.mergetune, partition: "low",
                                                     extra: ["#SBATCH --exclusive"], grace: 1, pollInitial: 0.2,
                                                     pollMax: 1, filesAfter: 5))
        let h = try exec.submit(AttemptSpec(label: "preempt-t1", directory: dir, command: ["/bin/sleep", "60"]), slot: 0)
        // The exclusive job starts once the other tests' jobs leave the node free.
        try waitRunning(h.jobID, limit: 60)
        Thread.sleep(forTimeInterval: 0.3)
        let r = try SlurmCluster.run("sbatch", ["--parsable", "--output=/dev/null", "--wrap", "sleep 1"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(try collect(exec, 1)[h.jobID]?.1)
        #expect(o.failure == .preempted, "\(o)")
        #expect(o.detail?.contains("PREEMPTED") == true)
    }

    @Test func manyJobsArePolledInBatches() throws {
        let runner = CountingRunner()
        let n = 24
        let exec = executor(slots: n, runner: runner)
        var dirs: [String: Int] = [:]
        for i in 0..<n {
            let dir = Scratch.directory("slurm-many-\(i)").path
            let h = try exec.submit(AttemptSpec(label: "many-\(i)", directory: dir, command: valueWorker(dir, sleep: 2),
                                                environment: ["MT_VALUE": "\(i)"]), slot: i)
            dirs[h.jobID] = i
        }
        #expect(exec.inFlight.count == n)
        #expect(runner.count("sbatch") == n)
        let got = try collect(exec, n, limit: 60)
        for (id, (h, o)) in got {
            #expect(o.value == Double(dirs[id]!), "job \(id): \(o)")
            #expect(h.slot == dirs[id]!)
        }
        // One squeue per poll round for all 24 jobs, at most one sacct per round, and far fewer
        // rounds than jobs × seconds.
        let squeue = runner.count("squeue"), sacct = runner.count("sacct")
        #expect(squeue == exec.pollRounds, "\(squeue) squeue calls in \(exec.pollRounds) rounds")
        #expect(sacct <= exec.pollRounds)
        #expect(exec.pollRounds <= 30, "\(exec.pollRounds) poll rounds for \(n) jobs of ~2 s")
        print("slurm many-jobs: \(n) jobs, \(exec.pollRounds) poll rounds, \(squeue) squeue, \(sacct) sacct calls")
    }
}
