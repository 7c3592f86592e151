import Foundation
import Ledger
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress of a study on stderr: on a terminal one bar redrawn in place (runs done,
/// evaluations, elapsed, ETA); otherwise a plain line per finished run.
public final class ProgressReporter: @unchecked Sendable {
    private let lock = NSLock()
    private let interactive: Bool
    private let write: (String) -> Void
    private var study = ""
    private var runsDone = 0, runsTotal = 0, trialsDone = 0, trialsTotal = 0
    private var evaluatedHere = 0
    private var running = 0, waiting = 0
    private var startTime = Date()
    private var lastDraw = Date.distantPast

    /// `interactive` defaults to whether stderr is a terminal.
    public init(interactive: Bool? = nil, write: ((String) -> Void)? = nil) {
        self.interactive = interactive ?? (isatty(STDERR_FILENO) == 1)
        self.write = write ?? { FileHandle.standardError.write(Data($0.utf8)) }
    }

    func start(study: String, progress: StudyProgress) {
        lock.lock(); defer { lock.unlock() }
        self.study = study
        runsDone = progress.runsDone; runsTotal = progress.runsTotal
        trialsDone = progress.trialsDone; trialsTotal = progress.trialsTotal
        startTime = Date()
        if interactive { draw(force: true) } else {
            write("[\(study)] \(runsDone)/\(runsTotal) runs done, \(trialsDone)/\(trialsTotal) evaluations recorded\n")
        }
    }

    func trialFinished() {
        lock.lock(); defer { lock.unlock() }
        trialsDone += 1; evaluatedHere += 1
        if interactive { draw(force: false) }
    }

    /// Trials in flight (running) and asked but waiting for a slot.
    func status(running: Int, waiting: Int) {
        lock.lock(); defer { lock.unlock() }
        guard running != self.running || waiting != self.waiting else { return }
        self.running = running; self.waiting = waiting
        if interactive { draw(force: false) }
    }

    func runFinished(_ label: String) {
        lock.lock(); defer { lock.unlock() }
        runsDone += 1
        if interactive { draw(force: true) } else {
            write("[\(study)] \(runsDone)/\(runsTotal) runs, \(trialsDone)/\(trialsTotal) evals, \(Self.duration(elapsed)) elapsed, ETA \(eta): finished \(label)\n")
        }
    }

    func finish(progress: StudyProgress) {
        lock.lock(); defer { lock.unlock() }
        runsDone = progress.runsDone; trialsDone = progress.trialsDone
        if interactive { draw(force: true); write("\n") }
        let line = "[\(study)] \(runsDone)/\(runsTotal) runs done, \(evaluatedHere) evaluations in \(Self.duration(elapsed))"
        write(line + "\n")
    }

    private var elapsed: TimeInterval { Date().timeIntervalSince(startTime) }

    private var eta: String {
        guard evaluatedHere > 0, trialsTotal > trialsDone else { return trialsTotal > trialsDone ? "?" : "0s" }
        let rate = Double(evaluatedHere) / max(elapsed, 1e-9)
        return Self.duration(Double(trialsTotal - trialsDone) / rate)
    }

    private func draw(force: Bool) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let width = 24
        let fraction = trialsTotal == 0 ? 1 : Double(trialsDone) / Double(trialsTotal)
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        write("\r\u{1b}[2K[\(study)] [\(bar)] \(runsDone)/\(runsTotal) runs  \(trialsDone)/\(trialsTotal) evals  \(Self.duration(elapsed))  ETA \(eta)  \(running) running, \(waiting) waiting")
    }

    static func duration(_ t: TimeInterval) -> String {
        if t < 60 { return String(format: "%.1fs", t) }
        let s = Int(t.rounded())
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }
}
