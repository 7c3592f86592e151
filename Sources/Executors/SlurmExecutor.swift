import Foundation

// The Slurm executor (docs/executors.md, "Slurm"; the contract: Executor.swift and
// docs/architecture.md, "The study core"). One `sbatch` per attempt: the job script runs the
// supervisor (`mergetune trial supervise`), which writes the attempt's files; status comes from
// batched `squeue`/`sacct` calls with backoff, never one call per job.

/// The Slurm executor's settings (the `[executor]` table of a study spec with kind "slurm").
public struct SlurmConfig: Sendable, Equatable {
    /// Jobs in flight at once (the coordinator never submits more).
    public var slots: Int
    /// The `mergetune` binary the job runs as the supervisor (absolute; must exist on the nodes).
    public var mergetune: String
    public var partition: String?
    /// `--gres`, e.g. "gpu:1".
    public var gres: String?
    /// `--time` in Slurm's syntax ("30", "1:00:00", "1-00:00:00"). Default: the attempt's timeout
    /// plus the supervisor's grace plus a minute, so the supervisor's own timeout fires first.
    public var time: String?
    public var account: String?
    public var cpusPerTask: Int?
    /// `--mem`, e.g. "16G".
    public var mem: String?
    /// Extra job-script lines: lines starting with `#SBATCH` join the directives, the others are
    /// shell lines run before the supervisor (`module load ...`, `source venv/bin/activate`).
    public var extra: [String]
    /// A job-script template file replacing the built-in one (placeholders: see `SlurmJobScript`).
    public var template: String?
    /// Seconds the supervisor waits between SIGTERM and SIGKILL (`--grace`); nil: its default.
    public var grace: Double?
    /// Status polling: the first interval, and the longest it grows to while nothing changes.
    public var pollInitial: Double
    public var pollMax: Double
    /// Seconds a job may be missing from both squeue and sacct, with no exit.json, before it is lost.
    public var lostAfter: Double
    /// Seconds to wait for exit.json after Slurm reports a job completed (shared file systems lag).
    public var filesAfter: Double
    /// Seconds between looks at the attempt directories' exit.json (one stat per job in flight).
    public var fileCheck: Double
    /// Directory holding sbatch, squeue, sacct, scancel; nil: found on PATH.
    public var binDir: String?
    /// Environment additions for every attempt (the attempt's own override them).
    public var environment: [String: String]

    public init(slots: Int, mergetune: String, partition: String? = nil, gres: String? = nil, time: String? = nil,
                account: String? = nil, cpusPerTask: Int? = nil, mem: String? = nil, extra: [String] = [],
                template: String? = nil, grace: Double? = nil, pollInitial: Double = 1, pollMax: Double = 30,
                lostAfter: Double = 60, filesAfter: Double = 10, fileCheck: Double = 1, binDir: String? = nil,
                environment: [String: String] = [:]) {
        self.environment = environment
        self.slots = slots; self.mergetune = mergetune; self.partition = partition; self.gres = gres
        self.time = time; self.account = account; self.cpusPerTask = cpusPerTask; self.mem = mem
        self.extra = extra; self.template = template; self.grace = grace; self.pollInitial = pollInitial
        self.pollMax = pollMax; self.lostAfter = lostAfter; self.filesAfter = filesAfter; self.fileCheck = fileCheck
        self.binDir = binDir
    }
}

public enum SlurmError: Error, CustomStringConvertible, Equatable {
    case commandFailed(command: String, status: Int32, stderr: String)
    case badTemplate(path: String, problem: String)
    case badOutput(command: String, output: String)
    case unknownHandle(String)
    case badSlot(String)
    case foreignHandle(executor: String, jobID: String)

    public var description: String {
        switch self {
        case let .commandFailed(command, status, stderr):
            return "\(command) exited with status \(status): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
        case let .badTemplate(path, problem):
            return "job-script template \(path): \(problem)"
        case let .badOutput(command, output):
            return "\(command) printed no job id: \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
        case let .foreignHandle(executor, jobID):
            return "slurm executor: cannot reattach attempt \(jobID) of the \(executor) executor (continue the study with the executor it was started with)"
        case let .badSlot(problem):
            return "slurm executor: \(problem) (the coordinator submits only to free slots)"
        case let .unknownHandle(id):
            return "Slurm job \(id) is not one of this executor's attempts in flight"
        }
    }
}

