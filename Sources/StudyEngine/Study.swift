import Foundation
import Ledger
import Optimizers
import MergetuneNumerics

public enum StudyError: Error, CustomStringConvertible {
    case specMismatch(study: String, ledger: String)
    case replayMismatch(run: String, number: Int, recorded: [Double], asked: [Double])
    case ledgerGap(run: String, expected: Int, found: Int)
    case objectiveMissing(study: String, objective: String)
    case badRecord(String)
    /// A reference measured at creation failed (the study is not created; a relaunch reuses the
    /// references that were measured).
    case referenceFailed(objective: String, reference: String, detail: String)
    case constraint(String)

    public var description: String {
        switch self {
        case .referenceFailed(let o, let r, let d):
            return "objective '\(o)': measuring the reference '\(r)' failed, so the study was not created (a relaunch reuses the references already measured): \(d)"
        case .constraint(let what): return what
        case .specMismatch(let s, let path):
            return "study '\(s)' already exists in \(path) with a different spec; rename the study or use another --ledger"
        case .replayMismatch(let run, let n, let rec, let asked):
            return "replaying \(run): trial \(n) was recorded at \(rec) but the optimizer now asks \(asked); the ledger and the optimizer disagree (was the optimizer's code or seed changed?)"
        case .ledgerGap(let run, let e, let f):
            return "\(run): expected trial \(e) in the ledger, found \(f)"
        case .objectiveMissing(let s, let o): return "study '\(s)': objective '\(o)' is in the ledger but not in the spec"
        case .badRecord(let what): return "unreadable ledger record: \(what)"
        }
    }
}

/// A spec with its objectives built and every cross-check done (optimizer options, budgets,
/// bounds, references), ready to be run.
public struct PreparedStudy: Sendable {
    public let spec: StudySpec
    public let objectives: [any Objective]

    /// For tests and embedders: objectives built by the caller, in the spec's order.
    public init(spec: StudySpec, objectives: [any Objective]) throws {
        precondition(spec.objectives.count == objectives.count)
        // Before anything is computed (extrema, references at creation): one BLAS thread, so
        // what a study records does not depend on when in the process it was created.
        _ = try BLAS.pinThreads()
        var resolved = spec
        // Two-weight landscapes get the sum-to-one analysis unless the spec names other weights.
        // Not for live testbed objectives: the analysis is a dense grid of ~4,700 evaluations.
        for (i, objective) in objectives.enumerated() where resolved.objectives[i].sumToOne == nil && objective.kind != "testbed" {
            let names = objective.space.names
            if names.contains("vl_weight") && names.contains("exp_weight") {
                resolved.objectives[i].sumToOne = ["vl_weight", "exp_weight"]
            }
        }
        self.spec = resolved
        self.objectives = objectives
        try PreparedStudy.validate(resolved, objectives)
    }

    /// The same study run with the optimizer defaults the ledger recorded for it (a study keeps
    /// the generation it was created with, whatever version launches it again).
    func keepingOptimizerDefaults(of record: StudyRecord) throws -> PreparedStudy {
        let recorded = try StudySpec.fromJSON(record.spec).optimizerDefaults
        guard recorded != spec.optimizerDefaults else { return self }
        var s = spec
        s.optimizerDefaults = recorded
        return try PreparedStudy(spec: s, objectives: objectives)
    }

    /// Builds the objectives of a spec. At launch the landscape checksums are recorded in the
    /// spec; on resume they must still match (a study must not silently change its objective).
    public static func prepare(_ spec: StudySpec) throws -> PreparedStudy {
        _ = try BLAS.pinThreads()  // before any objective is built (a testbed evaluator computes at creation)
        var resolved = spec
        var objectives: [any Objective] = []
        for (i, o) in spec.objectives.enumerated() {
            let key = "objectives[\(i)]"
            let objective = try ObjectiveFactory.make(o, file: spec.source, key: key)
            if let path = o.landscape {
                let sum = try checksum(of: URL(fileURLWithPath: path))
                if let recorded = o.landscapeChecksum, recorded != sum {
                    throw SpecError(file: spec.source, key: "\(key).landscape", "\(path) changed since study '\(spec.name)' started (checksum \(sum), recorded \(recorded)); restore it or start a new study")
                }
                resolved.objectives[i].landscapeChecksum = sum
            }
            objectives.append(objective)
        }
        return try PreparedStudy(spec: resolved, objectives: objectives)
    }

