import Foundation
import Testing
@testable import Executors

/// A scripted Slurm: answers sbatch/squeue/sacct/scancel from tables the test sets, and counts calls.
final class ScriptedSlurm: SlurmCommandRunner, @unchecked Sendable {
    private let lock = NSLock()
    var squeueLines: [String: String] = [:]   // job id → "id|STATE|node"
    var sacctLines: [String: String] = [:]    // job id → "id|STATE|code:sig|node"
    var nextID = 100
    var calls: [String] = []
    var squeueFails = false

    func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        lock.lock(); defer { lock.unlock() }
        calls.append(program)
        let ids = arguments.first { $0.hasPrefix("--jobs=") }.map { $0.dropFirst(7).split(separator: ",").map(String.init) } ?? []
        switch program {
        case "sbatch":
            nextID += 1
            return (0, "\(nextID)\n", "")
        case "squeue":
            if squeueFails { return (1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)") }
            return (0, ids.compactMap { squeueLines[$0] }.map { $0 + "\n" }.joined(), "")
        case "sacct":
            return (0, ids.compactMap { sacctLines[$0] }.map { $0 + "\n" }.joined(), "")
        default:
            return (0, "", "")
        }
    }
    func count(_ program: String) -> Int { lock.lock(); defer { lock.unlock() }; return calls.filter { $0 == program }.count }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

@Suite struct SlurmJobScriptTests {
    func spec(_ dir: String = "/scratch/a b/it's") -> AttemptSpec {
        AttemptSpec(label: "s-r1-t2-a1", directory: dir, command: ["python3", "eval.py", "--x=1 2", "it's"],
                    environment: ["CUDA_VISIBLE_DEVICES": "0", "TAG": "a b"], timeout: 90)
    }

    @Test func quotingKeepsEveryArgumentOneWord() throws {
        #expect(SlurmJobScript.quote("plain-1.5/x") == "plain-1.5/x")
        #expect(SlurmJobScript.quote("a b") == "'a b'")
        #expect(SlurmJobScript.quote("it's") == "'it'\\''s'")
        #expect(SlurmJobScript.quote("") == "''")
        #expect(SlurmJobScript.quote("$HOME;rm") == "'$HOME;rm'")
        // The shell reads the rendered words back as the original argv.
        let args = ["a b", "it's", "$HOME", "x\"y", "back\\slash", "new\nline"]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "for a in " + args.map(SlurmJobScript.quote).joined(separator: " ") + "; do printf '%s\\0' \"$a\"; done"]
        let pipe = Pipe(); p.standardOutput = pipe
        try p.run(); p.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(out.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init) == args)
    }

    @Test func builtInTemplateHasDirectivesSetupEnvironmentAndTheSupervisor() throws {
        var config = SlurmConfig(slots: 2, mergetune: "/opt/mt/mergetune", partition: "gpu", gres: "gpu:1",
                                 account: "proj", cpusPerTask: 4, mem: "16G",
                                 extra: ["#SBATCH --qos=high", "module load cuda"], grace: 5)
        var script = try SlurmJobScript.render(spec(), config: config)
        let lines = script.split(separator: "\n").map(String.init)
        #expect(lines.first == "#!/bin/bash")
        for d in ["#SBATCH --partition=gpu", "#SBATCH --account=proj", "#SBATCH --gres=gpu:1",
                  "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16G", "#SBATCH --qos=high",
                  "#SBATCH --time=3"] { // 90 s + 5 s grace + 60 s → 3 minutes
            #expect(lines.contains(d), "\(d) in\n\(script)")
        }
        // Directives come before the first shell line, or sbatch ignores them.
        let lastDirective = lines.lastIndex { $0.hasPrefix("#SBATCH") }!
        let setup = lines.firstIndex(of: "module load cuda")!
        #expect(lastDirective < setup)
        #expect(lines.contains("export CUDA_VISIBLE_DEVICES=0"))
        #expect(lines.contains("export TAG='a b'"))
        #expect(lines.last == "exec /opt/mt/mergetune trial supervise --dir '/scratch/a b/it'\\''s' --timeout 90.0 --grace 5.0 -- python3 eval.py '--x=1 2' 'it'\\''s'")

        config.time = "2:00:00"
        script = try SlurmJobScript.render(spec(), config: config)
        #expect(script.contains("#SBATCH --time=2:00:00\n"))
        #expect(!script.contains("--time=3"))
    }

    @Test func userTemplateAndItsErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("job.tmpl").path
        try "#!/bin/bash\n#SBATCH --constraint=a100\n{{sbatch}}\necho {{label}} {{ directory }}\n{{command}}\n".write(toFile: path, atomically: true, encoding: .utf8)
        var config = SlurmConfig(slots: 1, mergetune: "mergetune", partition: "p", template: path)
        let script = try SlurmJobScript.render(spec("/d"), config: config)
        #expect(script == "#!/bin/bash\n#SBATCH --constraint=a100\n#SBATCH --partition=p\n#SBATCH --time=3\necho s-r1-t2-a1 /d\nexec mergetune trial supervise --dir /d --timeout 90.0 -- python3 eval.py '--x=1 2' 'it'\\''s'\n")

        try "#!/bin/bash\n{{sbatch}}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: SlurmError.badTemplate(path: path, problem: "has no {{command}} placeholder (the line that runs the supervisor)")) {
            try SlurmJobScript.render(spec(), config: config)
        }
        try "{{command}} {{gpu}}".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: SlurmError.self) { try SlurmJobScript.render(spec(), config: config) }
        do { _ = try SlurmJobScript.render(spec(), config: config) } catch { #expect("\(error)".contains("unknown placeholder {{gpu}}")) }
        config.template = dir.appendingPathComponent("absent").path
        do { _ = try SlurmJobScript.render(spec(), config: config); Issue.record("no error") } catch {
            #expect("\(error)".contains("absent: cannot be read"))
        }
    }
}

