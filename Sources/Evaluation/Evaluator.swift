import Executors
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request to stop running evaluators (the worker got SIGTERM from its supervisor, the
/// coordinator got SIGINT): each running `Evaluator.run` stops its evaluator's process group —
/// which is not the caller's group, so a signal to the caller alone would not reach it.
public final class Cancellation: @unchecked Sendable {
    /// The process's own: set by the worker's and the coordinator's signal handlers.
    public static let process = Cancellation()
    private let lock = NSLock()
    private var cancelled = false
    public init() {}
    public func cancel() { lock.lock(); cancelled = true; lock.unlock() }
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }
    /// Seconds between SIGTERM and SIGKILL of a cancelled evaluator: short, so that it is gone
    /// before the supervisor's own grace period (10 s) kills the worker.
    public static let grace = 4.0
}

/// Runs a user's evaluator for one attempt and reads its score (docs/evaluators.md).
public enum Evaluator {
    public static let stdoutFile = "evaluator.stdout.log"
    public static let stderrFile = "evaluator.stderr.log"
    /// How much of the end of stdout is read for the score, and of stderr kept for `detail`.
    public static let defaultTailBytes = 64 * 1024
    /// A JSON file (json_file, lm-eval, lmms-eval) larger than this is `output_too_large`.
    public static let maxJSONBytes = 256 << 20

