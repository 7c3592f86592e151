import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process plumbing the supervisor and the local executor share: posix_spawn with file
/// redirections, process groups and sessions, and /proc lookups.
package enum Posix {
    /// This host's name (gethostname, not ProcessInfo.hostName, which may wait on DNS).
    package static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// Seconds on the monotonic clock (deadlines: immune to wall-clock steps).
    package static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    package static func now() -> Double { Date().timeIntervalSince1970 }

    /// The fields of /proc/PID/stat after "(comm)" (state first, start ticks 20th); nil when
    /// there is no such process.
    package static func procStat(_ pid: pid_t) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    package static func startTicks(_ pid: pid_t) -> UInt64? {
        guard let stat = procStat(pid), stat.count > 19 else { return nil }
        return UInt64(stat[19])
    }

    package enum Liveness { case running, zombie, gone }

    /// Whether the process `pid` that started at `ticks` still runs. A pid now used by a
    /// process with other start ticks is `gone`: pids are reused.
    package static func liveness(_ pid: pid_t, ticks: UInt64?) -> Liveness {
        guard let stat = procStat(pid), stat.count > 19 else { return .gone }
        if let ticks, let now = UInt64(stat[19]), now != ticks { return .gone }
        if stat[0] == "Z" || stat[0] == "X" { return .zombie }
        return .running
    }

    /// "pid/ticks" and back.
    package static func token(pid: pid_t, ticks: UInt64?) -> String { "\(pid)/\(ticks ?? 0)" }
    package static func parseToken(_ token: String) -> (pid: pid_t, ticks: UInt64?)? {
        let parts = token.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "/")
        guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0, let ticks = UInt64(parts[1]) else { return nil }
        return (pid, ticks == 0 ? nil : ticks)
    }

    /// The environment of this process with `additions` on top, as "K=V" strings.
    package static func environment(adding additions: [String: String]) -> [String] {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in additions { env[k] = v }
        return env.keys.sorted().map { "\($0)=\(env[$0]!)" }
    }

    #if os(Linux)
    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), looked up at run time because
    /// the headers declare it only under _GNU_SOURCE.
    package typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    package static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
    #endif

    package struct SpawnOptions {
        /// Put the child in a new process group whose id is its pid.
        package var newProcessGroup = false
        /// Put the child in a new session (implies a new group): it outlives our own session.
        package var newSession = false
        /// Search PATH for argv[0] when it has no '/'.
        package var searchPath = true
        package var stdinPath = "/dev/null"
        package var stdoutPath: String
        package var stderrPath: String
        /// Truncate the output files instead of appending (a fresh log per attempt).
        package var truncate = false
        /// The child's working directory (nil: ours).
        package var workingDirectory: String?

        package init(newProcessGroup: Bool = false, newSession: Bool = false, searchPath: Bool = true,
                     stdinPath: String = "/dev/null", stdoutPath: String, stderrPath: String,
                     truncate: Bool = false, workingDirectory: String? = nil) {
            self.newProcessGroup = newProcessGroup; self.newSession = newSession; self.searchPath = searchPath
            self.stdinPath = stdinPath; self.stdoutPath = stdoutPath; self.stderrPath = stderrPath
            self.truncate = truncate; self.workingDirectory = workingDirectory
        }
    }

    #if os(Linux)
    /// glibc's posix_spawn_file_actions_addchdir_np (2.29+), looked up like addclosefrom.
    package typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    package static let addChdir: AddChdir? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()
    #endif

    /// Starts `argv` with stdin, stdout and stderr on files (never pipes), every other
    /// descriptor closed, all signals at their defaults and none blocked.
    package static func spawn(_ argv: [String], environment: [String], options: SpawnOptions) throws -> pid_t {
        guard let program = argv.first, !program.isEmpty else { throw ExecutorError("empty command") }
        let stdinFD = open(options.stdinPath, O_RDONLY | O_CLOEXEC)
        guard stdinFD >= 0 else { throw AttemptFiles.posixError("cannot open \(options.stdinPath)") }
        defer { close(stdinFD) }
        let mode = O_WRONLY | O_CREAT | O_CLOEXEC | (options.truncate ? O_TRUNC : O_APPEND)
        let outFD = open(options.stdoutPath, mode, 0o644)
        guard outFD >= 0 else { throw AttemptFiles.posixError("cannot open \(options.stdoutPath)") }
        defer { close(outFD) }
        let errFD = options.stderrPath == options.stdoutPath ? dup(outFD)
            : open(options.stderrPath, mode, 0o644)
        guard errFD >= 0 else { throw AttemptFiles.posixError("cannot open \(options.stderrPath)") }
        defer { close(errFD) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinFD, 0)
        posix_spawn_file_actions_adddup2(&actions, outFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        #if os(Linux)
        // Nothing else leaks into the child (a ledger descriptor, a test runner's pipes).
        if let closeFrom = Posix.addCloseFrom { _ = closeFrom(&actions, 3) }
        if let directory = options.workingDirectory {
            guard let chdir = Posix.addChdir else {
                throw ExecutorError("cannot start \(program) in \(directory): this C library has no posix_spawn_file_actions_addchdir_np (glibc 2.29+)")
            }
            _ = chdir(&actions, directory)
        }
        #else
        if let directory = options.workingDirectory {
            throw ExecutorError("cannot start \(program) in \(directory): a working directory is supported on Linux only")
        }
        #endif

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if options.newSession {
            #if os(Linux)
            flags |= 0x80  // POSIX_SPAWN_SETSID (glibc ≥ 2.26; hidden behind _GNU_SOURCE in the headers)
            #endif
        } else if options.newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attr, 0)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL); sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attr, &all)

        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = options.searchPath && !program.contains("/")
            ? posix_spawnp(&pid, program, &actions, &attr, &cArgs, &cEnv)
            : posix_spawn(&pid, program, &actions, &attr, &cArgs, &cEnv)
        guard rc == 0 else { throw ExecutorError("cannot start \(program): \(String(cString: strerror(rc)))") }
        return pid
    }
}