// MARK: - Running the Slurm commands

/// Runs one Slurm client command. A protocol so tests can count the calls.
public protocol SlurmCommandRunner: AnyObject, Sendable {
    func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String)
}

/// Runs the command as a child process; output goes through files, so a large `squeue`
/// answer can never block the child on a full pipe.
public final class ProcessSlurmRunner: SlurmCommandRunner {
    let binDir: String?
    public init(binDir: String? = nil) { self.binDir = binDir }

    public func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let tmp = FileManager.default.temporaryDirectory
        let out = tmp.appendingPathComponent("mergetune-slurm-\(UUID().uuidString).out")
        let err = tmp.appendingPathComponent("mergetune-slurm-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        let process = Process()
        if let binDir {
            process.executableURL = URL(fileURLWithPath: binDir).appendingPathComponent(program)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [program] + arguments
        }
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        defer { try? outHandle.close(); try? errHandle.close() }
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus,
                (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}

// MARK: - The job script

/// Builds the job script of one attempt. The built-in template is
///
///     #!/bin/bash
///     {{sbatch}}        the #SBATCH lines from the config fields and `extra`
///     {{setup}}         the shell lines of `extra`
///     {{environment}}   `export K='v'` for the attempt's environment
///     {{command}}       exec '<mergetune>' trial supervise --dir '<dir>' [--timeout T] [--grace G] -- '<argv>'...
///
/// A user template may also use `{{label}}` and `{{directory}}` (shell-quoted). The per-attempt
/// options (job name, output files) are `sbatch` arguments, not script lines,
/// so any characters in paths are safe.
public enum SlurmJobScript {
    public static let builtInTemplate = "#!/bin/bash\n{{sbatch}}\n{{setup}}\n{{environment}}\n{{command}}\n"
    static let placeholders: Set<String> = ["sbatch", "setup", "environment", "command", "label", "directory"]

    /// `s` as one shell word: unchanged when it has only safe characters, else single-quoted.
    public static func quote(_ s: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !s.isEmpty && s.allSatisfy({ safe.contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The Slurm `--time` for an attempt timeout: timeout + grace + 60 s, rounded up to minutes.
    static func timeLimit(timeout: Double, grace: Double?) -> String {
        let minutes = Int(((timeout + (grace ?? 10) + 60) / 60).rounded(.up))
        return "\(minutes)"
    }

    public static func render(_ attempt: AttemptSpec, config: SlurmConfig) throws -> String {
        var directives: [String] = []
        if let p = config.partition { directives.append("#SBATCH --partition=\(p)") }
        if let a = config.account { directives.append("#SBATCH --account=\(a)") }
        if let g = config.gres { directives.append("#SBATCH --gres=\(g)") }
        if let c = config.cpusPerTask { directives.append("#SBATCH --cpus-per-task=\(c)") }
        if let m = config.mem { directives.append("#SBATCH --mem=\(m)") }
        if let t = config.time {
            directives.append("#SBATCH --time=\(t)")
        } else if let timeout = attempt.timeout {
            directives.append("#SBATCH --time=\(timeLimit(timeout: timeout, grace: config.grace))")
        }
        var setup: [String] = []
        for line in config.extra {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("#SBATCH") { directives.append(line) } else { setup.append(line) }
        }
        let environment = config.environment.merging(attempt.environment) { _, mine in mine }.sorted { $0.key < $1.key }.map { "export \($0.key)=\(quote($0.value))" }
        var supervise = [config.mergetune, "trial", "supervise", "--dir", attempt.directory]
        if let t = attempt.timeout { supervise += ["--timeout", "\(t)"] }
        if let g = config.grace { supervise += ["--grace", "\(g)"] }
        supervise.append("--")
        supervise += attempt.command
        let command = "exec " + supervise.map(quote).joined(separator: " ")

        var template = builtInTemplate
        var source = "the built-in template"
        if let path = config.template {
            source = path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw SlurmError.badTemplate(path: path, problem: "cannot be read (set `template` to a readable file or remove it)")
            }
            template = text
        }
        let values = ["sbatch": directives.joined(separator: "\n"), "setup": setup.joined(separator: "\n"),
                      "environment": environment.joined(separator: "\n"), "command": command,
                      "label": quote(attempt.label), "directory": quote(attempt.directory)]
        var result = ""
        var rest = Substring(template)
        var sawCommand = false
        while let open = rest.range(of: "{{") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw SlurmError.badTemplate(path: source, problem: "a `{{` without its `}}`")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let value = values[name] else {
                throw SlurmError.badTemplate(path: source, problem: "unknown placeholder {{\(name)}} (known: \(placeholders.sorted().joined(separator: ", ")))")
            }
            if name == "command" { sawCommand = true }
            result += value
            rest = rest[close.upperBound...]
        }
        result += rest
        guard sawCommand else {
            throw SlurmError.badTemplate(path: source, problem: "has no {{command}} placeholder (the line that runs the supervisor)")
        }
        return result
    }
}

// MARK: - Slurm states

/// A job's state as squeue or sacct reports it.
public enum SlurmState: Equatable, Sendable {
    case pending, running
    /// Ended, with Slurm's state word ("COMPLETED", "CANCELLED", ...).
    case final(String)

    static let finalStates: Set<String> = [
        "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL",
        "OUT_OF_MEMORY", "DEADLINE", "REVOKED", "SPECIAL_EXIT",
    ]

    /// Parses squeue's %T or sacct's State ("CANCELLED by 0" → CANCELLED).
    public init(parsing text: String) {
        let word = text.split(separator: " ").first.map(String.init)?.uppercased() ?? ""
        if Self.finalStates.contains(word) { self = .final(word) }
        else if word == "PENDING" || word == "REQUEUED" || word == "REQUEUE_HOLD" || word == "REQUEUE_FED" { self = .pending }
        else { self = .running } // RUNNING, COMPLETING, SUSPENDED, CONFIGURING, SIGNALING, STAGE_OUT, ...
    }

    /// The failure reason Slurm's final state implies by itself, when it overrides the attempt's
    /// files: the supervisor only sees a SIGTERM, Slurm knows why it was sent.
    public static func slurmReason(_ state: String) -> FailureReason? {
        switch state {
        case "CANCELLED", "REVOKED": return .cancelled
        case "TIMEOUT", "DEADLINE": return .timeout
        case "PREEMPTED": return .preempted
        case "NODE_FAIL", "BOOT_FAIL": return .nodeFailure
        default: return nil
        }
    }
}

// MARK: - The executor

public final class SlurmExecutor: TrialExecutor {
    public let kind = "slurm"
    public var slots: Int { config.slots }
    public let config: SlurmConfig
    let runner: SlurmCommandRunner
    /// Reads an attempt directory's files; nil while `exit.json` is absent.
    let readFiles: (String) -> AttemptOutcome?

    final class Job {
        let handle: AttemptHandle
        let spec: AttemptSpec
        var state: SlurmState = .pending
        var node: String?
        var exitCode: String?
        var cancelRequested = false
        /// When Slurm first reported a final state.
        var finalSince: Date?
        /// When the job was first missing from both squeue and sacct.
        var missingSince: Date?
        /// When a SIGTERM-ended exit.json was first seen while Slurm still showed the job running.
        var filesSeen: Date?
        init(handle: AttemptHandle, spec: AttemptSpec) { self.handle = handle; self.spec = spec }
    }

    var jobs: [String: Job] = [:]
    var order: [String] = []
    var interval: Double
    var nextPoll = Date.distantPast
    var nextFileCheck = Date.distantPast
    /// Poll rounds so far (tests check that status calls are batched: one squeue per round).
    var pollRounds = 0

    public init(config: SlurmConfig, runner: SlurmCommandRunner? = nil,
                readFiles: @escaping (String) -> AttemptOutcome? = { AttemptFiles.outcome(directory: $0) }) {
        self.config = config
        self.runner = runner ?? ProcessSlurmRunner(binDir: config.binDir)
        self.readFiles = readFiles
        self.interval = config.pollInitial
    }

    public var inFlight: [AttemptHandle] { order.compactMap { jobs[$0]?.handle } }

    public func submit(_ attempt: AttemptSpec, slot: Int) throws -> AttemptHandle {
        guard slot >= 0 && slot < slots else { throw SlurmError.badSlot("slot \(slot) is outside 0..<\(slots)") }
        if let busy = jobs.values.first(where: { $0.handle.slot == slot }) {
            throw SlurmError.badSlot("slot \(slot) is busy with Slurm job \(busy.handle.jobID)")
        }
        let fm = FileManager.default
        try fm.createDirectory(atPath: attempt.directory, withIntermediateDirectories: true)
        let script = try SlurmJobScript.render(attempt, config: config)
        let scriptPath = (attempt.directory as NSString).appendingPathComponent("job.sh")
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let dir = attempt.directory as NSString
        // --no-requeue: a preempted or failed job is a failed attempt; the coordinator retries.
        let args = ["--parsable", "--no-requeue", "--job-name=\(attempt.label)",
                    "--output=\(dir.appendingPathComponent("slurm-%j.out"))",
                    "--error=\(dir.appendingPathComponent("slurm-%j.err"))", scriptPath]
        let r = try runner.run("sbatch", args)
        guard r.status == 0 else {
            throw SlurmError.commandFailed(command: "sbatch \(scriptPath)", status: r.status, stderr: r.stderr)
        }
        // --parsable prints "id" or "id;cluster".
        let first = r.stdout.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let id = String(first.split(separator: ";").first ?? "")
        guard !id.isEmpty, id.allSatisfy({ $0.isNumber || $0 == "_" }) else {
            throw SlurmError.badOutput(command: "sbatch \(scriptPath)", output: r.stdout + r.stderr)
        }
        let handle = AttemptHandle(executor: kind, jobID: id, host: nil, slot: slot)
        add(Job(handle: handle, spec: attempt))
        return handle
    }

    func add(_ job: Job) {
        if jobs[job.handle.jobID] == nil { order.append(job.handle.jobID) }
        jobs[job.handle.jobID] = job
        // A new job: look soon, whatever the backoff had grown to.
        interval = config.pollInitial
        nextPoll = min(nextPoll, Date().addingTimeInterval(config.pollInitial))
    }

    public func reattach(_ attempts: [(AttemptHandle, AttemptSpec)]) throws {
        if let other = attempts.first(where: { $0.0.executor != kind }) {
            throw SlurmError.foreignHandle(executor: other.0.executor, jobID: other.0.jobID)
        }
        for (handle, spec) in attempts {
            add(Job(handle: handle, spec: spec))
        }
        nextPoll = .distantPast
    }

    public func cancel(_ handle: AttemptHandle) throws {
        guard let job = jobs[handle.jobID] else { throw SlurmError.unknownHandle(handle.jobID) }
        job.cancelRequested = true
        let r = try runner.run("scancel", [handle.jobID])
        // A job that already ended is no error: its end is reported by `wait` as it was.
        if r.status != 0 && !r.stderr.contains("Invalid job id") && !r.stderr.contains("already completing or completed") {
            throw SlurmError.commandFailed(command: "scancel \(handle.jobID)", status: r.status, stderr: r.stderr)
        }
        nextPoll = min(nextPoll, Date().addingTimeInterval(config.pollInitial))
    }

    public func wait(timeout: Double) throws -> [(AttemptHandle, AttemptOutcome)] {
        let deadline = Date().addingTimeInterval(max(0, timeout))
        while true {
            var look = Date() >= nextFileCheck
            if Date() >= nextPoll { try poll(); look = true }
            let ended = collect(readingFiles: look)
            if look { nextFileCheck = Date().addingTimeInterval(config.fileCheck) }
            if !ended.isEmpty || Date() >= deadline || jobs.isEmpty { return ended }
            // exit.json is looked at every `fileCheck` seconds (a stat per job in flight; cheap
            // even on a cluster file system); Slurm is asked only at `nextPoll`.
            let next = min(nextPoll, nextFileCheck)
            Thread.sleep(forTimeInterval: min(max(0.01, deadline.timeIntervalSinceNow), max(0.01, next.timeIntervalSinceNow)))
        }
    }

    // MARK: Polling

    /// One squeue for every job in flight (chunked at 500 ids), one sacct for those squeue no
    /// longer knows. Backoff: the interval doubles up to `pollMax` while nothing changes.
    func poll() throws {
        let ids = order
        guard !ids.isEmpty else { nextPoll = Date().addingTimeInterval(interval); return }
        pollRounds += 1
        var changed = false
        var seen = Set<String>()
        var controllerError: String?
        for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
            // --states=all: jobs that ended in the last MinJobAge seconds still show their final state.
            let r = try runner.run("squeue", ["--jobs=\(chunk.joined(separator: ","))", "--states=all", "--noheader",
                                              "--format=%i|%T|%N"])
            if r.status != 0 {
                if r.stderr.contains("Invalid job id") { continue } // none of them is known any more
                controllerError = r.stderr; continue
            }
            for line in r.stdout.split(whereSeparator: \.isNewline) {
                let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                guard f.count >= 2, let job = jobs[f[0]] else { continue }
                seen.insert(f[0])
                changed = update(job, state: SlurmState(parsing: f[1]), node: f.count > 2 ? f[2] : nil, exitCode: nil) || changed
            }
        }
        if controllerError != nil {
            // The controller did not answer: nothing can be concluded about missing jobs.
            backoff(changed: changed); return
        }
        let missing = ids.filter { !seen.contains($0) && !isFinal(jobs[$0]!) }
        // Ended per squeue but no exit.json: sacct has the exit code squeue does not show.
        let needCode = ids.filter { id in
            guard let job = jobs[id], isFinal(job), job.exitCode == nil else { return false }
            return !FileManager.default.fileExists(atPath: (job.spec.directory as NSString).appendingPathComponent(AttemptFiles.exitFile))
        }
        if !missing.isEmpty || !needCode.isEmpty {
            var accounted = Set<String>()
            let r = try runner.run("sacct", ["--jobs=\((missing + needCode).joined(separator: ","))", "--allocations", "--parsable2",
                                             "--noheader", "--format=JobID,State,ExitCode,NodeList"])
            if r.status == 0 {
                for line in r.stdout.split(whereSeparator: \.isNewline) {
                    let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                    guard f.count >= 3, let job = jobs[f[0]] else { continue }
                    accounted.insert(f[0])
                    changed = update(job, state: SlurmState(parsing: f[1]), node: f.count > 3 ? f[3] : nil, exitCode: f[2]) || changed
                }
            }
            let now = Date()
            for id in missing where !accounted.contains(id) {
                if let job = jobs[id], job.missingSince == nil { job.missingSince = now; changed = true }
            }
        }
        backoff(changed: changed)
    }

    func isFinal(_ job: Job) -> Bool { if case .final = job.state { return true }; return false }

    func update(_ job: Job, state: SlurmState, node: String?, exitCode: String?) -> Bool {
        var changed = false
        // sacct lags behind squeue: a stale "RUNNING" record never undoes a final state.
        if isFinal(job), !{ if case .final = state { return true }; return false }() { return false }
        if job.state != state {
            job.state = state; changed = true
            if case .final = state, job.finalSince == nil { job.finalSince = Date() }
        }
        if let node, !node.isEmpty, node != "(null)", node != "None assigned" { job.node = node }
        if let exitCode { job.exitCode = exitCode }
        job.missingSince = nil
        return changed
    }

    func backoff(changed: Bool) {
        interval = changed ? config.pollInitial : min(interval * 2, config.pollMax)
        nextPoll = Date().addingTimeInterval(interval)
    }

    // MARK: Outcomes

    /// Attempts that ended, removed from the in-flight set.
    func collect(readingFiles: Bool) -> [(AttemptHandle, AttemptOutcome)] {
        var ended: [(AttemptHandle, AttemptOutcome)] = []
        let now = Date()
        for id in order {
            // Between file checks, only jobs Slurm called ended (or whose SIGTERM ending awaits
            // Slurm's word) are looked at.
            guard let job = jobs[id], readingFiles || isFinal(job) || job.filesSeen != nil,
                  let outcome = outcome(of: job, now: now) else { continue }
            // The handle exactly as submitted or reattached: the coordinator finds the attempt by
            // it (AttemptHandle is Hashable over every field). The node goes in `outcome.host`.
            ended.append((job.handle, outcome))
            jobs[id] = nil
        }
        if !ended.isEmpty { order.removeAll { jobs[$0] == nil } }
        return ended
    }

    /// The outcome of a job that ended, nil while it runs (or its end is not certain yet).
    func outcome(of job: Job, now: Date) -> AttemptOutcome? {
        let files = readFiles(job.spec.directory)
        let id = job.handle.jobID
        if case let .final(state) = job.state {
            if let reason = SlurmState.slurmReason(state) {
                // Slurm's reason wins over the supervisor's view of the same SIGTERM.
                var o = AttemptOutcome.failed(job.cancelRequested ? .cancelled : reason,
                                              "Slurm job \(id) ended \(state)" + (files?.detail.map { "; \($0)" } ?? ""))
                o.exitCode = files?.exitCode; o.signal = files?.signal; o.seconds = files?.seconds
                o.host = files?.host ?? job.node
                return o
            }
            if var files { if files.host == nil { files.host = job.node }; return annotate(files, state: state, id: id) }
            // Completed per Slurm but no exit.json yet: give a lagging file system a moment.
            if let since = job.finalSince, now.timeIntervalSince(since) < config.filesAfter { return nil }
            return fromSlurmAlone(job, state: state)
        }
        if var files {
            // exit.json exists while the job still shows as running (it ends right after).
            // A SIGTERM ending is confirmed with Slurm first: it may be a preemption or a time limit.
            if files.failure == .cancelled || files.failure == .signal, !job.cancelRequested {
                if job.filesSeen == nil { job.filesSeen = now; nextPoll = now }
                if let seen = job.filesSeen, now.timeIntervalSince(seen) < config.filesAfter { return nil }
            }
            if job.cancelRequested && files.value == nil { files.failure = .cancelled }
            if files.host == nil { files.host = job.node }
            return files
        }
        if let since = job.missingSince, now.timeIntervalSince(since) >= config.lostAfter {
            return .failed(.lost, "Slurm job \(id) is in neither squeue nor sacct and left no exit.json in "
                           + "\(job.spec.directory) after \(Int(config.lostAfter)) s (purged from the controller "
                           + "without accounting, or the controller lost its state)")
        }
        return nil
    }

    func annotate(_ files: AttemptOutcome, state: String, id: String) -> AttemptOutcome {
        var o = files
        if state == "OUT_OF_MEMORY" {
            o.detail = "Slurm job \(id) ended OUT_OF_MEMORY" + (o.detail.map { "; \($0)" } ?? "")
        }
        return o
    }

    /// No files from the worker: the outcome from sacct's state and exit code ("code:signal").
    func fromSlurmAlone(_ job: Job, state: String) -> AttemptOutcome {
        let id = job.handle.jobID
        let parts = (job.exitCode ?? "").split(separator: ":").compactMap { Int32($0) }
        let code = parts.first, sig = parts.count > 1 ? parts[1] : nil
        let where_ = " (no exit.json in \(job.spec.directory); see slurm-\(id).err there)"
        var o: AttemptOutcome
        if let sig, sig != 0 {
            o = .failed(.signal, "Slurm job \(id) ended \(state), signal \(sig)" + where_); o.signal = sig
        } else if state == "OUT_OF_MEMORY" {
            o = .failed(.signal, "Slurm job \(id) ended OUT_OF_MEMORY (killed by the memory limit)" + where_)
            o.signal = 9
        } else if let code, code != 0 {
            o = .failed(.exitCode, "Slurm job \(id) ended \(state) with exit code \(code)" + where_); o.exitCode = code
        } else {
            o = .failed(.missingFile, "Slurm job \(id) ended \(state)" + where_)
        }
        o.host = job.node
        return o
    }
}