    /// Runs the command with cwd and logs in `directory` (evaluator.stdout.log,
    /// evaluator.stderr.log, recreated per attempt), reads the score per `score` (paths relative
    /// to / under `directory`), and returns the outcome: value + extras (every recorded metric,
    /// raw, and the raw score under "score") or a failure reason + detail (the detail ends with
    /// the last `tailBytes` of stderr). Precedence: timeout > output_too_large (stopped while
    /// running) > signal > exit_code (non-zero) > reading the score.
    public static func run(_ command: EvaluatorCommand, score: ScoreSpec, directory: String,
                           tailBytes: Int = defaultTailBytes, cancellation: Cancellation = .process) -> AttemptOutcome {
        let dir = URL(fileURLWithPath: directory).standardizedFileURL.path
        let host = Posix.hostName
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            return AttemptOutcome(failure: .exitCode, detail: "evaluator: the attempt directory \(dir) does not exist (the coordinator creates it)",
                                  exitCode: 127, host: host)
        }
        guard !command.argv.isEmpty, !command.argv[0].isEmpty else {
            return AttemptOutcome(failure: .exitCode, detail: "evaluator: empty command", exitCode: 127, host: host)
        }
        // What was there before, so that a file left by an earlier attempt is never read as this one's.
        let before = ScoreReader.snapshot(score, directory: dir)
        let stdoutPath = (dir as NSString).appendingPathComponent(stdoutFile)
        let stderrPath = (dir as NSString).appendingPathComponent(stderrFile)
        let group: ProcessGroup
        do {
            group = try ProcessGroup(command.argv, environment: Posix.environment(adding: command.environment),
                                     stdoutPath: stdoutPath, stderrPath: stderrPath, truncate: true, workingDirectory: dir)
        } catch {
            return AttemptOutcome(failure: .exitCode, detail: withTail("evaluator: \(error)", stderrPath, tailBytes),
                                  exitCode: 127, host: host)
        }
        // Under a supervisor (`mergetune trial supervise`), tell it our group: it signals the
        // group with the worker's, so a timeout, a cancellation or a killed worker never leaves
        // the evaluator behind. Removed once the group is gone.
        let attemptDir = ProcessInfo.processInfo.environment[Supervisor.directoryVariable] ?? dir
        let pidFile = (attemptDir as NSString).appendingPathComponent(AttemptFiles.evaluatorFile)
        try? AttemptFiles.writeAtomically(Data((Posix.token(pid: group.pid, ticks: Posix.startTicks(group.pid)) + "\n").utf8), to: pidFile)
        let limit = command.maxStdoutBytes
        var cancelledAt: Double?
        let ending = group.wait(timeout: command.timeout, grace: command.grace, check: { _ in
            if cancellation.isCancelled {
                // SIGTERM goes out now (returning true); SIGKILL after the short cancellation grace.
                let now = Posix.monotonic()
                if let t = cancelledAt, now - t >= Cancellation.grace { kill(-group.pid, SIGKILL) }
                if cancelledAt == nil { cancelledAt = now }
                return true
            }
            return fileSize(stdoutPath) > Int64(limit)
        })
        unlink(pidFile)
        let cancelled = cancelledAt != nil
        var base = AttemptOutcome(exitCode: ending.exitCode, signal: ending.signal, host: host, seconds: ending.seconds)
        func fail(_ reason: FailureReason, _ headline: String) -> AttemptOutcome {
            base.failure = reason
            base.detail = withTail(headline, stderrPath, tailBytes)
            return base
        }
        if ending.timedOut {
            var how = ""
            if let s = ending.signal { how = "; stopped by signal \(s)" } else if let c = ending.exitCode { how = "; then exited with code \(c)" }
            return fail(.timeout, "evaluator ran past its timeout of \(command.timeout.map { "\($0)" } ?? "?") s\(how)")
        }
        if ending.stopRequested && cancelled {
            return fail(.cancelled, "evaluator cancelled (the study was stopped or the attempt's supervisor got SIGTERM)")
        }
        if ending.stopRequested {
            return fail(.outputTooLarge, "evaluator wrote more than \(limit) bytes to stdout (\(stdoutFile)); stopped")
        }
        if let s = ending.signal { return fail(.signal, "evaluator was killed by signal \(s)\(signalName(s))") }
        if let c = ending.exitCode, c != 0 { return fail(.exitCode, "evaluator exited with code \(c)") }
        if ending.exitCode == nil {
            return fail(.exitCode, "evaluator: its exit status was lost (something else in this process reaped it)")
        }
        let read = ScoreReader.read(score, stdoutPath: stdoutPath, directory: dir, tailBytes: tailBytes,
                                    maxStdoutBytes: limit, before: before)
        switch read {
        case .success(let scored):
            base.value = scored.value
            base.extras = scored.extras
            base.detail = scored.note
            return base
        case .failure(let f):
            return fail(f.reason, f.message)
        }
    }

    /// The parsing alone (for tests and for re-reading a finished attempt): every results file
    /// counts, whenever it was written.
    public static func readScore(_ score: ScoreSpec, stdoutPath: String, directory: String) -> AttemptOutcome {
        let dir = URL(fileURLWithPath: directory).standardizedFileURL.path
        switch ScoreReader.read(score, stdoutPath: stdoutPath, directory: dir, tailBytes: defaultTailBytes,
                                maxStdoutBytes: EvaluatorCommand.defaultMaxStdoutBytes, before: [:]) {
        case .success(let s): return AttemptOutcome(value: s.value, extras: s.extras, detail: s.note)
        case .failure(let f): return AttemptOutcome(failure: f.reason, detail: f.message)
        }
    }

    /// A message when `argv` passes lm-eval's (or lmms-eval's) response cache `--use_cache PATH`
    /// with a PATH that does not contain `{trial_dir}`: the cache is keyed by the request alone,
    /// not the model, so a cache shared across trials would hand one merge's answers to the
    /// next. nil when there is no such flag or every use is per trial. Arguments are also
    /// scanned word by word, for a command given to a shell as one string. For an argv that is
    /// already expanded, pass the trial's directory: a path under it is per trial too.
    public static func lmEvalCacheWarning(argv: [String], trialDirectory: String? = nil) -> String? {
        let words = argv.flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init) }
        var sawLMMS = false
        var shared: [String] = []
        var i = 0
        while i < words.count {
            let w = words[i]
            if w.contains("lmms-eval") || w.contains("lmms_eval") { sawLMMS = true }
            var path: String?
            if w == "--use_cache" || (sawLMMS && w == "-c") {
                path = i + 1 < words.count ? words[i + 1] : ""
                i += 1
            } else if w.hasPrefix("--use_cache=") {
                path = String(w.dropFirst("--use_cache=".count))
            }
            if let path, !path.contains("{trial_dir}"), !(trialDirectory.map { !$0.isEmpty && path.contains($0) } ?? false) {
                shared.append(path)
            }
            i += 1
        }
        guard !shared.isEmpty else { return nil }
        let list = shared.map { "`\($0)`" }.joined(separator: ", ")
        return "command: --use_cache \(list) would share lm-eval's response cache across trials; its cache key is the request alone, "
            + "not the model, so later merges would get earlier merges' answers. Drop --use_cache, or put the cache under the trial: "
            + "--use_cache {trial_dir}/lm_cache"
    }

    // MARK: helpers

    static func withTail(_ headline: String, _ stderrPath: String, _ limit: Int) -> String {
        let dir = (stderrPath as NSString).deletingLastPathComponent
        let file = (stderrPath as NSString).lastPathComponent
        guard let tail = AttemptFiles.stderrTail(directory: dir, file: file, limit: limit) else { return headline }
        return headline + "\nstderr:\n" + tail
    }

    static func fileSize(_ path: String) -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { return 0 }
        return Int64(st.st_size)
    }

    private static func signalName(_ s: Int32) -> String {
        switch s {
        case SIGTERM: return " (SIGTERM)"
        case SIGKILL: return " (SIGKILL)"
        case SIGINT: return " (SIGINT)"
        case SIGSEGV: return " (SIGSEGV)"
        case SIGABRT: return " (SIGABRT)"
        case SIGBUS: return " (SIGBUS)"
        case SIGHUP: return " (SIGHUP)"
        case SIGPIPE: return " (SIGPIPE)"
        default: return ""
        }
    }
}
