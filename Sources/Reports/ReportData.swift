import Foundation
import Fusion
import Charts
import Ledger
import StudyEngine
import Surrogate

// What a study report shows, read from the ledger alone (docs/report.md). Every number that the
// summary also gives is taken from `StudySummary` itself, so the two never disagree.

/// Median and interquartile range over seeds of r(n), n = 1...budget, for one optimizer.
public struct OptimizerCurve: Codable, Sendable, Equatable {
    public var optimizer: String
    /// Runs (seeds) with at least one result.
    public var runs: Int
    public var n: [Int]
    public var median: [Double]
    public var q1: [Double]
    public var q3: [Double]
    /// Runs that reached each n (a live study's curves thin out at the end).
    public var count: [Int]
}

/// One trial as a landscape shows it (parameter coordinates).
public struct TrialPoint: Codable, Sendable, Equatable {
    public var optimizer: String
    public var seed: Int
    public var n: Int
    public var params: [Double]
    public var value: Double?
}

/// A closed-form reference point with its summary numbers (value, regret) and its coordinates.
public struct ReferenceMark: Codable, Sendable, Equatable {
    public var method: String
    /// Coordinates in the objective's parameter order (nil: a score without coefficients).
    public var params: [Double]?
    public var value: Double
    public var regret: Double
}

/// One heatmap panel: the objective over (x, y) at cell centres, with the other parameters fixed.
public struct LandscapePanel: Codable, Sendable, Equatable {
    /// e.g. "density = 0.5"; nil for a two-parameter objective.
    public var label: String?
    /// The fixed third parameter's value (three-parameter objectives).
    public var level: Double?
    public var xs: [Double]
    public var ys: [Double]
    /// z[j][i] at (xs[i], ys[j]).
    public var z: [[Double]]
}

public struct LandscapeData: Codable, Sendable, Equatable {
    /// Where the colours come from: "surrogate" (the objective's RBF), "analytic" (the test
    /// function), or "none" (a live objective: trials only).
    public var source: String
    public var parameterNames: [String]
    public var bounds: [[Double]]
    public var panels: [LandscapePanel]
    /// The measured points of the landscape file (surrogates), all parameters.
    public var measured: [[Double]]
    /// The two weights whose sum-to-one line is drawn (x, y order), if any.
    public var sumToOne: Bool
    public var note: String?
}

/// Per-layer coefficients of one closed form (λ_V, λ_R per decoder layer, then the rest).
public struct LayerCoefficients: Codable, Sendable, Equatable {
    public var method: String
    public var vl: [Double]
    public var exp: [Double]
    public var other: [Double]?
}

/// Per-layer task-vector statistics (as `mergetune diagnose` prints them).
public struct LayerDiagnostics: Codable, Sendable, Equatable {
    public var normV: [Double]
    public var normR: [Double]
    public var cosine: [Double]
}

public struct ClosedForms: Codable, Sendable, Equatable {
    /// Where they were read or computed from.
    public var source: String
    public var coefficients: [LayerCoefficients]
    public var diagnostics: LayerDiagnostics?
    public var note: String?
}

public struct ObjectiveReport: Codable, Sendable, Equatable {
    public var name: String
    public var kind: String
    public var parameterNames: [String]
    public var budget: Int
    public var seeds: [Int]
    public var curves: [OptimizerCurve]
    public var references: [ReferenceMark]
    /// A bounded sample of the trials (at most `maxPointsPerSeries` per optimizer, spread over seeds).
    public var trials: [TrialPoint]
    /// Finished trials per optimizer in the ledger, and how many of them `trials` holds.
    public var trialsTotal: [String: Int]
    public var trialsShown: [String: Int]
    /// Set when the objective has fidelities: the curves' `n` is then the cost spent, in
    /// full-fidelity evaluations (regret at each whole cost), not the trial count.
    public var byCost: Bool? = nil
    public var landscape: LandscapeData?
    public var closedForms: ClosedForms?
    public var notes: [String]
}

/// A point of a best-so-far curve against wall time.
public struct TimePoint: Codable, Sendable, Equatable {
    public var seconds: Double
    public var regret: Double
}

public struct TimeCurve: Codable, Sendable, Equatable {
    public var optimizer: String
    public var points: [TimePoint]
}

/// One attempt on the executor timeline.
public struct AttemptBar: Codable, Sendable, Equatable {
    public var slot: String
    public var start: Double
    public var end: Double
    /// COMPLETE, FAIL or RUNNING.
    public var state: String
    public var attempt: Int
    public var label: String
    public var reason: String?
}