    static func validate(_ spec: StudySpec, _ objectives: [any Objective]) throws {
        let file = spec.source
        // A budget for a number of parameters no objective has is a typo, not a no-op.
        let dimensions = Set(objectives.map(\.space.dimension))
        for d in spec.budgetKeys ?? [] where !dimensions.contains(d) {
            throw SpecError(file: file, key: "budget.\(d)",
                            "no objective has \(d) parameters (the objectives have \(dimensions.sorted().map(String.init).joined(separator: ", ")))")
        }
        for (i, objective) in objectives.enumerated() {
            let o = spec.objectives[i]
            let key = "objectives[\(i)]"
            let d = objective.space.dimension
            let budget = spec.budget(dimension: d)
            for (j, opt) in spec.optimizers.enumerated() {
                do {
                    _ = try OptimizerFactory.make(opt.config, dimension: d, budget: budget, seed: 0, fidelityCount: o.fidelities?.count)
                } catch let error as OptimizerError {
                    switch error {
                    case .unknownKind:
                        throw SpecError(file: file, key: "optimizers[\(j)].kind", error.description)
                    case .unknownOption(_, let option, _), .badOption(_, let option, _):
                        throw SpecError(file: file, key: "optimizers[\(j)].\(option)", error.description)
                    case .budgetTooSmall:
                        throw SpecError(file: file, key: "budget.\(d)", "\(error.description) (objective '\(o.name)' has \(d) parameters)")
                    default:
                        throw SpecError(file: file, key: "optimizers[\(j)]", error.description)
                    }
                }
            }
            for (j, r) in o.references.enumerated() {
                guard let params = r.params else { continue }
                let k = "\(key).references[\(j)].params"
                guard Set(params.keys) == Set(objective.space.names) else {
                    throw SpecError(file: file, key: k, "objective '\(o.name)' has parameters \(objective.space.names.joined(separator: ", ")); the reference names \(params.keys.sorted().joined(separator: ", "))")
                }
                if r.score == nil {
                    for p in objective.space.parameters where !(p.lower...p.upper).contains(params[p.name]!) {
                        throw SpecError(file: file, key: "\(k).\(p.name)", "\(params[p.name]!) is outside [\(p.lower), \(p.upper)]; give the measured score to place a reference outside the box")
                    }
                }
            }
            try MultiObjective.validate(o, key: key, optimizers: spec.optimizers, file: file)
            if let w = o.sumToOne {
                for name in w where !objective.space.names.contains(name) {
                    throw SpecError(file: file, key: "\(key).sum_to_one", "objective '\(o.name)' has no parameter '\(name)'")
                }
            }
        }
    }
}

/// Each run's optimizer seed: a stable hash (FNV-1a, then the SplitMix64 finalizer) of the
/// study seed, the objective's and the optimizer's names. Independent of scheduling, so any
/// `--jobs` gives the same trials; not Swift's `hashValue`, which changes between processes.
public func optimizerSeed(studySeed: Int, objective: String, optimizer: String) -> UInt64 {
    var h = fnv1a64("\(studySeed)\u{1f}\(objective)\u{1f}\(optimizer)".utf8)
    h ^= h >> 30; h = h &* 0xbf58_476d_1ce4_e5b9
    h ^= h >> 27; h = h &* 0x94d0_49bb_1331_11eb
    h ^= h >> 31
    return h
}

// MARK: Creating and opening a study in a ledger

