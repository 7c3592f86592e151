import Foundation
import Ledger
import StudyEngine

// The dashboard's JSON API (documented in docs/dashboard.md). Every answer is computed from the
// ledger alone, read-only.

/// A study in the list (`GET /api/studies`, `GET /api/studies/NAME`).
public struct StudyEntry: Codable, Sendable, Equatable {
    public var name: String
    public var status: String
    public var created: String
    public var runsDone: Int
    public var runsTotal: Int
    public var trialsDone: Int
    /// The runs' budgets: trials, or (a study with fidelities) full-fidelity evaluations of cost.
    public var trialsTotal: Int
    /// A study with fidelities: the finished trials' cost in full-fidelity evaluations, what
    /// `trialsTotal` is compared with; absent otherwise.
    public var costDone: Double? = nil
    public var running: Int
    public var waiting: Int
    public var failed: Int
    /// The coordinator holding the study, nil when none.
    public var coordinator: Coordinator?
    public struct Coordinator: Codable, Sendable, Equatable {
        public var host: String
        public var pid: Int32
        /// Its process exists (same host) or its heartbeat is recent (another host).
        public var alive: Bool
        public var heartbeat: String?
        public var heartbeatAgeSeconds: Double?
    }
}

public struct StudyList: Codable, Sendable, Equatable {
    public var ledger: String
    public var now: String
    public var studies: [StudyEntry]
}

/// One running attempt (`GET /api/studies/NAME/running`).
public struct RunningTrial: Codable, Sendable, Equatable {
    public var run: Int64
    public var objective: String
    public var optimizer: String
    public var seed: Int
    /// The trial's number in its run (1-based) and its id in the ledger.
    public var trial: Int
    public var trialId: Int64
    public var attempt: Int
    public var executor: String
    public var job: String?
    public var host: String?
    public var slot: Int?
    public var started: String
    public var elapsedSeconds: Double
}

public struct RunningTrials: Codable, Sendable, Equatable {
    public var study: String
    public var now: String
    public var running: [RunningTrial]
}

/// A block of the live report (`GET /api/studies/NAME/sections`).
public struct DashboardSection: Codable, Sendable, Equatable {
    public var id: String
    public var title: String
    public var html: String
    public init(id: String, title: String, html: String) { self.id = id; self.title = title; self.html = html }
}

public struct SectionList: Codable, Sendable, Equatable {
    public var study: String
    /// Changes whenever the ledger does; the page fetches sections again only then.
    public var version: String
    /// True while this answer is from an older state of the ledger and a newer one is being
    /// computed (the page asks again in a moment).
    public var stale: Bool
    public var sections: [DashboardSection]
}

/// The error body of every API route that fails.
public struct APIError: Codable, Sendable, Equatable {
    public var error: String
    public var message: String
    public var ledger: String
}

/// Builds the report sections of a study (the Reports module's builder in `mergetune serve`).
public typealias SectionBuilder = @Sendable (Ledger, String) throws -> [DashboardSection]

nonisolated(unsafe) let isoFormatter: ISO8601DateFormatter = {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f
}()

func iso(_ d: Date) -> String { isoFormatter.string(from: d) }

func encodeJSON<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    // No value here is NaN or infinite; a nonfinite one would fail rather than write bad JSON.
    return (try? String(decoding: encoder.encode(value), as: UTF8.self)).map { $0 + "\n" } ?? "{}\n"
}

/// What the dashboard computes from the ledger; the HTTP server and the tests both use it.
public final class DashboardData: @unchecked Sendable {
    public let source: LedgerSource
    let sectionBuilder: SectionBuilder
    public init(source: LedgerSource, sections: @escaping SectionBuilder) {
        self.source = source
        self.sectionBuilder = sections
    }

    private let slotsLock = NSLock()
    private var slots: [String: Slot] = [:]
    /// Whole-study answers (summary, sections) are computed here, off the request threads.
    private let computeQueue = DispatchQueue(label: "mergetune.dashboard.compute", qos: .utility, attributes: .concurrent)

