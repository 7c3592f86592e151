import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One child process in its own process group, as both the attempt supervisor
/// (`mergetune trial supervise`) and a user's evaluator (module Evaluation) run it: stdin from
/// /dev/null, stdout and stderr straight into files (no pipes, so a grandchild that keeps them
/// open can never hang the wait, and nothing but the file's tail is ever read into memory), a
/// timeout enforced by SIGTERM to the group then SIGKILL after a grace period, and whatever is
/// left of the group killed once the child exits (docs/executors.md, docs/evaluators.md).
package struct ProcessGroup {
    /// The child's pid, also its process-group id.
    package let pid: pid_t

    /// How the child ended.
    package struct Ending: Sendable, Equatable {
        /// The exit status when it exited normally (nil with `signal` nil: the status was lost,
        /// another part of the process reaped the child).
        package var exitCode: Int32?
        /// The signal that killed it.
        package var signal: Int32?
        /// It ran past the timeout and was stopped (whatever it did afterwards).
        package var timedOut: Bool
        /// The caller's `check` asked for it to be stopped (a cancellation, an output limit).
        package var stopRequested: Bool
        /// Monotonic seconds from the spawn to the reaping.
        package var seconds: Double
    }

    /// Spawns `argv` (PATH searched for a bare name) in a new process group.
    package init(_ argv: [String], environment: [String], stdoutPath: String, stderrPath: String,
                 truncate: Bool = false, workingDirectory: String? = nil) throws {
        begin = Posix.monotonic()
        pid = try Posix.spawn(argv, environment: environment, options: .init(
            newProcessGroup: true, stdoutPath: stdoutPath, stderrPath: stderrPath,
            truncate: truncate, workingDirectory: workingDirectory))
    }

    private let begin: Double

    /// Waits for the child to exit. On `timeout` (seconds from the spawn) or when `check`
    /// returns true, SIGTERM goes to the group, and SIGKILL `grace` seconds later if the child
    /// is still there. `check(timedOut)` runs at every wake-up: when `wakeFD` (a non-blocking
    /// self-pipe, e.g. written by signal handlers) becomes readable, else on a short poll
    /// interval. Once the child has exited, the rest of its group is SIGKILLed, then the child
    /// is reaped. Its exit is looked at with WNOWAIT first: while it is an unreaped zombie its
    /// pid, and so the group id, cannot be reused, so the group kill cannot hit a stranger.
    /// `onSignal` runs after each signal sent to the group (SIGTERM, SIGKILL), e.g. to pass
    /// it on to groups of the child's own.
    package func wait(timeout: Double?, grace: Double, wakeFD: Int32? = nil,
                      check: (_ timedOut: Bool) -> Bool = { _ in false },
                      onSignal: (Int32) -> Void = { _ in }) -> Ending {
        var timedOut = false, stopRequested = false, reapedElsewhere = false
        var killAt: Double?  // monotonic time of the SIGKILL once SIGTERM went out
        func signalGroup(_ sig: Int32) { kill(-pid, sig); onSignal(sig) }
        func stop() {
            guard killAt == nil else { return }
            signalGroup(SIGTERM)
            killAt = Posix.monotonic() + grace
        }
        // Without a wake-up pipe: poll from 2 ms up to 50 ms, so short children end fast and
        // long ones cost little.
        var pollStep = 0.002
        while true {
            var info = siginfo_t()
            let r = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if r == 0, info._sifields._sigchld.si_pid == pid { break }
            // Reaped by someone else (a waitpid(-1) elsewhere in the process): its status is lost.
            if r < 0, errno == ECHILD { reapedElsewhere = true; break }
            let now = Posix.monotonic()
            if let timeout, !timedOut, !stopRequested, now - begin >= timeout { timedOut = true; stop() }
            if let killAt, now >= killAt { signalGroup(SIGKILL) }
            if check(timedOut) { if !timedOut { stopRequested = true }; stop() }
            var wakeAt = now + (wakeFD == nil ? pollStep : 1.0)  // 1 s: a fallback should a SIGCHLD be missed
            pollStep = min(0.05, pollStep * 2)
            if let timeout, !timedOut, !stopRequested { wakeAt = min(wakeAt, begin + timeout) }
            if let killAt, now < killAt { wakeAt = min(wakeAt, killAt) }
            let ms = Int32(max(1, min(1000, ((wakeAt - now) * 1000).rounded(.up))))
            if let wakeFD {
                var pfd = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, ms)
            } else {
                _ = poll(nil, 0, ms)
            }
        }
        // Whatever the child left behind in its group goes with it.
        signalGroup(SIGKILL)
        var ending = Ending(timedOut: timedOut, stopRequested: stopRequested, seconds: Posix.monotonic() - begin)
        if reapedElsewhere { return ending }  // neither exitCode nor signal: unknown
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        ending.seconds = Posix.monotonic() - begin
        // WIFEXITED / WEXITSTATUS / WTERMSIG by hand (the macros are not imported).
        if status & 0x7f == 0 { ending.exitCode = (status >> 8) & 0xff } else { ending.signal = status & 0x7f }
        return ending
    }
}