public struct FailureRow: Codable, Sendable, Equatable {
    public var objective: String
    public var optimizer: String
    public var seed: Int
    public var n: Int
    public var attempt: Int
    public var reason: String
    public var detail: String
    /// The trial ended FAIL (false: a later attempt succeeded or is running).
    public var final: Bool
}

public struct LiveData: Codable, Sendable, Equatable {
    /// The first trial's start (seconds on the time axes count from it).
    public var start: Date?
    /// Per optimizer: the mean over its runs (all objectives and seeds) of the best-so-far regret.
    public var bestOverTime: [TimeCurve]
    public var attempts: [AttemptBar]
    public var attemptsTotal: Int
    public var failures: [FailureRow]
    public var failuresTotal: Int
    /// Failed attempts by reason.
    public var failureCounts: [String: Int]
    public var running: Int
}

/// Everything a study report shows.
public struct StudyReportData: Codable, Sendable, Equatable {
    public var summary: StudySummary
    public var description: String?
    public var ledger: String
    public var generated: Date
    public var optimizers: [String]
    public var objectives: [ObjectiveReport]
    public var live: LiveData
    public var notes: [String]
    /// Multi-objective objectives' trials in metric space (nil: none).
    public var pareto: [ParetoPanel]? = nil
}

/// Bounds on what a report loads (a 100,000-trial study stays a few megabytes).
public struct LoadOptions: Sendable {
    /// Heatmap cells per axis.
    public var gridResolution = 48
    /// Trials drawn per optimizer on a landscape (spread evenly over seeds).
    public var maxPointsPerSeries = 400
    /// Attempts on the timeline (the most recent).
    public var maxTimelineBars = 1500
    /// Failure rows listed.
    public var maxFailures = 100
    /// Points per best-over-time curve.
    public var maxTimePoints = 400
    /// Compute FRANK per layer from the testbed checkpoints of testbed objectives.
    public var closedForms = true
    public init() {}
}

// MARK: Loading

extension StudyReportBuilder {
    public static func load(ledger: Ledger, study name: String) throws -> StudyReportData {
        try load(ledger: ledger, study: name, options: LoadOptions())
    }

    public static func load(ledger: Ledger, study name: String, options: LoadOptions) throws -> StudyReportData {
        let metrics = try StudyMetrics(ledger: ledger, studyName: name)
        let summary = metrics.summary()
        let optimizers = metrics.spec.optimizers.map(\.name)
        var objectives: [ObjectiveReport] = []
        for (index, record) in metrics.objectives.enumerated() {
            guard let s = summary.objectives.first(where: { $0.name == record.name }) else { continue }
            objectives.append(objectiveReport(metrics, record, s, index: index, optimizers: optimizers, options: options))
        }
        var data = StudyReportData(summary: summary, description: metrics.spec.description, ledger: ledger.path, generated: Date(),
                                   optimizers: optimizers, objectives: objectives, live: live(metrics, options: options), notes: [])
        data.pareto = paretoPanels(metrics, options: options)
        return data
    }

