import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file protocol of an attempt directory (docs/executors.md). Workers never touch the
/// ledger: the worker writes `result.json`, the supervisor writes `exit.json`, the executor
/// reads both back with `outcome(directory:)`. Every writer writes a temporary name in the same
/// directory, fsyncs it and renames it into place, so a reader sees a whole file or none.
public enum AttemptFiles {
    public static let resultFile = "result.json"
    public static let exitFile = "exit.json"
    public static let stdoutFile = "stdout.log"
    public static let stderrFile = "stderr.log"
    /// The supervisor's own diagnostics (written by the executor that starts it).
    public static let supervisorLogFile = "supervisor.log"
    /// "pid/ticks" of the worker (its process group id is the pid), written by the supervisor
    /// right after the spawn, so an executor can kill the group when the supervisor is gone.
    public static let workerFile = "worker.pid"
    /// "pid/ticks" of a user's evaluator that the worker runs in a process group of its own
    /// (module Evaluation, docs/evaluators.md), written while it runs. The supervisor signals
    /// that group along with the worker's, so a timeout, a cancellation or a killed worker
    /// never leaves the evaluator running.
    public static let evaluatorFile = "evaluator.pid"
    /// How much of the end of stderr a failure's `detail` keeps.
    public static let stderrTailBytes = 64 * 1024

    /// What the worker reports: a value (nil: none), sub-scores, or an error. A worker that runs
    /// a program of its own (the command objective's evaluator) also reports why that failed
    /// (`reason`) and how it ended (`exitCode`, `signal`: the evaluator's, not the worker's).
    public struct Result: Sendable, Equatable {
        public var value: Double?
        public var extras: [String: Double]?
        public var error: String?
        public var reason: FailureReason?
        public var exitCode: Int32?
        public var signal: Int32?
        public init(value: Double? = nil, extras: [String: Double]? = nil, error: String? = nil,
                    reason: FailureReason? = nil, exitCode: Int32? = nil, signal: Int32? = nil) {
            self.value = value; self.extras = extras; self.error = error
            self.reason = reason; self.exitCode = exitCode; self.signal = signal
        }
    }

    /// How the worker process ended, as the supervisor saw it.
    public struct Exit: Codable, Sendable, Equatable {
        /// The exit status when the worker exited normally.
        public var exitCode: Int32?
        /// The signal that killed it.
        public var signal: Int32?
        /// The supervisor stopped it because it ran past its timeout.
        public var timedOut: Bool
        /// The supervisor stopped it because the supervisor got SIGTERM or SIGINT.
        public var cancelled: Bool
        /// Seconds since 1970.
        public var started: Double
        public var finished: Double
        public var host: String?
        /// The worker's pid (also its process group id).
        public var pid: Int32?
        /// Why the worker could not be started, if it could not.
        public var error: String?

        public init(exitCode: Int32? = nil, signal: Int32? = nil, timedOut: Bool = false, cancelled: Bool = false,
                    started: Double, finished: Double, host: String? = nil, pid: Int32? = nil, error: String? = nil) {
            self.exitCode = exitCode; self.signal = signal; self.timedOut = timedOut; self.cancelled = cancelled
            self.started = started; self.finished = finished; self.host = host; self.pid = pid; self.error = error
        }

        enum CodingKeys: String, CodingKey {
            case exitCode = "exit_code", signal, timedOut = "timed_out", cancelled, started, finished, host, pid, error
        }

