import Foundation
import Executors
import Ledger
import Evaluation
#if canImport(Glibc)
import Glibc
#endif

/// Installs the coordinator's signal handlers: SIGINT and SIGTERM ask it to cancel its running
/// attempts and stop; SIGUSR1 (`study stop --wait`) to stop asking and let them finish. A second
/// SIGINT or SIGTERM exits at once (the ledger is consistent at every commit).
public enum SignalStop {
    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []

    public static func install(_ stop: StopRequest) {
        for (sig, kind) in [(SIGINT, StopRequest.Kind.cancel), (SIGTERM, .cancel), (SIGUSR1, .drain)] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if stop.requested == .cancel && kind == .cancel { exit(128 + sig) }
                stop.request(kind, signal: sig)
                // In-process command evaluations run in process groups of their own: stop them too.
                if kind == .cancel { Cancellation.process.cancel() }
                let what = kind == .cancel ? "cancelling running trials" : "letting running trials finish"
                FileHandle.standardError.write(Data("\nsignal \(sig): stopping the study (\(what))\n".utf8))
            }
            source.resume()
            sources.append(source)
        }
    }
}

/// `study status` and `study stop`.
public enum StudyControl {
    public static func status(_ ledger: Ledger, name: String, now: Date = Date()) throws -> String {
        guard let study = try ledger.study(named: name) else { throw LedgerError.noSuchStudy(name) }
        let p = try ledger.progress(of: study)
        var out = "study \(name): \(study.status), \(p.runsDone)/\(p.runsTotal) runs done, \(p.doneText(unit: "trials")) done\n"
        if let token = study.owner, let owner = Owner(token: token) {
            let alive = owner.isAlive(heartbeat: study.heartbeat, now: now, staleAfter: ledger.staleAfter)
            out += "coordinator: \(owner.description)\(alive ? "" : " (not running: resume the study to continue)")\n"
        } else {
            out += "coordinator: none\n"
        }
        let running = try ledger.runningAttempts(study: study.id!)
        let runs = Dictionary(uniqueKeysWithValues: try ledger.runs(study: study.id!).map { ($0.id!, $0) })
        let waiting = try ledger.trials(study: study.id!).filter { $0.state == .waiting }.count
        out += "running: \(running.count), waiting: \(waiting)\n"
        guard !running.isEmpty else { return out }
        var rows = [["run", "optimizer", "seed", "trial", "attempt", "executor", "job", "host", "slot", "elapsed"]]
        for (t, a) in running {
            let r = runs[t.run]
            rows.append(["\(t.run)", r?.optimizer ?? "?", r.map { "\($0.seed)" } ?? "?", "\(t.number)", "\(a.number)", a.executor,
                         a.jobID ?? "-", a.host ?? "-", a.slot.map(String.init) ?? "-",
                         ProgressReporter.duration(now.timeIntervalSince(a.started))])
        }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max()! }
        for row in rows {
            out += zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ") + "\n"
        }
        return out
    }

    /// Stops a study: signals its live coordinator on this host (SIGTERM, or SIGUSR1 with
    /// `wait`) and waits for it to exit; with no live coordinator, cancels the attempts recorded
    /// as running itself and records them as cancelled.
    public static func stop(ledgerPath: String, name: String, wait: Bool, timeout: Double) throws -> String {
        let reader = try Ledger(path: ledgerPath, readOnly: true)
        guard let study = try reader.study(named: name) else { throw LedgerError.noSuchStudy(name) }
        if let token = study.owner, let owner = Owner(token: token),
           owner.isAlive(heartbeat: study.heartbeat, staleAfter: reader.staleAfter) {
            guard owner.host == Owner.current.host else {
                throw LedgerError.studyBusy(study: name, owner: "\(owner.description); run `mergetune study stop \(name)` on \(owner.host)")
            }
            kill(owner.pid, wait ? SIGUSR1 : SIGTERM)
            let deadline = Date().addingTimeInterval(timeout)
            while owner.isAlive(heartbeat: nil, staleAfter: reader.staleAfter) && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            if owner.isAlive(heartbeat: nil, staleAfter: reader.staleAfter) {
                return "sent \(wait ? "SIGUSR1" : "SIGTERM") to the coordinator (\(owner.description)); it is still finishing after \(Int(timeout)) s\n"
            }
            return "stopped study \(name) (coordinator \(owner.description) exited)\n"
        }
        // No live coordinator: cancel what the last one left running.
        let ledger = try Ledger(path: ledgerPath)
        let running = try ledger.runningAttempts(study: study.id!)
        let spec = try StudyStore.spec(of: name, in: ledger).1
        var cancelled = 0
        var byKind: [String: [(TrialRecord, AttemptRecord)]] = [:]
        for item in running { byKind[item.1.executor, default: []].append(item) }
        var outcomes: [Int64: AttemptOutcome] = [:]
        for (kind, items) in byKind {
            guard kind != "inprocess" else {
                for (_, a) in items { outcomes[a.id!] = .failed(.interrupted, "the coordinator died while it ran in-process") }
                continue
            }
            var e = spec.execution
            if e.kind != kind { e.executor = ExecutorConfig(kind: kind) }
            e.executor.slots = max(1, (items.compactMap { $0.1.slot }.max() ?? 0) + 1)
            e.executor.gpus = nil
            let executor = try ExecutorFactory.make(e)
            let handles = items.map { (_, a) in
                (AttemptHandle(executor: kind, jobID: a.jobID ?? "", host: a.host, slot: a.slot ?? 0),
                 AttemptSpec(label: "", directory: a.directory ?? ""))
            }
            try executor.reattach(handles)
            for (h, _) in handles { try? executor.cancel(h) }
            let deadline = Date().addingTimeInterval(timeout)
            var left = Set(handles.map(\.0))
            while !left.isEmpty && Date() < deadline {
                for (h, o) in try executor.wait(timeout: 0.5) where left.contains(h) {
                    left.remove(h)
                    if let a = items.first(where: { $0.1.jobID == h.jobID })?.1 { outcomes[a.id!] = o.failure == nil ? o : .failed(.cancelled, o.detail) }
                }
            }
        }
        try ledger.writeWithoutCoordinator(study: study.id!) { w in
            for (t, a) in running {
                var attempt = a
                let o = outcomes[a.id!] ?? .failed(.cancelled, "cancelled by `study stop`")
                attempt.state = .fail
                attempt.reason = (o.failure ?? .cancelled).rawValue
                attempt.detail = o.detail
                attempt.finished = Date()
                try w.update(attempt)
                var trial = t
                trial.state = .waiting
                try w.update(trial)
                cancelled += 1
            }
            try w.setStudyStatus(study.id!, "stopped")
        }
        ledger.close()
        return "study \(name) had no live coordinator; \(cancelled) running attempts cancelled and recorded; `mergetune study resume \(name)` continues\n"
    }
}