    static func objectiveReport(_ m: StudyMetrics, _ record: ObjectiveRecord, _ s: ObjectiveSummary, index: Int,
                                optimizers: [String], options: LoadOptions) -> ObjectiveReport {
        var notes: [String] = []
        let definition = try? JSONDecoder().decode(ObjectiveSpec.self, from: Data(record.definition.utf8))
        let runs = m.runs.filter { $0.objective == record.id! }
        let curvesHere = m.curves.filter { $0.objective == record.name }
        // Parameter names in the order of the first trial's params.
        var names: [String] = []
        if let first = runs.lazy.compactMap({ m.trials(ofRun: $0.id!).first }).first {
            names = orderedKeys(first.params)
        }
        if names.isEmpty, let b = definition?.bounds { names = b.map(\.name) }

        // Regret curves: at each n, the runs that reached n. With fidelities, at each whole cost
        // c (in full evaluations): each run's regret after the trials that cost at most c.
        var curves: [OptimizerCurve] = []
        let byCost = definition?.fidelities != nil
        for opt in optimizers where byCost {
            let cs = curvesHere.filter { $0.optimizer == opt && !$0.points.isEmpty }
            var ns: [Int] = [], med: [Double] = [], lo: [Double] = [], hi: [Double] = [], count: [Int] = []
            let most = Int((cs.compactMap { $0.points.last?.cost }.max() ?? 0).rounded(.down))
            for c in stride(from: 1, through: most, by: 1) {
                let v = cs.compactMap { curve -> Double? in
                    guard (curve.points.last?.cost ?? 0) >= Double(c) else { return nil }
                    return curve.points.last { $0.cost <= Double(c) + 1e-9 }?.regret ?? 1
                }.sorted()
                guard !v.isEmpty else { continue }
                ns.append(c); med.append(quantile(v, 0.5)); lo.append(quantile(v, 0.25)); hi.append(quantile(v, 0.75)); count.append(v.count)
            }
            curves.append(OptimizerCurve(optimizer: opt, runs: cs.count, n: ns, median: med, q1: lo, q3: hi, count: count))
        }
        for opt in optimizers where !byCost {
            let cs = curvesHere.filter { $0.optimizer == opt && !$0.points.isEmpty }
            var ns: [Int] = [], med: [Double] = [], lo: [Double] = [], hi: [Double] = [], count: [Int] = []
            let longest = cs.map(\.points.count).max() ?? 0
            for k in 0..<min(longest, max(s.budget, longest)) {
                let v = cs.compactMap { k < $0.points.count ? $0.points[k].regret : nil }.sorted()
                guard !v.isEmpty else { continue }
                ns.append(k + 1); med.append(quantile(v, 0.5)); lo.append(quantile(v, 0.25)); hi.append(quantile(v, 0.75)); count.append(v.count)
            }
            curves.append(OptimizerCurve(optimizer: opt, runs: cs.count, n: ns, median: med, q1: lo, q3: hi, count: count))
        }

        let refs = s.references.map { r in
            ReferenceMark(method: r.method, params: r.params.map { p in names.map { p[$0] ?? .nan } }, value: r.value, regret: r.regret)
        }

        // Trials, bounded per optimizer and spread over seeds.
        var trials: [TrialPoint] = [], total: [String: Int] = [:], shown: [String: Int] = [:]
        let seeds = Array(Set(runs.map(\.seed))).sorted()
        for opt in optimizers {
            let rs = runs.filter { $0.optimizer == opt }
            let perSeed = max(1, options.maxPointsPerSeries / max(rs.count, 1))
            for run in rs {
                let ts = m.trials(ofRun: run.id!).filter { $0.state.isFinal }
                total[opt, default: 0] += ts.count
                let stride = max(1, Int((Double(ts.count) / Double(perSeed)).rounded(.up)))
                for (k, t) in ts.enumerated() where k % stride == 0 {
                    let p = parseParams(t.params)
                    trials.append(TrialPoint(optimizer: opt, seed: run.seed, n: t.number, params: names.map { p[$0] ?? .nan }, value: t.value))
                    shown[opt, default: 0] += 1
                }
            }
        }

        let landscape = definition.flatMap { landscapeData($0, names: names, options: options, notes: &notes) }
        let closed = definition.flatMap { closedForms($0, options: options, notes: &notes) }
        var report = ObjectiveReport(name: record.name, kind: record.kind, parameterNames: names, budget: s.budget, seeds: seeds,
                                     curves: curves, references: refs, trials: trials, trialsTotal: total, trialsShown: shown,
                                     landscape: landscape, closedForms: closed, notes: notes)
        if byCost { report.byCost = true }
        return report
    }

