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
    /// A study with fidelities: cost done, and spent here, in full-fidelity evaluations (the
    /// budget's unit); nil otherwise.
    private var costDone: Double?, costHere = 0.0
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
        costDone = progress.costDone
        startTime = Date()
        if interactive { draw(force: true) } else {
            write("[\(study)] \(runsDone)/\(runsTotal) runs done, \(progress.doneText(unit: "evaluations")) recorded\n")
        }
    }

    /// `cost`: the trial's, in full-fidelity evaluations (1 without fidelities).
    func trialFinished(cost: Double = 1) {
        lock.lock(); defer { lock.unlock() }
        trialsDone += 1; evaluatedHere += 1
        if costDone != nil { costDone! += cost; costHere += cost }
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
            write("[\(study)] \(runsDone)/\(runsTotal) runs, \(evals), \(Self.duration(elapsed)) elapsed, ETA \(eta): finished \(label)\n")
        }
    }

    func finish(progress: StudyProgress) {
        lock.lock(); defer { lock.unlock() }
        runsDone = progress.runsDone; trialsDone = progress.trialsDone
        costDone = progress.costDone
        if interactive { draw(force: true); write("\n") }
        let cost = costDone == nil ? "" : " (cost \(StudyProgress.costText(costHere)) full-fidelity evaluations)"
        let line = "[\(study)] \(runsDone)/\(runsTotal) runs done, \(evaluatedHere) evaluations\(cost) in \(Self.duration(elapsed))"
        write(line + "\n")
    }

    private var elapsed: TimeInterval { Date().timeIntervalSince(startTime) }

    /// Progress as the budget counts it (in cost where the study has fidelities).
    private var progress: StudyProgress {
        StudyProgress(runsDone: runsDone, runsTotal: runsTotal, trialsDone: trialsDone, trialsTotal: trialsTotal, costDone: costDone)
    }

    private var evals: String { progress.doneText(unit: "evals") }

    private var eta: String {
        let done = costDone ?? Double(trialsDone), here = costDone == nil ? Double(evaluatedHere) : costHere
        guard here > 0, Double(trialsTotal) > done else { return Double(trialsTotal) > done ? "?" : "0s" }
        let rate = here / max(elapsed, 1e-9)
        return Self.duration((Double(trialsTotal) - done) / rate)
    }

    private func draw(force: Bool) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let width = 24
        let fraction = progress.fractionDone
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        write("\r\u{1b}[2K[\(study)] [\(bar)] \(runsDone)/\(runsTotal) runs  \(evals)  \(Self.duration(elapsed))  ETA \(eta)  \(running) running, \(waiting) waiting")
    }

    static func duration(_ t: TimeInterval) -> String {
        if t < 60 { return String(format: "%.1fs", t) }
        let s = Int(t.rounded())
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }
}