    /// The last answer computed for one (route, study), the ledger state it was computed from,
    /// and the computation in flight, if any.
    private struct Slot {
        var value: String?
        var key: String?
        var error: Error?
        var inFlight: DispatchGroup?
    }

    /// Stale-while-revalidate: an answer computed from the current ledger is returned as is; one
    /// from an older state is returned at once while a new one is computed in the background
    /// (one computation per answer at a time), so no request waits for a whole-study
    /// computation except the very first (`warm` does that one at start). `stale` tells which.
    private func fresh(_ route: String, _ study: String, waitAtMost limit: Double? = nil,
                       _ compute: @escaping @Sendable () throws -> String) throws -> (value: String, stale: Bool)? {
        let id = route + "\u{1}" + study
        let key = source.changeKey()
        slotsLock.lock()
        let slot = slots[id] ?? Slot()
        if let v = slot.value, slot.key == key { slotsLock.unlock(); return (v, false) }
        if let v = slot.value {
            if slot.inFlight == nil { start(id, key, compute) }
            slotsLock.unlock()
            return (v, true)
        }
        let group = slot.inFlight ?? start(id, key, compute)
        slotsLock.unlock()
        if let limit {
            // The first answer of a large study takes seconds: a page does not wait for it.
            if group.wait(timeout: .now() + limit) == .timedOut { return nil }
        } else {
            group.wait()
        }
        return try slotsLock.withLock {
            if let v = slots[id]?.value { return (v, slots[id]?.key != key) }
            throw slots[id]?.error ?? DashboardFailure.unreadable(path: source.path, detail: "no answer was computed")
        }
    }

    /// Starts computing a slot (the caller holds `slotsLock`).
    @discardableResult
    private func start(_ id: String, _ key: String, _ compute: @escaping @Sendable () throws -> String) -> DispatchGroup {
        let group = DispatchGroup()
        group.enter()
        slots[id, default: Slot()].inFlight = group
        computeQueue.async { [self] in
            let result = Result { try compute() }
            slotsLock.withLock {
                var slot = slots[id] ?? Slot()
                switch result {
                case .success(let v): slot.value = v; slot.key = key; slot.error = nil
                // A failure is not kept as an answer: the next request tries again.
                case .failure(let e): slot.error = e; if slot.key == nil { slot.value = nil }
                }
                slot.inFlight = nil
                slots[id] = slot
            }
            group.leave()
        }
        return group
    }

    /// Computes every study's summary and sections in the background (at server start), so that
    /// the first requests find them ready.
    public func warm() {
        computeQueue.async { [self] in
            guard let list = try? studies() else { return }
            for s in list.studies {
                _ = try? summaryJSON(s.name)
                _ = try? sectionsJSON(s.name)
            }
        }
    }

    static func entry(_ ledger: Ledger, _ study: StudyRecord, now: Date) throws -> StudyEntry {
        let p = try ledger.progress(of: study)
        let states = try ledger.trialStates(study: study.id!)
        var coordinator: StudyEntry.Coordinator?
        if let token = study.owner, let owner = Owner(token: token) {
            coordinator = .init(host: owner.host, pid: owner.pid,
                                alive: owner.isAlive(heartbeat: study.heartbeat, now: now, staleAfter: ledger.staleAfter),
                                heartbeat: study.heartbeat.map { iso(Date(timeIntervalSince1970: $0)) },
                                heartbeatAgeSeconds: study.heartbeat.map { max(0, now.timeIntervalSince1970 - $0) })
        }
        return StudyEntry(name: study.name, status: study.status, created: iso(study.created),
                          runsDone: p.runsDone, runsTotal: p.runsTotal, trialsDone: p.trialsDone, trialsTotal: p.trialsTotal, costDone: p.costDone,
                          running: states[.running] ?? 0, waiting: states[.waiting] ?? 0, failed: states[.fail] ?? 0,
                          coordinator: coordinator)
    }