    /// The objective evaluated on a grid over its first two parameters (one panel per level of a
    /// third). Surrogate and analytic objectives are rebuilt from their stored definition; a live
    /// objective has no grid (its trials are drawn alone).
    static func landscapeData(_ spec: ObjectiveSpec, names: [String], options: LoadOptions, notes: inout [String]) -> LandscapeData? {
        guard names.count == 2 || names.count == 3 else {
            if names.count > 3 {
                notes.append("no landscape: \(names.count) parameters (drawn for two or three)"
                             + (spec.space.map { s in
                                 MergeSpaces.mergekitLimitation(of: s.kind).map { "; space \(s.kind): the best trial's recipe is in `study export --trials` (no mergekit config: \($0))" }
                                     ?? "; space \(s.kind): the best trial's per-layer recipe is `study export --mergekit`'s" } ?? ""))
            }
            return nil
        }
        let sumToOne = Set(spec.sumToOne ?? ["vl_weight", "exp_weight"]) == Set(names.prefix(2))
        guard spec.kind == "surrogate" || spec.kind == "analytic" else {
            // The box the trials were drawn from: the spec's bounds, else the merge method's
            // default ones (the testbed's box), so that points on its edges (the parents) show.
            let method = MergeMethod(rawValue: spec.command?.merge?.method.rawValue ?? spec.method ?? "task_arithmetic")
            let spaceBox = MergeSpaces.box(of: spec)  // a search space's own parameters (SearchSpaces.swift)
            let box: [[Double]] = names.compactMap { n in
                if let p = spaceBox?.parameters.first(where: { $0.name == n }) { return [p.lower, p.upper] }
                if let b = spec.bounds?.first(where: { $0.name == n }) { return [b.lower, b.upper] }
                return method.flatMap { MergeMethodRegistry.info($0).parameter(n)?.defaultBounds }.map { [$0.lowerBound, $0.upperBound] }
            }
            return LandscapeData(source: "none", parameterNames: names, bounds: box.count == names.count ? box : [], panels: [], measured: [], sumToOne: sumToOne,
                                 note: "a \(spec.kind) objective has no surrogate: its trials are drawn over the box, without a heatmap")
        }
        // The heatmap is drawn from the landscape file as it is now: say so when it changed since launch.
        if let path = spec.landscape, let recorded = spec.landscapeChecksum, let data = FileManager.default.contents(atPath: path),
           landscapeChecksum(data) != recorded {
            notes.append("the landscape \(path) changed since the study was launched (checksum \(landscapeChecksum(data)), recorded \(recorded)): its heatmap shows the file as it is now")
        }
        let objective: any Objective
        do { objective = try ObjectiveFactory.make(spec, file: "the ledger's definition of '\(spec.name)'", key: spec.name) } catch {
            notes.append("no heatmap for '\(spec.name)': \(error)")
            return nil
        }
        let space = objective.space
        let order = names.map { n in space.names.firstIndex(of: n) ?? 0 }
        let bounds = order.map { [space.parameters[$0].lower, space.parameters[$0].upper] }
        var measured: [[Double]] = []
        var levels: [Double?] = [nil]
        if spec.kind == "surrogate", let path = spec.landscape, let l = try? Landscape.load(URL(fileURLWithPath: path), parameters: nil) {
            let idx = names.map { l.parameterNames.firstIndex(of: $0) }
            if idx.allSatisfy({ $0 != nil }) { measured = l.points.map { p in idx.map { p[$0!] } } }
        }
        if names.count == 3 {
            let distinct = Array(Set(measured.map { $0[2] })).sorted()
            if !distinct.isEmpty && distinct.count <= 6 { levels = distinct }
            else { let b = bounds[2]; levels = [b[0], (b[0] + b[1]) / 2, b[1]] }
        }
        let n = max(4, options.gridResolution)
        func centres(_ b: [Double]) -> [Double] { (0..<n).map { b[0] + (Double($0) + 0.5) * (b[1] - b[0]) / Double(n) } }
        let xs = centres(bounds[0]), ys = centres(bounds[1])
        var panels: [LandscapePanel] = []
        for level in levels {
            var z: [[Double]] = []
            for y in ys {
                var row: [Double] = []
                for x in xs {
                    var point = [Double](repeating: 0, count: space.dimension)
                    point[order[0]] = x; point[order[1]] = y
                    if let level { point[order[2]] = level }
                    row.append((try? objective.evaluate(point)) ?? .nan)
                }
                z.append(row)
            }
            panels.append(LandscapePanel(label: level.map { "\(names[2]) = \(shortNumber($0))" }, level: level, xs: xs, ys: ys, z: z))
        }
        return LandscapeData(source: spec.kind, parameterNames: names, bounds: bounds, panels: panels, measured: measured,
                             sumToOne: sumToOne, note: nil)
    }

    // MARK: Live

