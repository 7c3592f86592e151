import Foundation

// Exports and summary lines of multi-objective objectives (`study export --front/--hypervolume`,
// `study summary`); docs/studies.md, "Multi-objective studies".

extension StudyReport {
    /// One row per trial on an objective's study front, then one per reference placed against it.
    public static func frontCSV(_ m: StudyMetrics) -> String {
        let summaries = m.objectives.compactMap { o in m.multiObjectiveSummary(o).map { (o.name, $0) } }
        var names: [String] = []
        for (_, s) in summaries { for n in s.metrics where !names.contains(n) { names.append(n) } }
        var out = csvLine(["study", "objective", "row", "optimizer", "seed", "run", "number", "reference", "dominated", "epsilon", "params"]
                          + names.map { "metric_\($0)" })
        for (objective, s) in summaries {
            func metricFields(_ v: [Double]?) -> [String] {
                names.map { n in s.metrics.firstIndex(of: n).flatMap { i in v.map { num($0[i]) } } ?? "" }
            }
            for f in s.front {
                let keys = f.params.keys.sorted()
                out += csvLine([m.study.name, objective, "front", f.optimizer, String(f.seed), String(f.run), String(f.number), "", "false", "",
                                jsonObject(names: keys, values: keys.map { f.params[$0]! })] + metricFields(f.metrics))
            }
            for r in s.references {
                out += csvLine([m.study.name, objective, "reference", "", "", "", "", r.method, r.dominated.map { String($0) } ?? "",
                                num(r.epsilon), ""] + metricFields(r.metrics))
            }
            out += csvLine([m.study.name, objective, "reference_point", "", "", "", "", "", "", "", ""] + metricFields(s.referencePoint))
        }
        return out
    }

    /// Hypervolume per evaluation count: mean and sample sd over the runs (seeds) of each optimizer.
    public static func hypervolumeCSV(_ m: StudyMetrics) -> String {
        var out = csvLine(["study", "objective", "optimizer", "n", "runs", "hypervolume_mean", "hypervolume_sd"])
        for o in m.objectives {
            guard let s = m.multiObjectiveSummary(o) else { continue }
            for f in s.optimizers {
                for p in f.curve { out += csvLine([m.study.name, o.name, f.optimizer, String(p.n), String(p.runs), num(p.mean), num(p.sd)]) }
            }
        }
        return out
    }

    static func multiObjectiveCSV(_ o: ObjectiveSummary) -> String {
        guard let s = o.multiObjective else { return "" }
        var out = ""
        for (i, r) in s.referencePoint.enumerated() { out += csvLine(["pareto", o.name, "", "", "reference_point_\(s.metrics[i])", num(r)]) }
        out += csvLine(["pareto", o.name, "", "", "study_hypervolume", num(s.studyHypervolume)])
        out += csvLine(["pareto", o.name, "", "", "study_front_size", String(s.front.count)])
        for f in s.optimizers {
            out += csvLine(["pareto", o.name, f.optimizer, "", "final_hypervolume_mean", num(f.finalHypervolumeMean)])
            out += csvLine(["pareto", o.name, f.optimizer, "", "final_hypervolume_sd", num(f.finalHypervolumeSD)])
            out += csvLine(["pareto", o.name, f.optimizer, "", "front_size_mean", num(f.frontSizeMean)])
        }
        for r in s.references {
            out += csvLine(["pareto", o.name, "", r.method, "dominated", r.dominated.map { String($0) } ?? ""])
            out += csvLine(["pareto", o.name, "", r.method, "epsilon", num(r.epsilon)])
        }
        return out
    }

    static func multiObjectiveTable(_ o: ObjectiveSummary) -> String {
        guard let s = o.multiObjective else { return "" }
        let point = zip(s.metrics, s.referencePoint).map { "\($0) \(fixed($1, 4))" }.joined(separator: ", ")
        var out = "Pareto front of \(s.metrics.joined(separator: " × ")): \(s.front.count) trials, hypervolume \(fixed(s.studyHypervolume, 5)) "
        out += "against (\(point)) [\(s.referencePointSource)]\n"
        out += table(["optimizer", "runs", "final HV mean", "HV sd", "front size"], s.optimizers.map {
            [$0.optimizer, String($0.runs), fixed($0.finalHypervolumeMean, 5), fixed($0.finalHypervolumeSD, 5), fixed($0.frontSizeMean, 1)]
        })
        if !s.references.isEmpty {
            out += "references against the study's front (ε > 0: short of the front by ε in its worst metric)\n"
            out += table(["reference"] + s.metrics + ["dominated", "ε"], s.references.map { r in
                [r.method] + s.metrics.indices.map { i in fixed(r.metrics?[i], 4) } + [r.dominated.map { $0 ? "yes" : "no" } ?? "n/a", fixed(r.epsilon, 4)]
            })
        }
        return out
    }
}
