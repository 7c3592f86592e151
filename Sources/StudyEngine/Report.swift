import Foundation
import Ledger
import Surrogate  // csvField: one CSV quoter for the project

/// The output formats of every command that prints a result (summaries, fits, weights).
public enum OutputFormat: String, CaseIterable, Sendable { case table, csv, json }

/// A command's `--format json` output: JSONEncoder with sorted keys (the same result prints the
/// same bytes) and null for every non-finite number (JSON has no NaN or infinity).
public func outputJSON<T: Encodable>(_ value: T, pretty: Bool = true) throws -> String {
    let token = "\u{1}nonfinite\u{1}"
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: token, negativeInfinity: token, nan: token)
    let text = String(decoding: try encoder.encode(value), as: UTF8.self)
    let quoted = String(decoding: try JSONEncoder().encode(token), as: UTF8.self)
    return text.replacingOccurrences(of: quoted, with: "null")
}

func csvLine(_ fields: [String]) -> String { fields.map(csvField).joined(separator: ",") + "\n" }

/// Numbers in exports: shortest round-trip form; empty for missing (pandas reads NaN).
func num(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }

func fixed(_ x: Double?, _ digits: Int = 3) -> String {
    guard let x else { return "n/a" }
    return String(format: "%.\(digits)f", x)
}

// ISO8601DateFormatter is documented thread-safe.
nonisolated(unsafe) let isoFormatter: ISO8601DateFormatter = {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f
}()

public enum StudyReport {
    // MARK: Exports

    /// One row per (study, objective, optimizer, seed, n).
    public static let curveColumns = ["study", "objective", "optimizer", "seed", "n", "state", "value", "best", "regret"]

    /// With fidelities (any objective of the study), two more columns: the trial's fidelity
    /// index and the run's cumulative cost in full-fidelity evaluations.
    public static let fidelityCurveColumns = ["fidelity", "cost"]

    public static func curvesCSV(_ m: StudyMetrics) -> String {
        let fidelities = m.spec.objectives.contains { $0.fidelities != nil }
        var out = csvLine(curveColumns + (fidelities ? fidelityCurveColumns : []))
        for c in m.curves {
            for p in c.points {
                out += csvLine([m.study.name, c.objective, c.optimizer, String(c.seed), String(p.n), p.state,
                                num(p.value), num(p.best), num(p.regret)]
                               + (fidelities ? [p.fidelity.map(String.init) ?? "", num(p.cost)] : []))
            }
        }
        return out
    }

    /// One row per trial; parameters both as JSON and as one `param_NAME` column per name
    /// (the union over objectives; empty where an objective lacks the parameter), then one
    /// `extra_NAME` column per sub-score a live objective recorded (trials.extras).
    public static func trialsCSV(_ m: StudyMetrics) -> String {
        // Parameter names in order of first appearance in the trials.
        var parameterNames: [String] = []
        var extraNames: [String] = []  // sub-scores of live objectives (trials.extras), e.g. perception
        var rows: [(RunRecord, String, TrialRecord, [String: Double])] = []
        let objectiveNames = Dictionary(uniqueKeysWithValues: m.objectives.map { ($0.id!, $0.name) })
        for run in m.runs {
            for t in m.trials(ofRun: run.id!) {
                let params = parseParams(t.params)
                for name in orderedKeys(t.params) where !parameterNames.contains(name) { parameterNames.append(name) }
                for name in orderedKeys(t.extras ?? "") where !extraNames.contains(name) { extraNames.append(name) }
                rows.append((run, objectiveNames[run.objective] ?? "?", t, params))
            }
        }
        // With fidelities: each trial's fidelity index and cost (spec units), last.
        let fidelities = m.spec.objectives.contains { $0.fidelities != nil }
        var out = csvLine(["study", "objective", "optimizer", "seed", "run", "number", "state", "value", "error",
                           "attempts", "reason", "started", "finished", "seconds", "params"] + parameterNames.map { "param_\($0)" }
                          + extraNames.map { "extra_\($0)" } + (fidelities ? fidelityCurveColumns : []))
        for (run, objective, t, params) in rows {
            let reason: String = m.attemptsByTrial[t.id!]?.last?.reason ?? ""
            var fields: [String] = [m.study.name, objective, run.optimizer, String(run.seed), String(run.id!), String(t.number),
                                    t.state.rawValue, num(t.value), t.error ?? "", String(t.attempts), reason]
            fields += [isoFormatter.string(from: t.started), t.finished.map(isoFormatter.string) ?? "", num(t.seconds), t.params]
            fields += parameterNames.map { num(params[$0]) }
            let extras = parseParams(t.extras ?? "")
            fields += extraNames.map { num(extras[$0]) }
            if fidelities { fields += [t.fidelity.map(String.init) ?? "", num(t.cost)] }
            out += csvLine(fields)
        }
        return out
    }