    static func live(_ m: StudyMetrics, options: LoadOptions) -> LiveData {
        let allTrials = m.runs.flatMap { m.trials(ofRun: $0.id!) }
        let start = allTrials.map(\.started).min()
        let t0 = start ?? Date()
        let runByID = Dictionary(uniqueKeysWithValues: m.runs.map { ($0.id!, $0) })
        let objectiveName = Dictionary(uniqueKeysWithValues: m.objectives.map { ($0.id!, $0.name) })

        // Best-so-far regret against wall time: per optimizer, the mean over its runs of each
        // run's current regret (1 until its first result), stepping at every finished trial.
        var bestOverTime: [TimeCurve] = []
        for opt in m.spec.optimizers.map(\.name) {
            let runs = m.runs.filter { $0.optimizer == opt }
            guard !runs.isEmpty else { continue }
            var events: [(Double, Int64, Double)] = []
            for run in runs {
                let e = m.extremes[run.objective]!
                let range = e.max - e.min
                for t in m.trials(ofRun: run.id!) where t.state.isFinal {
                    guard let f = t.finished, let v = t.value else { continue }
                    events.append((f.timeIntervalSince(t0), run.id!, range > 0 ? (e.max - v) / range : 0))
                }
            }
            events.sort { $0.0 < $1.0 }
            var current = Dictionary(uniqueKeysWithValues: runs.map { ($0.id!, 1.0) })
            var sum = Double(runs.count)
            var points: [TimePoint] = [TimePoint(seconds: 0, regret: 1)]
            for (t, run, r) in events where r < current[run]! {
                sum -= current[run]! - r
                current[run] = r
                points.append(TimePoint(seconds: t, regret: max(0, sum / Double(runs.count))))
            }
            bestOverTime.append(TimeCurve(optimizer: opt, points: thin(points, to: options.maxTimePoints)))
        }

        // Attempts by executor slot.
        var bars: [AttemptBar] = [], failures: [FailureRow] = [], counts: [String: Int] = [:]
        var running = 0, failuresTotal = 0
        let now = Date()
        let trialByID = Dictionary(uniqueKeysWithValues: allTrials.map { ($0.id!, $0) })
        var attempts: [(AttemptRecord, TrialRecord)] = []
        for (tid, list) in m.attemptsByTrial { if let t = trialByID[tid] { for a in list { attempts.append((a, t)) } } }
        attempts.sort { ($0.0.started, $0.0.id ?? 0) < ($1.0.started, $1.0.id ?? 0) }
        for (a, t) in attempts {
            guard let run = runByID[t.run] else { continue }
            if a.state == .running { running += 1 }
            if a.state == .fail {
                let reason = a.reason ?? "error"
                counts[reason, default: 0] += 1
                failuresTotal += 1
                if failures.count < options.maxFailures {
                    failures.append(FailureRow(objective: objectiveName[run.objective] ?? "?", optimizer: run.optimizer, seed: run.seed,
                                               n: t.number, attempt: a.number, reason: reason,
                                               detail: String((a.detail ?? t.error ?? "").prefix(300)), final: t.state == .fail))
                }
            }
        }
        // Trials that failed without an attempt row (older ledgers) still count.
        if m.attemptsByTrial.isEmpty {
            for t in allTrials where t.state == .fail {
                guard let run = runByID[t.run] else { continue }
                counts["error", default: 0] += 1
                failuresTotal += 1
                if failures.count < options.maxFailures {
                    failures.append(FailureRow(objective: objectiveName[run.objective] ?? "?", optimizer: run.optimizer, seed: run.seed,
                                               n: t.number, attempt: 1, reason: "error", detail: String((t.error ?? "").prefix(300)), final: true))
                }
            }
        }
        for (a, t) in attempts.suffix(options.maxTimelineBars) {
            guard let run = runByID[t.run] else { continue }
            let slot = [a.executor, a.host, a.slot.map { "slot \($0)" }].compactMap { $0 }.joined(separator: " ")
            let end = a.finished ?? (a.state == .running ? now : a.started.addingTimeInterval(a.seconds ?? 0))
            bars.append(AttemptBar(slot: slot, start: a.started.timeIntervalSince(t0), end: end.timeIntervalSince(t0), state: a.state.rawValue,
                                   attempt: a.number, label: "\(objectiveName[run.objective] ?? "?") · \(run.optimizer) · seed \(run.seed) · n \(t.number)",
                                   reason: a.reason))
        }
        return LiveData(start: start, bestOverTime: bestOverTime, attempts: bars, attemptsTotal: attempts.count, failures: failures,
                        failuresTotal: failuresTotal, failureCounts: counts, running: running)
    }

    /// At most `limit` points of a step curve: the last point of each of `limit` equal time buckets.
    static func thin(_ points: [TimePoint], to limit: Int) -> [TimePoint] {
        guard points.count > limit, limit >= 2, let last = points.last else { return points }
        let span = max(last.seconds, 1e-9)
        var out: [TimePoint] = [points[0]]
        var bucket = 0
        for p in points.dropFirst() {
            let b = Int(p.seconds / span * Double(limit - 2))
            if b > bucket || out.count == 1 { out.append(p); bucket = b } else { out[out.count - 1] = p }
        }
        if out.last != last { out.append(last) }
        return out
    }
}

/// Keys of a flat JSON object in the order written (StudyEngine reads the ledger's JSON).
func orderedKeys(_ text: String) -> [String] { parseParamPairs(text).map(\.0) }