@Suite struct SlurmStateMappingTests {
    @Test func statesParse() {
        #expect(SlurmState(parsing: "PENDING") == .pending)
        #expect(SlurmState(parsing: "RUNNING") == .running)
        #expect(SlurmState(parsing: "COMPLETING") == .running)
        #expect(SlurmState(parsing: "CANCELLED by 0") == .final("CANCELLED"))
        #expect(SlurmState(parsing: "OUT_OF_MEMORY") == .final("OUT_OF_MEMORY"))
    }

    /// A scripted executor whose jobs Slurm reports in `state` (squeue gone, sacct has it).
    func ended(_ state: String, exitCode: String = "0:0", files: AttemptOutcome? = nil) throws -> AttemptOutcome {
        let slurm = ScriptedSlurm()
        let config = SlurmConfig(slots: 1, mergetune: "mergetune", pollInitial: 0.01, pollMax: 0.05, lostAfter: 0.2, filesAfter: 0.05)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-map-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exec = SlurmExecutor(config: config, runner: slurm, readFiles: { _ in files })
        let h = try exec.submit(AttemptSpec(label: "x", directory: dir, command: ["true"]), slot: 0)
        slurm.sacctLines[h.jobID] = "\(h.jobID)|\(state)|\(exitCode)|node7"
        var all: [(AttemptHandle, AttemptOutcome)] = []
        for _ in 0..<100 where all.isEmpty { all += try exec.wait(timeout: 0.05) }
        #expect(all.count == 1)
        #expect(exec.inFlight.isEmpty)
        return all.first?.1 ?? .failed(.noOutput, "nothing reported")
    }

    @Test func slurmStatesBecomeFailureReasons() throws {
        #expect(try ended("PREEMPTED").failure == .preempted)
        #expect(try ended("NODE_FAIL").failure == .nodeFailure)
        #expect(try ended("BOOT_FAIL").failure == .nodeFailure)
        #expect(try ended("TIMEOUT").failure == .timeout)
        #expect(try ended("CANCELLED by 0").failure == .cancelled)
        // Slurm's reason wins over the supervisor's record of the same SIGTERM.
        let sigterm = AttemptOutcome(failure: .cancelled, detail: "cancelled (the supervisor got SIGTERM or SIGINT)")
        let preempted = try ended("PREEMPTED", files: sigterm)
        #expect(preempted.failure == .preempted)
        #expect(preempted.detail?.contains("ended PREEMPTED") == true)
        // COMPLETED/FAILED: the files decide; without files, sacct's exit code.
        #expect(try ended("COMPLETED", files: AttemptOutcome(value: 0.5)).value == 0.5)
        let failed = try ended("FAILED", exitCode: "3:0")
        #expect(failed.failure == .exitCode)
        #expect(failed.exitCode == 3)
        #expect(failed.host == "node7")
        let killed = try ended("FAILED", exitCode: "0:9")
        #expect(killed.failure == .signal)
        #expect(killed.signal == 9)
        let oom = try ended("OUT_OF_MEMORY", exitCode: "0:125")
        #expect(oom.failure == .signal)
        #expect(oom.detail?.contains("OUT_OF_MEMORY") == true)
        #expect(try ended("COMPLETED").failure == .missingFile)
    }