    public func studies(now: Date = Date()) throws -> StudyList {
        do {
            return try source.read { ledger in
                StudyList(ledger: source.path, now: iso(now),
                          studies: try ledger.studies().map { try DashboardData.entry(ledger, $0, now: now) })
            }
        } catch is LedgerSource.LedgerBeingCreated {
            return StudyList(ledger: source.path, now: iso(now), studies: [])
        }
    }

    public func study(_ name: String, now: Date = Date()) throws -> StudyEntry {
        try source.read { ledger in
            guard let s = try ledger.study(named: name) else { throw LedgerError.noSuchStudy(name) }
            return try DashboardData.entry(ledger, s, now: now)
        }
    }

    public func running(_ name: String, now: Date = Date()) throws -> RunningTrials {
        try source.read { ledger in
            guard let s = try ledger.study(named: name) else { throw LedgerError.noSuchStudy(name) }
            let attempts = try ledger.runningAttempts(study: s.id!)
            let runs = Dictionary(uniqueKeysWithValues: try ledger.runs(study: s.id!).map { ($0.id!, $0) })
            let objectives = Dictionary(uniqueKeysWithValues: try ledger.objectives(study: s.id!).map { ($0.id!, $0.name) })
            let rows = attempts.map { (t, a) in
                let r = runs[t.run]
                return RunningTrial(run: t.run, objective: r.flatMap { objectives[$0.objective] } ?? "?",
                                    optimizer: r?.optimizer ?? "?", seed: r?.seed ?? 0,
                                    trial: t.number, trialId: t.id!, attempt: a.number, executor: a.executor,
                                    job: a.jobID, host: a.host, slot: a.slot, started: iso(a.started),
                                    elapsedSeconds: max(0, now.timeIntervalSince(a.started)))
            }
            return RunningTrials(study: name, now: iso(now), running: rows)
        }
    }

    /// Exactly `mergetune study summary NAME --format json` (of the ledger as it was when last
    /// computed: at most one computation behind while the study runs).
    public func summaryJSON(_ name: String) throws -> String {
        let source = self.source
        // Without a wait limit `fresh` always answers.
        return try fresh("summary", name) {
            try source.read { ledger in
                try StudyReport.render(try StudyMetrics(ledger: ledger, studyName: name).summary(), format: .json)
            }
        }!.value
    }

    /// How long a page waits for a study's first sections before showing a placeholder.
    static let firstAnswerWait = 0.9

    public func sections(_ name: String) throws -> SectionList {
        try JSONDecoder().decode(SectionList.self, from: Data(sectionsJSON(name).utf8))
    }

    /// The sections as the JSON body (kept as text: no decode and re-encode per poll).
    public func sectionsJSON(_ name: String) throws -> String {
        let source = self.source, builder = sectionBuilder
        let answer = try fresh("sections", name, waitAtMost: Self.firstAnswerWait) {
            let version = source.changeKey()
            return try source.read { ledger in
                guard try ledger.study(named: name) != nil else { throw LedgerError.noSuchStudy(name) }
                return encodeJSON(SectionList(study: name, version: version, stale: false, sections: try builder(ledger, name)))
            }
        }
        guard let (body, stale) = answer else {
            // Still computing the first answer: a placeholder marked stale (the page asks again
            // in 2 s), so that no page waits for a whole-study computation.
            _ = try source.read { ledger in
                guard try ledger.study(named: name) != nil else { throw LedgerError.noSuchStudy(name) }
            }
            return encodeJSON(SectionList(study: name, version: "computing", stale: true, sections: [
                DashboardSection(id: "computing", title: "Report",
                                 html: "<section id=\"computing\"><p>Computing this study's report from the ledger… it appears here in a moment.</p></section>")]))
        }
        guard stale else { return body }
        // Mark an answer from an older ledger state, so the page asks again soon.
        return body.replacingOccurrences(of: "\"stale\" : false", with: "\"stale\" : true")
    }
}