    /// Keys of a flat JSON object in the order written.
    static func orderedKeys(_ json: String) -> [String] { parseParamPairs(json).map(\.0) }

    // MARK: Summary

    public typealias Format = OutputFormat

    public static func render(_ s: StudySummary, format: Format) throws -> String {
        switch format {
        case .json: return try outputJSON(s) + "\n"
        case .csv: return summaryCSV(s)
        case .table: return summaryTable(s)
        }
    }

    /// Long ("tidy") CSV: section, objective, optimizer, reference, metric, value.
    static func summaryCSV(_ s: StudySummary) -> String {
        var out = csvLine(["section", "objective", "optimizer", "reference", "metric", "value"])
        for o in s.objectives {
            out += csvLine(["objective", o.name, "", "", "f_min", num(o.fMin)])
            out += csvLine(["objective", o.name, "", "", "f_max", num(o.fMax)])
            out += csvLine(["objective", o.name, "", "", "budget", String(o.budget)])
            for r in o.optimizers {
                out += csvLine(["optimizer", o.name, r.optimizer, "", "runs", String(r.runs)])
                out += csvLine(["optimizer", o.name, r.optimizer, "", "mean_final_regret", num(r.meanFinalRegret)])
                out += csvLine(["optimizer", o.name, r.optimizer, "", "median_final_regret", num(r.medianFinalRegret)])
                out += csvLine(["optimizer", o.name, r.optimizer, "", "ror", num(r.ror)])
            }
            for ref in o.references {
                out += csvLine(["reference", o.name, "", ref.method, "value", num(ref.value)])
                out += csvLine(["reference", o.name, "", ref.method, "regret", num(ref.regret)])
                for name in s.overall.map(\.optimizer) {
                    guard let n = ref.evaluationsToBeat[name] else { continue }
                    out += csvLine(["reference", o.name, name, ref.method, "evaluations_to_beat", n.map(String.init) ?? "never"])
                    if let c = ref.costToBeat?[name] {
                        out += csvLine(["reference", o.name, name, ref.method, "cost_to_beat", c.map { num($0) } ?? "never"])
                    }
                }
            }
            out += multiObjectiveCSV(o)
            if let a = o.sumToOne {
                out += csvLine(["sum_to_one", o.name, "", "", "line_best", num(a.lineBest)])
                out += csvLine(["sum_to_one", o.name, "", "", "line_relative_regret_percent", num(a.lineRelativeRegretPercent)])
                out += csvLine(["sum_to_one", o.name, "", "", "line_normalized_regret", num(a.lineNormalizedRegret)])
                out += csvLine(["sum_to_one", o.name, "", "", "band", num(a.band)])
                out += csvLine(["sum_to_one", o.name, "", "", "band_best", num(a.bandBest)])
                out += csvLine(["sum_to_one", o.name, "", "", "band_relative_regret_percent", num(a.bandRelativeRegretPercent)])
                out += csvLine(["sum_to_one", o.name, "", "", "band_normalized_regret", num(a.bandNormalizedRegret)])
            }
        }
        for r in s.overall {
            out += csvLine(["overall", "", r.optimizer, "", "objectives", String(r.objectives)])
            out += csvLine(["overall", "", r.optimizer, "", "mean_ror", num(r.meanRoR)])
            out += csvLine(["overall", "", r.optimizer, "", "median_ror", num(r.medianRoR)])
        }
        return out
    }

