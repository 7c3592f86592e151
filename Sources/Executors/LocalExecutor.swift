import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs attempts as processes on this machine, `slots` at a time, each under its own
/// supervisor (`mergetune trial supervise`) started in a new session: a coordinator killed with
/// SIGKILL leaves its attempts running, and a restarted one takes them over with `reattach`.
/// With `gpus`, slot i owns GPU `gpus[i]` (CUDA_VISIBLE_DEVICES). docs/executors.md.
public final class LocalExecutor: TrialExecutor {
    public let kind = "local"
    public let slots: Int
    /// One GPU per slot, or nil.
    public let gpus: [Int]?
    /// Added to every attempt's environment (under the attempt's own and the slot's).
    public let environment: [String: String]
    /// The mergetune binary whose `trial supervise` runs each attempt.
    public let supervisor: String
    /// Seconds between SIGTERM and SIGKILL on timeout or cancel.
    public let grace: Double
    /// How often `wait` looks at the running supervisors.
    public var pollInterval: Double = 0.01

    private struct Entry {
        var pid: pid_t
        var ticks: UInt64?
        var directory: String
        /// Started by this instance: reaped with waitpid. Otherwise found through /proc.
        var ownChild: Bool
        var cancelRequested = false
    }
    private var entries: [AttemptHandle: Entry] = [:]
    /// Outcomes known without looking (reattached attempts that cannot be found).
    private var decided: [(AttemptHandle, AttemptOutcome)] = []
    private var busy: [Bool]

    /// `slots` attempts at a time.
    public convenience init(slots: Int = 1, environment: [String: String] = [:], supervisor: String? = nil,
                grace: Double = Supervisor.defaultGrace) throws {
        guard slots >= 1 else { throw ExecutorError("executor.slots: must be at least 1, got \(slots)") }
        try self.init(slots: slots, gpus: nil, environment: environment, supervisor: supervisor, grace: grace)
    }

    /// One slot per GPU; slot i sees only GPU `gpus[i]`.
    public convenience init(gpus: [Int], environment: [String: String] = [:], supervisor: String? = nil,
                            grace: Double = Supervisor.defaultGrace) throws {
        guard !gpus.isEmpty else { throw ExecutorError("executor.gpus: give at least one GPU index, e.g. [0, 1]") }
        if let bad = gpus.first(where: { $0 < 0 }) { throw ExecutorError("executor.gpus: \(bad) is not a GPU index (>= 0)") }
        guard Set(gpus).count == gpus.count else { throw ExecutorError("executor.gpus: \(gpus) lists a GPU twice") }
        try self.init(slots: gpus.count, gpus: gpus, environment: environment, supervisor: supervisor, grace: grace)
    }

    private init(slots: Int, gpus: [Int]?, environment: [String: String], supervisor: String?, grace: Double) throws {
        guard grace >= 0 else { throw ExecutorError("executor.grace: must be >= 0 seconds, got \(grace)") }
        self.slots = slots; self.gpus = gpus; self.environment = environment; self.grace = grace
        self.supervisor = supervisor ?? LocalExecutor.runningExecutable()
        busy = Array(repeating: false, count: slots)
        guard FileManager.default.isExecutableFile(atPath: self.supervisor) else {
            throw ExecutorError("local executor: the supervisor binary \(self.supervisor) is not executable (pass the mergetune binary)")
        }
    }

