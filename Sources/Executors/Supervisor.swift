import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The write end of the supervisor's self-pipe: its signal handlers write the signal number
/// there, the supervisor's loop polls the read end (safe whatever thread takes the signal).
nonisolated(unsafe) private var supervisorWakeFD: Int32 = -1

/// `mergetune trial supervise`: runs one worker in its own process group with stdin from
/// /dev/null and stdout/stderr straight into the attempt directory's log files (no pipes, so a
/// grandchild that keeps them open can never hang it), enforces the timeout (SIGTERM to the
/// group, SIGKILL after the grace period), turns its own SIGTERM/SIGINT into a cancellation,
/// kills whatever is left of the group once the worker exits, and writes `exit.json`.
public struct Supervisor: Sendable {
    public var directory: String
    public var command: [String]
    /// Seconds the worker may run; nil: no limit.
    public var timeout: Double?
    /// Seconds between SIGTERM and SIGKILL.
    public var grace: Double
    /// Added to the supervisor's own environment for the worker.
    public var environment: [String: String]

    public static let defaultGrace = 10.0
    /// Set for the worker: the attempt directory, and the path its result.json goes to.
    public static let directoryVariable = "MERGETUNE_ATTEMPT_DIR"
    public static let resultVariable = "MERGETUNE_RESULT"

    public init(directory: String, command: [String], timeout: Double? = nil, grace: Double = Supervisor.defaultGrace,
                environment: [String: String] = [:]) {
        // Absolute, so the worker's $MERGETUNE_RESULT holds wherever it changes directory to.
        self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.command = command; self.timeout = timeout
        self.grace = grace; self.environment = environment
    }

    /// Runs the worker to its end and writes `exit.json` (also when the worker cannot be
    /// started: then `exit_code` 127 and `error`). Throws only when `exit.json` cannot be
    /// written or the directory is unusable.
    @discardableResult
    public func run() throws -> AttemptFiles.Exit {
        guard !command.isEmpty else { throw ExecutorError("trial supervise: no worker command after --") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw ExecutorError("trial supervise: --dir \(directory) is not a directory (the coordinator creates it)")
        }
        if let timeout, !(timeout > 0) { throw ExecutorError("trial supervise: --timeout must be > 0, got \(timeout)") }
        guard grace >= 0 else { throw ExecutorError("trial supervise: --grace must be >= 0, got \(grace)") }

        // Signals first, so a SIGTERM that arrives during the spawn is not lost.
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw AttemptFiles.posixError("trial supervise: pipe") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        supervisorWakeFD = fds[1]
        let handler: @convention(c) (Int32) -> Void = { sig in
            var byte = UInt8(truncatingIfNeeded: sig)
            _ = write(supervisorWakeFD, &byte, 1)
        }
        for sig in [SIGTERM, SIGINT, SIGCHLD, SIGHUP] { _ = signal(sig, handler) }
        defer {
            for sig in [SIGTERM, SIGINT, SIGCHLD, SIGHUP] { _ = signal(sig, SIG_DFL) }
            close(fds[0]); close(fds[1]); supervisorWakeFD = -1
        }

        let started = Posix.now()
        let host = Posix.hostName
        let dir = directory as NSString
        let group: ProcessGroup
        do {
            var env = environment
            env[Supervisor.directoryVariable] = directory
            env[Supervisor.resultVariable] = dir.appendingPathComponent(AttemptFiles.resultFile)
            group = try ProcessGroup(command, environment: Posix.environment(adding: env),
                                     stdoutPath: dir.appendingPathComponent(AttemptFiles.stdoutFile),
                                     stderrPath: dir.appendingPathComponent(AttemptFiles.stderrFile))
        } catch {
            let exit = AttemptFiles.Exit(exitCode: 127, started: started, finished: Posix.now(), host: host,
                                         error: "\(error)")
            try AttemptFiles.writeExit(exit, directory: directory)
            return exit
        }
        let pid = group.pid
        // The group id is the worker's pid; recorded so an executor can still kill the group
        // should this supervisor be killed with SIGKILL.
        try? AttemptFiles.writeAtomically(Data((Posix.token(pid: pid, ticks: Posix.startTicks(pid)) + "\n").utf8),
                                          to: dir.appendingPathComponent(AttemptFiles.workerFile))

        // Our own SIGTERM/SIGINT/SIGHUP (through the self-pipe) stop the worker as a
        // cancellation, unless its timeout came first.
        var cancelled = false
        // A user's evaluator that the worker runs in a group of its own gets the same signals
        // (AttemptFiles.evaluatorFile), and SIGKILL once the worker has ended.
        let evaluatorFile = dir.appendingPathComponent(AttemptFiles.evaluatorFile)
        let passOn: (Int32) -> Void = { sig in
            guard let text = try? String(contentsOfFile: evaluatorFile, encoding: .utf8),
                  let (pgid, ticks) = Posix.parseToken(text), pgid > 1, pgid != pid,
                  Posix.liveness(pgid, ticks: ticks) != .gone else { return }
            kill(-pgid, sig)
        }
        let ending = group.wait(timeout: timeout, grace: grace, wakeFD: fds[0], check: { timedOut in
            var stop = false
            var buffer = [UInt8](repeating: 0, count: 64)
            while true {
                let n = read(fds[0], &buffer, buffer.count)
                if n <= 0 { break }
                for sig in buffer[0..<n] where Int32(sig) == SIGTERM || Int32(sig) == SIGINT || Int32(sig) == SIGHUP {
                    if !timedOut { cancelled = true }
                    stop = true
                }
            }
            return stop
        }, onSignal: passOn)
        let exit = AttemptFiles.Exit(exitCode: ending.exitCode, signal: ending.signal, timedOut: ending.timedOut,
                                     cancelled: cancelled, started: started, finished: Posix.now(), host: host, pid: pid)
        try AttemptFiles.writeExit(exit, directory: directory)
        return exit
    }
}
