import Foundation
import Fusion
import StudyEngine
import Surrogate
import Testbed

extension StudyReportBuilder {
    /// FRANK (and MetaGPT, NaN) per layer for an objective that names checkpoints:
    /// - a surrogate whose landscape file recorded them (`# reference NAME: {"layers": ...}`
    ///   lines, written by `mergetune testbed grid` with the coefficients it merged with);
    /// - a testbed objective: computed from its checkpoints (Fusion's task-vector statistics),
    ///   with the per-layer norms and cosines of `mergetune diagnose`.
    static func closedForms(_ spec: ObjectiveSpec, options: LoadOptions, notes: inout [String]) -> ClosedForms? {
        guard options.closedForms else { return nil }
        switch spec.kind {
        case "surrogate":
            guard let path = spec.landscape, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            let coefficients = recordedCoefficients(text)
            guard !coefficients.isEmpty else { return nil }
            return ClosedForms(source: "recorded in \(URL(fileURLWithPath: path).lastPathComponent)", coefficients: coefficients,
                               diagnostics: nil, note: "norms and cosines need the checkpoints (mergetune diagnose --base B --vlm V --expert E)")
        case "testbed":
            guard let directory = spec.directory, let scenario = Scenario(rawValue: spec.scenario ?? "") else { return nil }
            do {
                let family = try TestbedFamily(directory: URL(fileURLWithPath: directory))
                guard let pairing = family.pairings[scenario] else { return nil }
                let stats = try computeTaskVectorStats(pairing, threads: 1)
                let frank = try ClosedForm.frank(stats, prior: .none, schedule: .paper, granularity: .layer)
                // MetaGPT and NaN at their default (whole-model) granularity, as `mergetune weights` gives them.
                let metagpt = try ClosedForm.metagpt(stats)
                let nan = ClosedForm.nan(stats)
                func row(_ name: String, _ c: Coefficients) -> LayerCoefficients {
                    LayerCoefficients(method: name, vl: c.layers.map(\.vl), exp: c.layers.map(\.exp), other: [c.other.vl, c.other.exp])
                }
                let d = LayerDiagnostics(normV: stats.layers.map(\.normV), normR: stats.layers.map(\.normR), cosine: stats.layers.map(\.cosine))
                var rows = [row("frank", frank)]
                // FRANK with the modality prior, per schedule: the VLM's visual-attention shares
                // measured by the probe (as `mergetune testbed grid` does), the decay fitted from them.
                var note = "FRANK with the attention prior: the probe's shares on the validation `see` images"
                let shares = try AttentionProbe.shares(model: try family.parent("vlm"),
                                                       examples: try TaskData.load(task: Scenario.perceptionTask, directory: URL(fileURLWithPath: directory)).examples(.validation))
                for (name, schedule) in [("frank_prior_paper", FrankSchedule.paper), ("frank_prior_max", .maxNormalized)] {
                    do {
                        rows.append(row(name, try ClosedForm.frank(stats, prior: .attention(shares), schedule: schedule, granularity: .layer)))
                    } catch {
                        note += "; \(name) not shown: \(error)"
                    }
                }
                return ClosedForms(source: "computed from the testbed checkpoints in \(directory) (\(scenario.rawValue) scenario)",
                                   coefficients: rows + [row("metagpt", metagpt), row("nan", nan)], diagnostics: d, note: note)
            } catch {
                notes.append("closed forms of '\(spec.name)' not computed: \(error)")
                return nil
            }
        default:
            return nil
        }
    }

    /// `# reference NAME: {"layers":[[vl, exp], ...], "other":[vl, exp], ...}` lines of a landscape file.
    static func recordedCoefficients(_ text: String) -> [LayerCoefficients] {
        var out: [LayerCoefficients] = []
        for line in text.split(separator: "\n") where line.hasPrefix("# reference ") {
            let body = line.dropFirst("# reference ".count)
            guard let colon = body.firstIndex(of: ":"), body[body.index(after: colon)...].trimmingCharacters(in: .whitespaces).hasPrefix("{") else { continue }
            let name = String(body[..<colon]).trimmingCharacters(in: .whitespaces)
            let json = body[body.index(after: colon)...]
            guard let o = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                  let layers = o["layers"] as? [[NSNumber]] else { continue }
            let other = (o["other"] as? [NSNumber])?.map(\.doubleValue)
            out.append(LayerCoefficients(method: name, vl: layers.map { $0.first?.doubleValue ?? .nan },
                                         exp: layers.map { $0.count > 1 ? $0[1].doubleValue : .nan }, other: other))
        }
        return out
    }
}