public enum StudyStore {
    /// The study's record in the ledger, created (objectives with their extremes, reference
    /// points, sum-to-one analyses, and every run as pending) if it does not exist yet. An
    /// existing study must have been launched with the same spec.
    public static func open(_ prepared: PreparedStudy, in ledger: Ledger, measurer: (any ReferenceMeasuring)? = nil,
                            trialRoot: URL? = nil) throws -> StudyRecord {
        let spec = prepared.spec
        if let existing = try ledger.study(named: spec.name) {
            try checkSame(existing, spec, ledger)
            return existing
        }
        let root = trialRoot ?? Coordinator.defaultTrialRoot(ledgerPath: ledger.path)
        // The references of every objective: given scores, cheap evaluations, and jobs measured
        // through the objective's own attempts (all objectives' at once).
        var references = [[ReferenceRecord]](repeating: [], count: prepared.objectives.count)
        var jobs: [(objective: Int, slot: Int, job: ReferenceJob)] = []
        for (i, objective) in prepared.objectives.enumerated() {
            let o = spec.objectives[i]
            let names = objective.space.names
            var seen = Set<String>()
            for r in o.references + objective.builtInReferences + objective.referencesToMeasure where seen.insert(r.name).inserted {
                let x = r.params.map { p in names.map { p[$0] ?? .nan } }
                let params = x.map { jsonObject(names: names, values: $0) }
                if let score = r.score {
                    references[i].append(ReferenceRecord(objective: 0, method: r.name, params: params, value: score,
                                                         extras: MultiObjective.extrasJSON(r.extras)))
                } else if objective.needsAttemptDirectory {
                    let isPoint = o.references.contains { $0.name == r.name }
                    let context = AttemptContext(
                        study: spec.name, run: 0, trial: 0, attempt: 0, seed: 0,
                        directory: TrialPaths.referenceDirectory(o, study: spec.name, trialRoot: root, reference: r.name).path,
                        checkpoint: TrialPaths.referenceCheckpoint(o, study: spec.name, trialRoot: root, reference: r.name),
                        reference: isPoint ? nil : r.name)
                    jobs.append((i, references[i].count, ReferenceJob(objective: objective, spec: o, reference: r, x: x ?? [], context: context)))
                    references[i].append(ReferenceRecord(objective: 0, method: r.name, params: params, value: .nan))
                } else {
                    references[i].append(ReferenceRecord(objective: 0, method: r.name, params: params, value: try objective.evaluate(x!)))
                }
            }
        }
        if !jobs.isEmpty {
            let m = measurer ?? InProcessReferenceMeasurer()
            let outcomes = try m.measure(jobs.map(\.job))
            for (k, (i, slot, job)) in jobs.enumerated() {
                let outcome = outcomes[k]
                guard let v = outcome.value, v.isFinite else {
                    let reason = outcome.failure?.rawValue ?? "no value"
                    throw StudyError.referenceFailed(objective: job.spec.name, reference: job.reference.name,
                                                     detail: "\(reason): \(outcome.detail ?? "") (files: \(job.context.directory))")
                }
                references[i][slot].value = try MultiObjective.primaryValue(job.spec, value: v, extras: outcome.extras,
                                                                            what: "reference '\(job.reference.name)'")
                if let extras = outcome.extras, !extras.isEmpty {
                    let keys = extras.keys.sorted()
                    references[i][slot].extras = jsonObject(names: keys, values: keys.map { extras[$0]! })
                }
            }
        }
        var items: [Ledger.NewObjective] = []
        for (i, objective) in prepared.objectives.enumerated() {
            let o = spec.objectives[i]
            var (fMin, fMax): (Double, Double)
            if objective.needsAttemptDirectory {
                // A live command objective: the references' extremes (the metrics widen them by
                // every trial); without references, the trials' alone (the widest finite sentinels).
                let values = references[i].map(\.value)
                (fMin, fMax) = (values.min() ?? .greatestFiniteMagnitude, values.max() ?? -.greatestFiniteMagnitude)
            } else {
                (fMin, fMax) = try objective.extrema()
            }
            // Regret divides by f_max − f_min: an infinite extreme (a box of ±1e300) makes every
            // regret meaningless, so refuse it here rather than write NaN into summaries.
            guard fMin.isFinite, fMax.isFinite else {
                let box = objective.space.parameters.map { "\($0.name) ∈ [\($0.lower), \($0.upper)]" }.joined(separator: ", ")
                throw SpecError(file: spec.source, key: "objectives[\(i)]",
                                "objective '\(o.name)' has non-finite extremes over its box (min \(fMin), max \(fMax); \(box)); narrow its bounds")
            }
            var analysis: String?
            if let w = o.sumToOne, let a = SumToOneAnalysis.analyze(objective, weights: w, band: o.sumToOneBand, fMin: fMin, fMax: fMax) {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                analysis = String(decoding: try encoder.encode(a), as: UTF8.self)
            }
            let definition = try String(decoding: JSONEncoder().encode(o), as: UTF8.self)
            let budget = spec.budget(dimension: objective.space.dimension)
            var runs: [RunRecord] = []
            for opt in spec.optimizers {
                for seed in o.seeds ?? spec.seeds {
                    runs.append(RunRecord(study: 0, objective: 0, optimizer: opt.name, seed: seed,
                                          optimizerSeed: optimizerSeed(studySeed: seed, objective: o.name, optimizer: opt.name),
                                          budget: budget))
                }
            }
            items.append(Ledger.NewObjective(
                objective: ObjectiveRecord(study: 0, name: o.name, kind: objective.kind, definition: definition,
                                           fMin: fMin, fMax: fMax, analysis: analysis),
                references: references[i], runs: runs))
        }
        let record = StudyRecord(name: spec.name, spec: try spec.canonicalJSON(), created: Date())
        let (study, created) = try ledger.createStudy(record, objectives: items)
        if !created { try checkSame(study, spec, ledger) }  // another process created it first
        return study
    }

    static func checkSame(_ existing: StudyRecord, _ spec: StudySpec, _ ledger: Ledger) throws {
        let recorded = try StudySpec.fromJSON(existing.spec)
        guard recorded.sameStudy(as: spec) else { throw StudyError.specMismatch(study: spec.name, ledger: ledger.path) }
    }

    /// The spec a study was launched with (for `study resume NAME`).
    public static func spec(of name: String, in ledger: Ledger) throws -> (StudyRecord, StudySpec) {
        guard let study = try ledger.study(named: name) else { throw LedgerError.noSuchStudy(name) }
        do {
            return (study, try StudySpec.fromJSON(study.spec))
        } catch {
            throw StudyError.badRecord("spec of study '\(name)': \(error)")
        }
    }
}
