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
    public var trialsTotal: Int
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
    private let cacheLock = NSLock()
    // (route, study, ledger change key) -> body: a finished or idle study is computed once.
    private var cache: [String: String] = [:]
    private var cacheOrder: [String] = []

    public init(source: LedgerSource, sections: @escaping SectionBuilder) {
        self.source = source
        self.sectionBuilder = sections
    }

    private func cached(_ route: String, _ study: String, _ compute: () throws -> String) throws -> String {
        let key = "\(route)\u{1}\(study)\u{1}\(source.changeKey())"
        if let hit = cacheLock.withLock({ cache[key] }) { return hit }
        let value = try compute()
        cacheLock.withLock {
            if cache[key] == nil {
                cache[key] = value
                cacheOrder.append(key)
                if cacheOrder.count > 16 { cache[cacheOrder.removeFirst()] = nil }
            }
        }
        return value
    }

    static func entry(_ ledger: Ledger, _ study: StudyRecord, now: Date) throws -> StudyEntry {
        let p = try ledger.progress(study: study.id!)
        let states = try ledger.trialStates(study: study.id!)
        var coordinator: StudyEntry.Coordinator?
        if let token = study.owner, let owner = Owner(token: token) {
            coordinator = .init(host: owner.host, pid: owner.pid,
                                alive: owner.isAlive(heartbeat: study.heartbeat, now: now, staleAfter: ledger.staleAfter),
                                heartbeat: study.heartbeat.map { iso(Date(timeIntervalSince1970: $0)) },
                                heartbeatAgeSeconds: study.heartbeat.map { max(0, now.timeIntervalSince1970 - $0) })
        }
        return StudyEntry(name: study.name, status: study.status, created: iso(study.created),
                          runsDone: p.runsDone, runsTotal: p.runsTotal, trialsDone: p.trialsDone, trialsTotal: p.trialsTotal,
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

    /// Exactly `mergetune study summary NAME --format json`.
    public func summaryJSON(_ name: String) throws -> String {
        try cached("summary", name) {
            try source.read { ledger in
                try StudyReport.render(try StudyMetrics(ledger: ledger, studyName: name).summary(), format: .json)
            }
        }
    }

    public func sections(_ name: String) throws -> SectionList {
        try JSONDecoder().decode(SectionList.self, from: Data(sectionsJSON(name).utf8))
    }

    /// The sections as the JSON body (cached as text: no decode and re-encode per poll).
    public func sectionsJSON(_ name: String) throws -> String {
        let version = source.changeKey()
        return try cached("sections", name) {
            try source.read { ledger in
                guard try ledger.study(named: name) != nil else { throw LedgerError.noSuchStudy(name) }
                return encodeJSON(SectionList(study: name, version: version, sections: try sectionBuilder(ledger, name)))
            }
        }
    }
}