        /// Every field but `error` is written, absent ones as null, as earlier versions did.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(exitCode, forKey: .exitCode)
            try c.encode(signal, forKey: .signal)
            try c.encode(timedOut, forKey: .timedOut)
            try c.encode(cancelled, forKey: .cancelled)
            try c.encode(started, forKey: .started)
            try c.encode(finished, forKey: .finished)
            try c.encode(host, forKey: .host)
            try c.encode(pid, forKey: .pid)
            try c.encodeIfPresent(error, forKey: .error)
        }
    }

    /// Why a file could not be read.
    public enum ReadError: Error, Equatable, CustomStringConvertible {
        case missing(String)
        case bad(String)
        public var description: String {
            switch self { case .missing(let s), .bad(let s): return s }
        }
    }

    // MARK: Writing

    /// Writes `data` to `path` atomically: a temporary name in the same directory, fsync,
    /// rename, fsync of the directory (so the rename itself survives a machine crash).
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory as NSString).appendingPathComponent(".\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw posixError("cannot create \(temporary)") }
        var ok = false
        defer { if !ok { unlink(temporary) } }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    let error = posixError("cannot write \(temporary)"); close(fd); throw error
                }
                offset += n
            }
        }
        if fsync(fd) != 0 { let error = posixError("cannot fsync \(temporary)"); close(fd); throw error }
        close(fd)
        guard rename(temporary, path) == 0 else { throw posixError("cannot rename \(temporary) to \(path)") }
        ok = true
        let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        if dirFD >= 0 { _ = fsync(dirFD); close(dirFD) }
    }

    /// `result.json` as a worker writes it (JSONEncoder, sorted keys). Non-finite values and
    /// extras are written as null (JSON has no NaN); doubles are written in their shortest
    /// round-trip form, so they read back bit for bit.
    public static func encode(_ result: Result) -> Data {
        func finite(_ x: Double?) -> Double? { x.flatMap { $0.isFinite ? $0 : nil } }
        let wire = WireResult(value: finite(result.value), extras: result.extras?.mapValues(finite), error: result.error,
                              reason: result.reason?.rawValue, exit_code: result.exitCode, signal: result.signal)
        return encodeLine(wire)
    }

    /// `exit.json` as the supervisor writes it (JSONEncoder, sorted keys; absent fields are null).
    public static func encode(_ exit: Exit) -> Data { encodeLine(exit) }

    /// One JSON object and a newline. Only finite doubles reach here, so encoding cannot fail.
    private static func encodeLine(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ((try? encoder.encode(value)) ?? Data("{}".utf8)) + Data("\n".utf8)
    }

    /// Writes `result.json` into `directory` (for workers written in Swift: `trial eval`).
    public static func writeResult(_ result: Result, directory: String) throws {
        try writeAtomically(encode(result), to: (directory as NSString).appendingPathComponent(resultFile))
    }

    /// Writes `exit.json` into `directory` (the supervisor).
    public static func writeExit(_ exit: Exit, directory: String) throws {
        try writeAtomically(encode(exit), to: (directory as NSString).appendingPathComponent(exitFile))
    }

    // MARK: Reading

    /// `exit.json`, nil while it is absent.
    public static func readExit(directory: String) throws(ReadError) -> Exit? {
        let path = (directory as NSString).appendingPathComponent(exitFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) { throw .bad("\(path): cannot read") }
            return nil
        }
        do {
            return try JSONDecoder().decode(Exit.self, from: data)
        } catch {
            throw .bad("\(path): not a valid exit record (\(error))")
        }
    }

    /// `result.json`: `.missing` when absent, `.bad` when it is not UTF-8, not JSON, not an
    /// object, or a field has the wrong type. `value` may be null (or NaN/Infinity as Python's
    /// json module writes them): the caller decides what a missing value means.
    public static func readResult(directory: String) throws(ReadError) -> Result {
        let path = (directory as NSString).appendingPathComponent(resultFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) { throw .bad("\(path): cannot read") }
            throw .missing("\(path): no result file (the worker must write it before exiting 0)")
        }
        return try decodeResult(data, path: path)
    }

    public static func decodeResult(_ data: Data, path: String = resultFile) throws(ReadError) -> Result {
        // Validate UTF-8 first: a decoder that replaces bad bytes would accept garbage.
        guard String(data: data, encoding: .utf8) != nil else { throw .bad("\(path): not valid UTF-8") }
        let decoder = JSONDecoder()
        // NaN, Infinity, -Infinity (Python's json.dumps writes them) parse, and become non_finite.
        decoder.allowsJSON5 = true
        do {
            let wire = try decoder.decode(WireResult.self, from: data)
            var extras: [String: Double]?
            if let raw = wire.extras {
                extras = [:]
                for (k, v) in raw { if let v { extras![k] = v } }
            }
            var reason: FailureReason?
            if let r = wire.reason {
                guard let known = FailureReason(rawValue: r) else { throw ReadError.bad("\(path): unknown failure reason '\(r)'") }
                reason = known
            }
            return Result(value: wire.value, extras: extras, error: wire.error, reason: reason,
                          exitCode: wire.exit_code, signal: wire.signal)
        } catch let error as ReadError {
            throw error
        } catch {
            throw .bad("\(path): not a result object {\"value\": number|null, \"extras\": {name: number}, \"error\": string} (\(briefly(error)))")
        }
    }

    private struct WireResult: Codable {
        var value: Double?
        var extras: [String: Double?]?
        var error: String?
        var reason: String?
        var exit_code: Int32?
        var signal: Int32?

        /// `value` is always written (null when there is none); other absent fields are left out.
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(value, forKey: .value)
            try c.encodeIfPresent(extras, forKey: .extras)
            try c.encodeIfPresent(error, forKey: .error)
            try c.encodeIfPresent(reason, forKey: .reason)
            try c.encodeIfPresent(exit_code, forKey: .exit_code)
            try c.encodeIfPresent(signal, forKey: .signal)
        }
    }

    /// The last `limit` bytes of `stderr.log` (lossily decoded), nil when empty or absent.
    public static func stderrTail(directory: String, file: String = stderrFile, limit: Int = stderrTailBytes) -> String? {
        let path = (directory as NSString).appendingPathComponent(file)
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), size > 0 else { return nil }
        let start = size > UInt64(limit) ? size - UInt64(limit) : 0
        guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd(), !data.isEmpty else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        return start > 0 ? "…" + text : text
    }

    /// How the attempt in `directory` ended; nil while `exit.json` is absent. A value only when
    /// the worker exited 0, was neither timed out nor cancelled, and `result.json` holds a
    /// finite number. Otherwise the first that applies: cancelled, timeout, signal, exit code,
    /// start failure, missing file, bad JSON, objective error, non-finite.
    public static func outcome(directory: String) -> AttemptOutcome? {
        let exit: Exit
        do {
            guard let e = try readExit(directory: directory) else { return nil }
            exit = e
        } catch {
            return failure(.badJSON, error.description, directory: directory)
        }
        var base = AttemptOutcome(exitCode: exit.exitCode, signal: exit.signal, host: exit.host,
                                  seconds: max(0, exit.finished - exit.started))
        func fail(_ reason: FailureReason, _ headline: String) -> AttemptOutcome {
            base.failure = reason
            base.detail = withTail(headline, directory: directory)
            return base
        }
        if exit.cancelled { return fail(.cancelled, "cancelled (the supervisor got SIGTERM or SIGINT)") }
        if exit.timedOut { return fail(.timeout, "ran past its timeout" + endedHow(exit)) }
        if let signal = exit.signal { return fail(.signal, "killed by signal \(signal) (\(signalName(signal)))") }
        guard let code = exit.exitCode else {
            return fail(.exitCode, exit.error ?? "the worker did not start")
        }
        if code != 0 {
            var headline = "exited with code \(code)"
            if let error = exit.error { headline += ": \(error)" }
            if let r = try? readResult(directory: directory), let e = r.error { headline += "; result.json error: \(e)" }
            return fail(.exitCode, headline)
        }
        let result: Result
        do {
            result = try readResult(directory: directory)
        } catch {
            switch error {
            case .missing(let s): return fail(.missingFile, s)
            case .bad(let s): return fail(.badJSON, s)
            }
        }
        base.extras = result.extras
        if let reason = result.reason {
            // The worker's own program (an evaluator) failed: its exit, not the worker's.
            base.exitCode = result.exitCode
            base.signal = result.signal
            return fail(reason, result.error ?? reason.rawValue)
        }
        if let error = result.error { return fail(.objectiveError, error) }
        guard let value = result.value, value.isFinite else {
            return fail(.nonFinite, "result.json value is \(result.value.map { "\($0)" } ?? "null")")
        }
        base.value = value
        return base
    }

    static func failure(_ reason: FailureReason, _ headline: String, directory: String) -> AttemptOutcome {
        AttemptOutcome(failure: reason, detail: withTail(headline, directory: directory))
    }

    /// The headline, then the end of stderr if there is any.
    static func withTail(_ headline: String, directory: String) -> String {
        guard let tail = stderrTail(directory: directory) else { return headline }
        return headline + "\nstderr:\n" + tail
    }

    private static func endedHow(_ exit: Exit) -> String {
        if let s = exit.signal { return "; stopped by signal \(s) (\(signalName(s)))" }
        if let c = exit.exitCode { return "; then exited with code \(c)" }
        return ""
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGKILL: return "SIGKILL"
        case SIGINT: return "SIGINT"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGBUS: return "SIGBUS"
        case SIGFPE: return "SIGFPE"
        case SIGILL: return "SIGILL"
        case SIGHUP: return "SIGHUP"
        case SIGPIPE: return "SIGPIPE"
        case SIGQUIT: return "SIGQUIT"
        default: return "signal \(signal)"
        }
    }

    // MARK: JSON errors

    private static func briefly(_ error: Error) -> String {
        if case DecodingError.typeMismatch(_, let c) = error { return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)" }
        if case DecodingError.dataCorrupted(let c) = error { return c.debugDescription }
        return "\(error)"
    }

    static func posixError(_ what: String) -> Error {
        let code = errno
        return ExecutorError("\(what): \(String(cString: strerror(code)))")
    }
}

/// An executor failure with a message that names what failed.
public struct ExecutorError: Error, LocalizedError, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var errorDescription: String? { message }
    public var description: String { message }
}