    /// squeue shows the final state without an exit code; sacct supplies it (or lags behind).
    func endedInSqueue(_ state: String, sacct: String?) throws -> (AttemptOutcome, ScriptedSlurm) {
        let slurm = ScriptedSlurm()
        let config = SlurmConfig(slots: 1, mergetune: "mergetune", pollInitial: 0.01, pollMax: 0.05, filesAfter: 0.2)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-sq-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exec = SlurmExecutor(config: config, runner: slurm, readFiles: { _ in nil })
        let h = try exec.submit(AttemptSpec(label: "x", directory: dir, command: ["true"]), slot: 0)
        slurm.squeueLines[h.jobID] = "\(h.jobID)|\(state)|n1"
        if let sacct { slurm.sacctLines[h.jobID] = "\(h.jobID)|\(sacct)|n1" }
        var all: [(AttemptHandle, AttemptOutcome)] = []
        for _ in 0..<100 where all.isEmpty { all += try exec.wait(timeout: 0.05) }
        return (all.first?.1 ?? .failed(.noOutput, "nothing reported"), slurm)
    }

    @Test func exitCodeOfAJobWithoutFilesComesFromAccounting() throws {
        let (failed, slurm) = try endedInSqueue("FAILED", sacct: "FAILED|3:0")
        #expect(failed.failure == .exitCode)
        #expect(failed.exitCode == 3)
        #expect(slurm.count("sacct") >= 1)
        // A lagging accounting record ("RUNNING") does not undo squeue's final word.
        let (lagging, _) = try endedInSqueue("COMPLETED", sacct: "RUNNING|0:0")
        #expect(lagging.failure == .missingFile)
        #expect(lagging.detail?.contains("ended COMPLETED") == true)
    }

    @Test func jobInNeitherQueueNorAccountingIsLostAfterTheGracePeriod() throws {
        let slurm = ScriptedSlurm()
        let config = SlurmConfig(slots: 1, mergetune: "mergetune", pollInitial: 0.01, pollMax: 0.02, lostAfter: 0.3)
        let exec = SlurmExecutor(config: config, runner: slurm, readFiles: { _ in nil })
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-lost-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try exec.reattach([(AttemptHandle(executor: "slurm", jobID: "4242", slot: 0), AttemptSpec(label: "x", directory: dir))])
        let start = Date()
        #expect(try exec.wait(timeout: 0.1).isEmpty) // missing, but not for long enough
        var got: [(AttemptHandle, AttemptOutcome)] = []
        while got.isEmpty && Date().timeIntervalSince(start) < 3 { got = try exec.wait(timeout: 0.5) }
        #expect(Date().timeIntervalSince(start) >= 0.3)
        #expect(got.first?.0.jobID == "4242")
        #expect(got.first?.1.failure == .lost)
        #expect(got.first?.1.detail?.contains("neither squeue nor sacct") == true)
    }

    @Test func reattachRefusesAnotherExecutorsHandles() throws {
        let exec = SlurmExecutor(config: SlurmConfig(slots: 1, mergetune: "mergetune"), runner: ScriptedSlurm(), readFiles: { _ in nil })
        #expect(throws: SlurmError.foreignHandle(executor: "local", jobID: "123/456")) {
            try exec.reattach([(AttemptHandle(executor: "local", jobID: "123/456", slot: 0), AttemptSpec(label: "x", directory: "/d"))])
        }
        #expect(exec.inFlight.isEmpty)
    }

    @Test func controllerDownIsNeverLost() throws {
        let slurm = ScriptedSlurm()
        slurm.squeueFails = true
        let config = SlurmConfig(slots: 1, mergetune: "mergetune", pollInitial: 0.01, pollMax: 0.02, lostAfter: 0.05)
        let exec = SlurmExecutor(config: config, runner: slurm, readFiles: { _ in nil })
        try exec.reattach([(AttemptHandle(executor: "slurm", jobID: "7", slot: 0), AttemptSpec(label: "x", directory: "/nonexistent"))])
        #expect(try exec.wait(timeout: 0.3).isEmpty)
        #expect(exec.inFlight.count == 1)
        #expect(slurm.count("sacct") == 0) // nothing concluded from a controller that did not answer
        #expect(slurm.count("squeue") >= 2)
    }

    @Test func backoffGrowsWhileNothingChangesAndResetsOnSubmit() throws {
        let slurm = ScriptedSlurm()
        let config = SlurmConfig(slots: 2, mergetune: "mergetune", pollInitial: 0.05, pollMax: 0.4, fileCheck: 0.5)
        let reads = Counter()
        let exec = SlurmExecutor(config: config, runner: slurm, readFiles: { _ in reads.add(); return nil })
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-backoff-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = try exec.submit(AttemptSpec(label: "x", directory: dir, command: ["true"]), slot: 0)
        slurm.squeueLines[h.jobID] = "\(h.jobID)|RUNNING|n1"
        _ = try exec.wait(timeout: 2)
        // Polls at 0.05 (changed: pending → running, reset), then 0.05, 0.1, 0.2, 0.4, 0.4, ...: ≤ 9 in 2 s.
        let polls = slurm.count("squeue")
        #expect(polls >= 4 && polls <= 9, "\(polls) squeue calls in 2 s")
        #expect(exec.interval == 0.4)
        // exit.json is read once per poll round and once per `fileCheck` (0.5 s) in between.
        #expect(reads.value <= polls + 5, "\(reads.value) file reads in 2 s")
        let h2 = try exec.submit(AttemptSpec(label: "y", directory: dir, command: ["true"]), slot: 1)
        #expect(exec.interval == 0.05)
        // Only free slots take a job.
        #expect(throws: SlurmError.badSlot("slot 1 is busy with Slurm job \(h2.jobID)")) {
            try exec.submit(AttemptSpec(label: "z", directory: dir, command: ["true"]), slot: 1)
        }
        #expect(throws: SlurmError.badSlot("slot 2 is outside 0..<2")) {
            try exec.submit(AttemptSpec(label: "z", directory: dir, command: ["true"]), slot: 2)
        }
        #expect(slurm.count("sbatch") == 2)
    }
}