    static func shortCost(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x) }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == 0 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[i] - c.count) + c
            }.joined(separator: "  ") + "\n"
        }
        return line(header) + line(widths.map { String(repeating: "-", count: $0) }) + rows.map(line).joined()
    }

    static func summaryTable(_ s: StudySummary) -> String {
        var out = "study \(s.study): \(s.runsDone)/\(s.runsTotal) runs done (\(s.status))\n"
        if s.runsDone < s.runsTotal { out += "(incomplete: numbers below use finished runs only)\n" }
        for o in s.objectives {
            out += "\nobjective \(o.name) (\(o.kind)): f_min \(fixed(o.fMin, 4)), f_max \(fixed(o.fMax, 4)), budget \(o.budget)"
            if let f = o.fidelities {
                // Fidelities.swift: budgets in cost, regret at full fidelity only.
                out += " full-fidelity evaluations of cost (fidelities \(f.map { String($0.value) }.joined(separator: ", ")) at cost \(f.map { shortCost($0.cost) }.joined(separator: ", ")); regret at full fidelity)"
            }
            out += "\n"
            out += table(["optimizer", "runs", "mean r(N)", "median r(N)", "RoR"], o.optimizers.map {
                [$0.optimizer, String($0.runs), fixed($0.meanFinalRegret), fixed($0.medianFinalRegret), fixed($0.ror)]
            })
            if !o.references.isEmpty {
                let names = o.optimizers.map(\.optimizer)
                if o.fidelities != nil {
                    // The budget is in cost, so is "to beat" (Fidelities.swift); trials would flatter cheap screening.
                    out += "reference points (median cost to beat them, in full-fidelity evaluations, not trials; never = more than half the seeds never did)\n"
                } else {
                    out += "reference points (median evaluations to beat them; never = more than half the seeds never did)\n"
                }
                out += table(["reference", "score", "regret"] + names, o.references.map { r in
                    [r.method, fixed(r.value, 4), fixed(r.regret)] + names.map { n in
                        if let costs = r.costToBeat {
                            guard let c = costs[n] else { return "n/a" }
                            return c.map { StudyProgress.costText($0) } ?? "never"
                        }
                        guard let e = r.evaluationsToBeat[n] else { return "n/a" }
                        return e.map(String.init) ?? "never"
                    }
                })
            }
            out += multiObjectiveTable(o)
            if let a = o.sumToOne {
                out += "sum-to-one (\(a.weights.joined(separator: " + "))): best on the line \(fixed(a.lineBest, 4)) (relative regret \(fixed(a.lineRelativeRegretPercent, 1))%, normalized \(fixed(a.lineNormalizedRegret))); "
                out += "within ±\(a.band): \(fixed(a.bandBest, 4)) (\(fixed(a.bandRelativeRegretPercent, 1))%, \(fixed(a.bandNormalizedRegret))); global best \(fixed(a.globalBest, 4))\n"
            }
        }
        out += "\nregret over random across objectives (baseline: \(s.baseline ?? "none"))\n"
        out += table(["optimizer", "objectives", "mean RoR", "median RoR"], s.overall.map {
            [$0.optimizer, String($0.objectives), fixed($0.meanRoR), fixed($0.medianRoR)]
        })
        return out
    }

    // MARK: show / list

    public static func list(_ ledger: Ledger) throws -> String {
        let studies = try ledger.studies()
        guard !studies.isEmpty else { return "no studies in \(ledger.path)\n" }
        var rows: [[String]] = []
        for s in studies {
            let p = try ledger.progress(of: s)
            rows.append([s.name, s.status, "\(p.runsDone)/\(p.runsTotal)", p.costDone == nil ? "\(p.trialsDone)/\(p.trialsTotal)" : p.doneText(unit: ""),
                         isoFormatter.string(from: s.created)])
        }
        return table(["study", "status", "runs", "evaluations", "created"], rows)
    }

    public static func show(_ ledger: Ledger, name: String) throws -> String {
        let m = try StudyMetrics(ledger: ledger, studyName: name)
        let p = try ledger.progress(of: m.study, spec: m.spec)
        var out = "study \(m.study.name) (\(m.study.status)), created \(isoFormatter.string(from: m.study.created))\n"
        if let d = m.spec.description { out += "\(d)\n" }
        out += "spec: \(m.spec.source)\nledger: \(ledger.path)\n"
        out += "seeds: \(m.spec.seeds.map(String.init).joined(separator: ", "))\n"
        out += "optimizers: \(m.spec.optimizers.map { $0.name == $0.config.kind ? $0.name : "\($0.name) (\($0.config.kind))" }.joined(separator: ", "))\n"
        out += "runs: \(p.runsDone)/\(p.runsTotal) done, evaluations: \(p.doneText(unit: "evaluations"))\n\n"
        var rows: [[String]] = []
        for o in m.objectives {
            let spec = m.spec.objectives.first { $0.name == o.name }
            let live = spec?.scenario.map { "\($0) \(spec?.method ?? "") \(spec?.objective ?? "") (\(spec?.split ?? ""), live)" }
            let what = spec?.function ?? spec?.landscape.map { URL(fileURLWithPath: $0).lastPathComponent } ?? live ?? ""
            let runs = m.runs.filter { $0.objective == o.id! }
            rows.append([o.name, o.kind, what, "\(runs.filter { $0.status == "done" }.count)/\(runs.count)",
                         runs.first.map { String($0.budget) } ?? "", fixed(o.fMin, 4), fixed(o.fMax, 4)])
        }
        out += table(["objective", "kind", "source", "runs done", "budget", "f_min", "f_max"], rows)
        let failed = m.runs.flatMap { m.trials(ofRun: $0.id!) }.filter { $0.state == .fail }.count
        if failed > 0 { out += "\n\(failed) trials failed (see `study export --trials`)\n" }
        return out
    }
}