    /// The running binary (the coordinator is mergetune itself).
    public static func runningExecutable() -> String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return CommandLine.arguments[0]
    }

    /// The environment a slot adds: its GPU.
    public func slotEnvironment(_ slot: Int) -> [String: String] {
        guard let gpus else { return [:] }
        return ["CUDA_VISIBLE_DEVICES": String(gpus[slot])]
    }

    public var inFlight: [AttemptHandle] { Array(entries.keys) + decided.map(\.0) }

    public func submit(_ attempt: AttemptSpec, slot: Int) throws -> AttemptHandle {
        guard (0..<slots).contains(slot) else { throw ExecutorError("local executor: slot \(slot) out of range 0..<\(slots)") }
        guard !busy[slot] else { throw ExecutorError("local executor: slot \(slot) is busy (\(attempt.label) needs a free one)") }
        guard !attempt.command.isEmpty else { throw ExecutorError("\(attempt.label): no command to run") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: attempt.directory, isDirectory: &isDir), isDir.boolValue else {
            throw ExecutorError("\(attempt.label): attempt directory \(attempt.directory) does not exist")
        }
        var argv = [supervisor, "trial", "supervise", "--dir", attempt.directory]
        if let timeout = attempt.timeout { argv += ["--timeout", "\(timeout)"] }
        argv += ["--grace", "\(grace)", "--"] + attempt.command
        // The slot's own variables last: an attempt cannot move itself to another GPU.
        var env = environment
        for (k, v) in attempt.environment { env[k] = v }
        for (k, v) in slotEnvironment(slot) { env[k] = v }
        let log = (attempt.directory as NSString).appendingPathComponent(AttemptFiles.supervisorLogFile)
        let pid = try Posix.spawn(argv, environment: Posix.environment(adding: env),
                                  options: .init(newSession: true, searchPath: false, stdoutPath: log, stderrPath: log))
        let ticks = Posix.startTicks(pid)
        let handle = AttemptHandle(executor: kind, jobID: Posix.token(pid: pid, ticks: ticks), host: Posix.hostName, slot: slot)
        entries[handle] = Entry(pid: pid, ticks: ticks, directory: attempt.directory, ownChild: true)
        busy[slot] = true
        return handle
    }

    public func wait(timeout: Double) throws -> [(AttemptHandle, AttemptOutcome)] {
        let deadline = Posix.monotonic() + max(0, timeout)
        var ended = decided
        decided = []
        for (handle, _) in ended { free(handle.slot) }
        while true {
            for (handle, entry) in entries {
                guard let outcome = finished(entry) else { continue }
                entries[handle] = nil
                free(handle.slot)
                ended.append((handle, outcome))
            }
            let now = Posix.monotonic()
            if !ended.isEmpty || entries.isEmpty || now >= deadline { return ended }
            usleep(useconds_t(max(1_000, min(pollInterval, deadline - now) * 1e6)))
        }
    }

    private func free(_ slot: Int) { if (0..<slots).contains(slot) { busy[slot] = false } }

    /// The outcome once the supervisor has ended; nil while it runs.
    private func finished(_ entry: Entry) -> AttemptOutcome? {
        var status: Int32 = 0
        var exitStatus: Int32?  // the supervisor's own, when it was our child
        if entry.ownChild {
            let r = waitpid(entry.pid, &status, WNOHANG)
            if r == 0 { return nil }
            if r == entry.pid { exitStatus = status }
        }
        if exitStatus == nil {
            switch Posix.liveness(entry.pid, ticks: entry.ticks) {
            case .running: return nil
            case .zombie: _ = waitpid(entry.pid, &status, WNOHANG)  // ours after all (same start ticks)
            case .gone: break
            }
        }
        if var outcome = AttemptFiles.outcome(directory: entry.directory) {
            if outcome.host == nil { outcome.host = Posix.hostName }
            return outcome
        }
        // No exit.json: the supervisor died before writing it (SIGKILL, a crash). Its worker
        // group may live on: kill it, so nothing is left behind.
        killWorkerGroup(directory: entry.directory)
        let supervisorLog = AttemptFiles.stderrTail(directory: entry.directory, file: AttemptFiles.supervisorLogFile, limit: 8192)
        if entry.cancelRequested {
            return AttemptOutcome(failure: .cancelled, detail: "cancelled before the supervisor wrote exit.json", host: Posix.hostName)
        }
        var headline = "the supervisor (pid \(entry.pid)) ended without writing exit.json"
        var reason = FailureReason.lost
        if let s = exitStatus {
            if s & 0x7f == 0 {
                // It exited on its own: it refused its arguments or could not write the directory.
                reason = .submitFailed
                headline += " (it exited with code \((s >> 8) & 0xff))"
            } else {
                headline += " (killed by \(AttemptFiles.signalName(s & 0x7f)))"
            }
        }
        if FileManager.default.fileExists(atPath: (entry.directory as NSString).appendingPathComponent(AttemptFiles.resultFile)) {
            headline += "; result.json exists but without exit.json the worker's exit status is unknown"
        }
        if let supervisorLog { headline += "\nsupervisor.log:\n" + supervisorLog }
        return AttemptOutcome(failure: reason, detail: headline, host: Posix.hostName)
    }

    /// SIGKILL to the worker's process group recorded in worker.pid, unless that pid now
    /// belongs to another process (then the group is gone too: a live group keeps its id).
    private func killWorkerGroup(directory: String) {
        let path = (directory as NSString).appendingPathComponent(AttemptFiles.workerFile)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let (pid, ticks) = Posix.parseToken(text) else { return }
        if let ticks, let now = Posix.startTicks(pid), now != ticks { return }
        kill(-pid, SIGKILL)
    }

    public func cancel(_ handle: AttemptHandle) throws {
        guard var entry = entries[handle] else {
            if decided.contains(where: { $0.0 == handle }) { return }
            throw ExecutorError("local executor: cannot cancel \(handle.jobID): not in flight")
        }
        entry.cancelRequested = true
        entries[handle] = entry
        // The supervisor turns SIGTERM into SIGTERM, grace, SIGKILL for the worker's group.
        if Posix.liveness(entry.pid, ticks: entry.ticks) == .running { kill(entry.pid, SIGTERM) }
    }

    public func reattach(_ attempts: [(AttemptHandle, AttemptSpec)]) throws {
        for (handle, spec) in attempts {
            guard handle.executor == kind else {
                throw ExecutorError("local executor: cannot reattach \(handle.executor) attempt \(handle.jobID) (\(spec.label))")
            }
            if (0..<slots).contains(handle.slot) { busy[handle.slot] = true }
            guard let (pid, ticks) = Posix.parseToken(handle.jobID) else {
                decided.append((handle, .failed(.lost, "\(spec.label): job id \(handle.jobID) is not pid/ticks")))
                continue
            }
            if let host = handle.host, host != Posix.hostName {
                decided.append((handle, .failed(.lost, "\(spec.label): ran on \(host), this coordinator runs on \(Posix.hostName)")))
                continue
            }
            entries[handle] = Entry(pid: pid, ticks: ticks, directory: spec.directory, ownChild: false)
        }
    }
}