@Suite struct SlurmRegistryTests {
    @Test func registryBuildsTheSlurmExecutorFromItsKeys() throws {
        let json = ##"{"kind": "slurm", "slots": 8, "partition": "gpu", "gres": "gpu:1", "time": "1:00:00", "account": "proj", "cpus_per_task": 4, "mem": "16G", "extra": ["#SBATCH --qos=high", "module load cuda"], "env": {"A": "1"}, "grace": 3}"##
        let config = try JSONDecoder().decode(ExecutorConfig.self, from: Data(json.utf8))
        #expect(config.cpusPerTask == 4)
        let exec = try #require(try ExecutorRegistry.make(config, supervisor: "/bin/true") as? SlurmExecutor)
        #expect(exec.kind == "slurm")
        #expect(exec.slots == 8)
        #expect(exec.config == SlurmConfig(slots: 8, mergetune: "/bin/true", partition: "gpu", gres: "gpu:1", time: "1:00:00",
                                           account: "proj", cpusPerTask: 4, mem: "16G",
                                           extra: ["#SBATCH --qos=high", "module load cuda"], grace: 3, environment: ["A": "1"]))
        // The executor's env is in the script; the attempt's own wins on a clash.
        let script = try SlurmJobScript.render(AttemptSpec(label: "l", directory: "/d", command: ["x"], environment: ["A": "2", "B": "3"]),
                                               config: exec.config)
        #expect(script.contains("export A=2\nexport B=3\n"))
    }

    @Test(arguments: [
        (ExecutorConfig(kind: "slurm", gpus: [0]), "executor.gpus: not used by the slurm executor; remove it"),
        (ExecutorConfig(kind: "local", partition: "gpu"), "executor.partition: not used by the local executor; remove it"),
        (ExecutorConfig(kind: "inprocess", cpusPerTask: 2), "executor.cpus_per_task: not used by the inprocess executor; remove it"),
        (ExecutorConfig(kind: "slurm", partition: "gpu\necho pwned"), "executor.partition: 'gpu\necho pwned' is not one Slurm option value (no spaces or newlines; leave the key out for Slurm's default)"),
        (ExecutorConfig(kind: "slurm", cpusPerTask: 0), "executor.cpus_per_task: must be at least 1, got 0"),
        (ExecutorConfig(kind: "slurm", extra: ["a\nb"]), "executor.extra: one line per list item; 'a\nb' contains a newline"),
        (ExecutorConfig(kind: "slurm", template: "/nonexistent/job.tmpl"), "executor.template: /nonexistent/job.tmpl is not a readable file (give the job-script template's path)"),
        (ExecutorConfig(kind: "slurm", supervisor: "/nonexistent/mergetune"), "executor.supervisor: /nonexistent/mergetune is not an executable file (give the mergetune binary, as the nodes see it)"),
    ])
    func badKeysAreNamed(_ config: ExecutorConfig, _ message: String) {
        do { _ = try ExecutorRegistry.make(config); Issue.record("no error for \(config)") } catch {
            #expect("\(error)" == message)
        }
    }
}
