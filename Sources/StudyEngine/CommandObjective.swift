import Foundation
import Evaluation
import Executors
import Fusion
import Ledger
import Mergekit
import Optimizers
import SafeTensors

// The `command` objective: the user's own evaluator (lm-eval, lmms-eval, any program) around
// each trial, with an optional merge of the user's checkpoints into the trial's directory first.
// Keys, placeholders and the evaluator contract: docs/studies.md, "Command objectives";
// the contract's details: docs/evaluators.md.

/// The spec of a command objective (stored in `ObjectiveSpec.command`).
public struct CommandSpec: Codable, Sendable, Equatable {
    /// The evaluator's argument list, with placeholders (no shell unless the user names one).
    public var argv: [String]
    public var environment: [String: String] = [:]
    /// Seconds one evaluation may run, and the SIGTERM → SIGKILL grace.
    public var timeout: Double?
    public var grace: Double?
    /// Retries of this objective's failed attempts and the reasons retried (nil: the study's).
    public var retries: Int?
    public var retryOn: [String]?
    public var score: ScoreSpec
    public var merge: MergeTable?
    public var constraints: [ConstraintSpec] = []
}

/// What each trial merges: the user's checkpoints, the method and its fixed parameters (the
/// searched ones are the objective's bounds), where trial checkpoints go and how many stay.
public struct MergeTable: Codable, Sendable, Equatable {
    public var base: String
    public var vlm: String
    public var expert: String
    public var method: MergeMethod
    public var fixed: [String: RecipeValue] = [:]
    /// Root of the trial checkpoints (absolute); nil: `<trials>/<study>/checkpoints`.
    public var checkpoints: String?
    /// Keep the checkpoints of the k best trials; the others are deleted once evaluated (nil: keep all).
    public var keepBest: Int?
    /// Output dtype (bf16, f16, f32); nil: the VLM's.
    public var dtype: String?
    /// The closed forms and parents measured through the evaluator when the study is created.
    public var references: [String] = CommandObjective.defaultReferences
    /// subspace merges: the SVD-factor cache directory (absolute); nil: `SubspaceCache.defaultDirectory()`.
    public var svdCache: String?

    /// The recipe of one trial, without its searched values.
    public var recipe: MergeRecipe {
        MergeRecipe(method: method, models: [.base: base, .vlm: vlm, .expert: expert], parameters: fixed)
    }
}

/// A bound on a recorded metric: a trial that violates it is infeasible (a failed trial with
/// reason `infeasible`; its measured metrics stay in its extras).
public struct ConstraintSpec: Codable, Sendable, Equatable {
    public var metric: String
    public var min: Double?
    public var max: Double?
    /// A reference's name: the bounds are then multiples of that reference's value of the metric.
    public var relativeTo: String?

    /// The absolute bounds, given the references' recorded metrics.
    func resolved(_ references: [String: [String: Double]]) throws -> (min: Double?, max: Double?, text: String) {
        guard let r = relativeTo else {
            return (min, max, [min.map { "\(metric) ≥ \($0)" }, max.map { "\(metric) ≤ \($0)" }].compactMap { $0 }.joined(separator: ", "))
        }
        guard let base = references[r]?[metric] else {
            throw StudyError.constraint("constraint on '\(metric)' relative to '\(r)': the reference '\(r)' has no recorded '\(metric)'")
        }
        guard base > 0 else {
            throw StudyError.constraint("constraint on '\(metric)' relative to '\(r)': its value \(base) is not positive, so a ratio bound is meaningless; give an absolute min/max")
        }
        let text = [min.map { "\(metric) ≥ \($0) × \(r) (\(base))" }, max.map { "\(metric) ≤ \($0) × \(r) (\(base))" }].compactMap { $0 }
        return (min.map { $0 * base }, max.map { $0 * base }, text.joined(separator: ", "))
    }
}

public final class CommandObjective: Objective, @unchecked Sendable {
    public static let defaultReferences = ["frank", "metagpt", "nan", "vlm", "expert"]
    public static let placeholders: Set<String> = ["checkpoint", "trial_dir", "params_json", "trial", "seed", "mergetune"]

    public let name: String
    public var kind: String { "command" }
    public let space: SearchSpace
    public let command: CommandSpec
    public var builtInReferences: [ReferenceSpec] { [] }
    public var needsAttemptDirectory: Bool { true }
    /// The search space of the merge (nil: global): how a point becomes the trial's recipe.
    public let mergeSpace: MergeSpaceSpec?
    /// The full fidelity's value: `{fidelity}` of the references measured at creation.
    public let fullFidelity: Int?

    init(name: String, space: SearchSpace, command: CommandSpec, mergeSpace: MergeSpaceSpec? = nil, fullFidelity: Int? = nil) {
        self.name = name; self.space = space; self.command = command; self.mergeSpace = mergeSpace; self.fullFidelity = fullFidelity
    }

    /// The recipe of the trial at `x` (the space's mapping over the merge table's recipe).
    func trialRecipe(_ merge: MergeTable, x: [Double]) throws -> MergeRecipe {
        try MergeSpaces.recipe(fixed: merge.recipe, point: named(x), space: mergeSpace)
    }

    /// The closed forms and parents of the merge table; the parents are placed in the weight
    /// plane when the objective searches exactly (vl_weight, exp_weight).
    public var referencesToMeasure: [ReferenceSpec] {
        guard let merge = command.merge else { return [] }
        let plane = space.names == ["vl_weight", "exp_weight"]
        return merge.references.map { r in
            switch r {
            case "vlm": return ReferenceSpec(name: r, params: plane ? ["vl_weight": 1, "exp_weight": 0] : nil, score: nil)
            case "expert": return ReferenceSpec(name: r, params: plane ? ["vl_weight": 0, "exp_weight": 1] : nil, score: nil)
            default: return ReferenceSpec(name: r, params: nil, score: nil)
            }
        }
    }

    public func evaluate(_ x: [Double]) throws -> Double {
        throw ObjectiveError.failed("a command objective runs its evaluator per trial (evaluateAttempt), not as a function")
    }

    /// A live objective's extremes are the references' (the metrics widen them by every trial).
    public func extrema() throws -> (minimum: Double, maximum: Double) {
        throw ObjectiveError.failed("a command objective's extremes come from its measured references")
    }

    /// The searched values by name (a reference measured without a point has none).
    func named(_ x: [Double]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: zip(space.names, x))
    }

    /// The merge of an attempt: the trial's recipe at its point, or a reference's.
    func mergeSpec(_ merge: MergeTable, x: [Double], reference: String?) throws -> MergeSpec? {
        switch reference {
        case nil:
            return try trialRecipe(merge, x: x).spec()
        case "vlm"?:
            return nil  // the VLM itself is evaluated
        case "expert"?:
            // The expert's language model in the VLM: task arithmetic with λ_V = 0, λ_R = 1.
            return try MergeRecipe(method: .taskArithmetic, models: merge.recipe.models).spec(searched: ["vl_weight": 0, "exp_weight": 1])
        case let name?:
            guard let m = MergeMethod(rawValue: name), m.isClosedForm else {
                // A user reference with params: the trial's recipe at its point.
                return try trialRecipe(merge, x: x).spec()
            }
            return try MergeRecipe(method: m, models: merge.recipe.models).spec()
        }
    }

    public func evaluateAttempt(_ x: [Double], context: AttemptContext) -> AttemptOutcome {
        let clock = ContinuousClock.now
        var outcome = run(x, context: context)
        let elapsed = ContinuousClock.now - clock
        // The whole attempt (merge + evaluation), not the evaluator's own time alone.
        outcome.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return outcome
    }

    func run(_ x: [Double], context: AttemptContext) -> AttemptOutcome {
        let dir = context.directory
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            return .failed(.submitFailed, "cannot create the attempt directory \(dir): \(error.localizedDescription)")
        }
        // The checkpoint the evaluator reads: merged now, or a parent as it is.
        var checkpoint = ""
        if let merge = command.merge {
            do {
                if let spec = try mergeSpec(merge, x: x, reference: context.reference) {
                    guard let target = context.checkpoint else {
                        return .failed(.mergeFailed, "no checkpoint directory was given for the trial's merge")
                    }
                    checkpoint = target
                    if let failure = try TrialCheckpoint.write(merge, spec: spec, to: target) { return failure }
                } else {
                    checkpoint = merge.vlm
                }
            } catch {
                return .failed(.mergeFailed, "the merge failed: \(error)")
            }
        }
        let params = named(x)
        let paramsJSON = TrialCheckpoint.json(params)
        try? AttemptFiles.writeAtomically(Data((paramsJSON + "\n").utf8), to: (dir as NSString).appendingPathComponent("params.json"))
        var values: [String: String] = [
            "checkpoint": checkpoint, "trial_dir": dir, "params_json": paramsJSON,
            "trial": context.reference ?? "\(context.trial)", "seed": "\(context.seed)",
            "mergetune": Coordinator.currentExecutable(),
        ]
        for (k, v) in params { values[k] = "\(v)" }
        if let f = context.fidelity ?? fullFidelity { values["fidelity"] = "\(f)" }
        let argv: [String]
        var environment: [String: String] = [:]
        var score = command.score
        do {
            argv = try Placeholders.expand(command.argv, values)
            for (k, v) in command.environment { environment[k] = try Placeholders.expand([v], values)[0] }
            if case let .jsonFile(path, key) = score.source {
                score.source = .jsonFile(path: try Placeholders.expand([path], values)[0], key: key)
            }
        } catch {
            return .failed(.submitFailed, "\(error)")
        }
        let evaluator = EvaluatorCommand(argv: argv, environment: environment, timeout: command.timeout,
                                         grace: command.grace ?? Supervisor.defaultGrace)
        return Evaluator.run(evaluator, score: score, directory: dir)
    }
}

/// A trial's merged checkpoint on disk: written once per trial (a retry reuses a complete one),
/// refused before it starts when the disk cannot hold it, deleted by `keep_best`.
enum TrialCheckpoint {
    /// Beside the checkpoint's tensors: the merge it holds (a retry compares it before reusing).
    static let recipeFile = "mergetune_trial_merge.json"

    static func json(_ params: [String: Double]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(params)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Merges into `target` unless it already holds this merge. Returns a failed outcome for a
    /// refusal (no space); throws for a merge error.
    static func write(_ merge: MergeTable, spec: MergeSpec, to target: String,
                      freeBytes: (String) -> Int64? = TrialCheckpoint.freeBytes) throws -> AttemptOutcome? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let record = try encoder.encode(spec)
        let marker = (target as NSString).appendingPathComponent(recipeFile)
        if FileManager.default.contents(atPath: marker) == record,
           (try? Checkpoint(path: target)) != nil {
            return nil  // this trial's merge is already there (an earlier attempt wrote it)
        }
        let dtype = try merge.dtype.map { name -> DType in
            guard let d = DType(userName: name), d.isFloatingPoint else { throw ObjectiveError.failed("dtype '\(name)' is not one of bf16, f16, f32") }
            return d
        }
        let base = try Checkpoint(path: merge.base), vlm = try Checkpoint(path: merge.vlm), expert = try Checkpoint(path: merge.expert)
        let pairing = try TensorPairing(base: base, vlm: vlm, expert: expert, outputDType: dtype)
        let needed = pairing.tensors.reduce(0) { $0 + $1.output.byteCount }
        let parent = (target as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        if let free = freeBytes(parent), free < Int64(needed) + 64 << 20 {
            return .failed(.noSpace, "not enough disk space for the trial's checkpoint: \(byteText(needed)) needed, \(byteText(Int(free))) free in \(parent); free space, lower keep_best, or set merge.checkpoints elsewhere")
        }
        var options = MergeOptions(outputDType: dtype, overwrite: true)
        options.subspaceCache = merge.svdCache
        // The checkpoint carries its recipe (provenance) and, where mergekit can express it, the
        // merge as a mergekit config, as `mergetune merge` writes them.
        let recipe = MergeRecipe(spec: spec, models: merge.recipe.models)
        options.recipe = recipe
        options.writerVersion = Ledger.writerVersion
        if let yaml = try? MergekitConfig.render(recipe) { options.extraFiles = [(MergekitConfig.fileName, yaml)] }
        _ = try Fusion.merge(base: base, vlm: vlm, expert: expert, spec: spec, to: target, options: options, pairing: pairing)
        try AttemptFiles.writeAtomically(record, to: marker)
        return nil
    }

    static func freeBytes(_ path: String) -> Int64? {
        guard let attrs = try? FileManager.default.attributesOfFileSystem(forPath: path),
              let free = attrs[.systemFreeSize] as? NSNumber else { return nil }
        return free.int64Value
    }

    static func byteText(_ n: Int) -> String {
        n >= 1 << 30 ? String(format: "%.1f GiB", Double(n) / Double(1 << 30)) : String(format: "%.1f MiB", Double(n) / Double(1 << 20))
    }
}

// MARK: The spec table

/// `kind = "command"`: keys and checks (docs/studies.md, "Command objectives").
enum CommandKind: ObjectiveKind {
    static let kind = "command"
    static let keys = ["command", "env", "timeout", "grace", "retries", "retry_on", "score", "direction", "merge", "constraints", "metrics", "fidelities"] + MergeSpaces.keys
    static let mergeKeys = ["base", "vlm", "expert", "method", "fixed", "checkpoints", "keep_best", "dtype", "references", "svd_cache"]
    static let scoreSources = ["stdout", "stdout_strict", "json", "lm-eval", "lmms-eval"]

    static func parse(_ t: TableReader, into o: inout ObjectiveSpec, baseDirectory: URL) throws {
        let file = t.file
        func path(_ p: String) -> String {
            (p.hasPrefix("/") ? URL(fileURLWithPath: p) : baseDirectory.appendingPathComponent(p)).standardizedFileURL.path
        }
        guard let list = t.table["command"]?.array, !list.isEmpty else {
            throw SpecError(file: file, key: t.key("command"), "expected the evaluator's argument list, e.g. [\"python\", \"eval.py\", \"--model\", \"{checkpoint}\"] (a shell only if you name one: [\"sh\", \"-c\", \"...\"])")
        }
        let argv = try list.enumerated().map { i, v -> String in
            guard let s = v.string else { throw SpecError(file: file, key: t.key("command[\(i)]"), "expected a string") }
            return s
        }
        // The searched parameters' names are placeholders too: the bounds' names, or a search
        // space's parameters (read from the merge table's checkpoints).
        let boundNames = t.table["bounds"]?.table.map { Array($0.keys) } ?? []
        var mergeSpace: MergeSpaceSpec? = nil
        var spaceNames: [String] = []
        if let mt = t.table["merge"]?.table, let s = try t.optionalString("space"), s != GlobalSpace.name {
            let preliminary = try parseMerge(TableReader(table: mt, file: file, path: t.key("merge")), path: path)
            mergeSpace = try MergeSpaces.parse(t, context: MergeSpaces.commandContext(preliminary))
            if let mergeSpace {
                spaceNames = MergeSpaces.kind(of: mergeSpace).parameters(mergeSpace, method: preliminary.method, fixed: preliminary.fixed).map(\.name)
            }
        } else if let k = MergeSpaces.keys.first(where: { t.table[$0] != nil && $0 != "space" }) ?? (t.table["merge"] == nil && t.table["space"] != nil ? "space" : nil) {
            throw SpecError(file: file, key: t.key(k), t.table["merge"] == nil ? "a search space maps points to merges: it needs a merge table ([objectives.merge])" : "only with a search space (space = \"frank_scaled\", \"per_layer\", ...)")
        }
        guard !boundNames.isEmpty || mergeSpace != nil else {
            throw SpecError(file: file, key: t.key("bounds"), "a command objective names its searched parameters and their bounds, e.g. bounds = { vl_weight = [0, 2], exp_weight = [0, 2] }")
        }
        // {fidelity} (the fidelity's value) exists only for an objective with fidelities.
        try FidelitySupport.parse(t, into: &o)
        let known = CommandObjective.placeholders.union(mergeSpace == nil ? boundNames : spaceNames).union(o.fidelities == nil ? [] : ["fidelity"])
        do { try Placeholders.check(argv, known: known) } catch {
            throw SpecError(file: file, key: t.key("command"), "\(error)")
        }
        if let warning = Evaluator.lmEvalCacheWarning(argv: argv) {
            throw SpecError(file: file, key: t.key("command"), warning)
        }
        var environment: [String: String] = [:]
        if let env = t.table["env"] {
            guard let table = env.table else { throw SpecError(file: file, key: t.key("env"), "expected a table like { HF_HUB_OFFLINE = \"1\" }") }
            for k in table.keys {
                guard let v = table[k]?.string else { throw SpecError(file: file, key: t.key("env.\(k)"), "expected a string") }
                do { try Placeholders.check([v], known: known) } catch { throw SpecError(file: file, key: t.key("env.\(k)"), "\(error)") }
                environment[k] = v
            }
        }
        if o.fidelities != nil, !Placeholders.names(in: argv + Array(environment.values)).contains("fidelity") {
            throw SpecError(file: file, key: t.key("fidelities"), "the evaluator must get the fidelity: use {fidelity} in command or env (e.g. \"--limit\", \"{fidelity}\")")
        }
        func seconds(_ k: String) throws -> Double? {
            guard let v = t.table[k] else { return nil }
            guard let x = StudySpec.number(v), x.isFinite, x > 0 else { throw SpecError(file: file, key: t.key(k), "expected seconds > 0") }
            return x
        }
        var spec = CommandSpec(argv: argv, environment: environment, timeout: try seconds("timeout"), grace: try seconds("grace"),
                               score: try parseScore(t, known: known))
        if let v = t.table["retries"] {
            guard let n = v.int, n >= 0 else { throw SpecError(file: file, key: t.key("retries"), "expected a non-negative integer") }
            spec.retries = n
        }
        if let v = t.table["retry_on"] {
            guard let list = v.array else { throw SpecError(file: file, key: t.key("retry_on"), "expected a list of failure reasons") }
            spec.retryOn = try list.enumerated().map { i, r in
                guard let s = r.string, FailureReason(rawValue: s) != nil else {
                    throw SpecError(file: file, key: t.key("retry_on[\(i)]"), "expected one of \(FailureReason.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return s
            }
        }
        if let m = t.table["merge"] {
            guard let mt = m.table else { throw SpecError(file: file, key: t.key("merge"), "expected a table ([objectives.merge])") }
            let r = TableReader(table: mt, file: file, path: t.key("merge"))
            try r.allowOnly(mergeKeys)
            var merge = try parseMerge(r, path: path)
            let method = merge.method
            if let mergeSpace {
                // The recipe must accept the space's point at the middle of its default box.
                let params = MergeSpaces.kind(of: mergeSpace).parameters(mergeSpace, method: method, fixed: merge.fixed)
                let mid = Dictionary(uniqueKeysWithValues: params.map { ($0.name, ($0.lower + $0.upper) / 2) })
                do { _ = try MergeSpaces.recipe(fixed: merge.recipe, point: mid, space: mergeSpace).spec() } catch {
                    throw SpecError(file: file, key: r.key("fixed"), "\(error)")
                }
            } else {
                // The recipe must accept every searched name at some value inside its bounds.
                let info = MergeMethodRegistry.info(method)
                for name in boundNames {
                    guard let p = info.parameters.first(where: { $0.name == name }), p.searchable else {
                        let searchable = info.parameters.filter(\.searchable).map(\.name)
                        throw SpecError(file: file, key: t.key("bounds.\(name)"), "method '\(method.rawValue)' cannot search '\(name)' (searchable: \(searchable.isEmpty ? "none" : searchable.joined(separator: ", ")))")
                    }
                    if merge.fixed[name] != nil {
                        throw SpecError(file: file, key: r.key("fixed.\(name)"), "'\(name)' is both searched (bounds) and fixed")
                    }
                }
                do { _ = try merge.recipe.spec(searched: Dictionary(uniqueKeysWithValues: boundNames.map { ($0, midpoint(t, $0)) })) } catch {
                    throw SpecError(file: file, key: r.key("fixed"), "\(error)")
                }
            }
            if let c = try r.optionalString("checkpoints") { merge.checkpoints = path(c) }
            if let c = try r.optionalString("svd_cache") { merge.svdCache = path(c) }
            if let k = mt["keep_best"] {
                guard let n = k.int, n >= 1 else { throw SpecError(file: file, key: r.key("keep_best"), "expected a positive integer (checkpoints of the k best trials stay)") }
                merge.keepBest = n
            }
            if let d = try r.optionalString("dtype") {
                guard let dt = DType(userName: d), dt.isFloatingPoint else { throw SpecError(file: file, key: r.key("dtype"), "expected one of bf16, f16, f32") }
                merge.dtype = d
            }
            if let refs = mt["references"] {
                guard let list = refs.array, let names = Optional(list.compactMap(\.string)), names.count == list.count,
                      Set(names).count == names.count else {
                    throw SpecError(file: file, key: r.key("references"), "expected a list of names, each once, from \(CommandObjective.defaultReferences.joined(separator: ", "))")
                }
                for n in names where !CommandObjective.defaultReferences.contains(n) {
                    throw SpecError(file: file, key: r.key("references"), "unknown reference '\(n)' (known: \(CommandObjective.defaultReferences.joined(separator: ", ")))")
                }
                merge.references = names
            }
            spec.merge = merge
        }
        spec.constraints = try parseConstraints(t, references: spec.merge?.references ?? [],
                                                none: "none: it has no merge table")
        o.command = spec
        o.space = mergeSpace
        o.metrics = try MultiObjective.parseMetrics(t, known: spec.score.metrics.keys.sorted() + [ScoreSpec.scoreKey])
        o.name = try t.optionalString("name") ?? "command" + (spec.merge.map { "-\($0.method.rawValue)" } ?? "")
    }

    /// `[[objectives.constraints]]` (metric, min/max, relative_to one of `references`): command and
    /// testbed objectives.
    static func parseConstraints(_ t: TableReader, references: [String], none: String) throws -> [ConstraintSpec] {
        let file = t.file
        guard let c = t.table["constraints"] else { return [] }
        guard let list = c.array else { throw SpecError(file: file, key: t.key("constraints"), "expected [[objectives.constraints]] tables") }
        return try list.enumerated().map { i, item in
            let k = t.key("constraints[\(i)]")
            guard let ct = item.table else { throw SpecError(file: file, key: k, "expected a table") }
            let r = TableReader(table: ct, file: file, path: k)
            try r.allowOnly(["metric", "min", "max", "relative_to"])
            let lo = try ct["min"].map { v -> Double in
                guard let x = StudySpec.number(v), x.isFinite else { throw SpecError(file: file, key: r.key("min"), "expected a number") }
                return x
            }
            let hi = try ct["max"].map { v -> Double in
                guard let x = StudySpec.number(v), x.isFinite else { throw SpecError(file: file, key: r.key("max"), "expected a number") }
                return x
            }
            guard lo != nil || hi != nil else { throw SpecError(file: file, key: k, "a constraint needs min, max or both") }
            let relative = try r.optionalString("relative_to")
            if let rel = relative, !references.contains(rel) {
                throw SpecError(file: file, key: r.key("relative_to"), "'\(rel)' is not a reference this objective measures (\(references.isEmpty ? none : references.joined(separator: ", ")))")
            }
            return ConstraintSpec(metric: try r.requiredString("metric"), min: lo, max: hi, relativeTo: relative)
        }
    }

    /// The merge table's checkpoints, method and fixed values (the searched names are checked by the caller).
    static func parseMerge(_ r: TableReader, path: (String) -> String) throws -> MergeTable {
        let file = r.file, mt = r.table
        let methodName = try r.optionalString("method") ?? "task_arithmetic"
        guard let method = MergeMethod(rawValue: methodName) else {
            throw SpecError(file: file, key: r.key("method"), "unknown method '\(methodName)' (known: \(MergeMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var merge = MergeTable(base: path(try r.requiredString("base")), vlm: path(try r.requiredString("vlm")),
                               expert: path(try r.requiredString("expert")), method: method)
        for (role, p) in [("base", merge.base), ("vlm", merge.vlm), ("expert", merge.expert)] where !FileManager.default.fileExists(atPath: p) {
            throw SpecError(file: file, key: r.key(role), "no checkpoint at \(p)")
        }
        if let f = mt["fixed"] {
            guard let ft = f.table else { throw SpecError(file: file, key: r.key("fixed"), "expected a table like { normalize = true }") }
            for k in ft.keys {
                let v = ft[k]!
                if let b = v.bool { merge.fixed[k] = .bool(b) }
                else if let x = StudySpec.number(v) { merge.fixed[k] = .number(x) }
                else if let s = v.string { merge.fixed[k] = .string(s) }
                else if let a = v.array, let xs = Optional(a.compactMap(StudySpec.number)), xs.count == a.count { merge.fixed[k] = .list(xs) }
                else { throw SpecError(file: file, key: r.key("fixed.\(k)"), "expected a number, boolean, string or list of numbers") }
            }
        }
        return merge
    }

    /// The middle of a bound (for checking the recipe at parse time).
    static func midpoint(_ t: TableReader, _ name: String) -> Double {
        guard let pair = t.table["bounds"]?.table?[name]?.array, pair.count == 2,
              let a = StudySpec.number(pair[0]), let b = StudySpec.number(pair[1]) else { return 0 }
        return (a + b) / 2
    }

    static func parseScore(_ t: TableReader, known: Set<String>) throws -> ScoreSpec {
        let file = t.file
        var directionName = try t.optionalString("direction") ?? "maximize"
        guard let value = t.table["score"] else {
            throw SpecError(file: file, key: t.key("score"), "where the score comes from: one of \(scoreSources.joined(separator: ", ")), or a table { source = \"json\", path = \"{trial_dir}/metrics.json\", key = \"score\" }")
        }
        var source: ScoreSpec.Source
        var metrics: [String: String] = [:]
        var weights: [String: Double]?
        func named(_ s: String, key: String) throws -> ScoreSpec.Source {
            switch s {
            case "stdout": return .stdout
            case "stdout_strict": return .stdoutStrict
            case "lm-eval": return .lmEval
            case "lmms-eval": return .lmmsEval
            case "json": throw SpecError(file: file, key: key, "a json score needs a table { source = \"json\", path = \"{trial_dir}/out.json\", key = \"a.b\" }")
            default: throw SpecError(file: file, key: key, "unknown score source '\(s)' (known: \(scoreSources.joined(separator: ", ")))")
            }
        }
        if let s = value.string {
            source = try named(s, key: t.key("score"))
        } else if let st = value.table {
            let r = TableReader(table: st, file: file, path: t.key("score"))
            try r.allowOnly(["source", "path", "key", "metrics", "weights", "direction"])
            let s = try r.requiredString("source")
            if s == "json" {
                let p = try r.requiredString("path")
                do { try Placeholders.check([p], known: known) } catch { throw SpecError(file: file, key: r.key("path"), "\(error)") }
                source = .jsonFile(path: p, key: try r.optionalString("key") ?? "score")
            } else {
                source = try named(s, key: r.key("source"))
            }
            if let m = st["metrics"] {
                guard let mt = m.table else { throw SpecError(file: file, key: r.key("metrics"), "expected a table { name = \"key\" }") }
                for k in mt.keys {
                    guard let v = mt[k]?.string else { throw SpecError(file: file, key: r.key("metrics.\(k)"), "expected a string (a key path, or \"task/metric,filter\" for lm-eval)") }
                    metrics[k] = v
                }
            }
            if let w = st["weights"] {
                guard let wt = w.table else { throw SpecError(file: file, key: r.key("weights"), "expected a table { metric = weight }") }
                weights = [:]
                for k in wt.keys {
                    guard let x = wt[k].flatMap(StudySpec.number), x.isFinite else { throw SpecError(file: file, key: r.key("weights.\(k)"), "expected a number") }
                    guard metrics[k] != nil else { throw SpecError(file: file, key: r.key("weights.\(k)"), "'\(k)' is not one of the recorded metrics (\(metrics.keys.sorted().joined(separator: ", ")))") }
                    weights![k] = x
                }
            }
            if let d = try r.optionalString("direction") { directionName = d }
        } else {
            throw SpecError(file: file, key: t.key("score"), "expected a string or a table")
        }
        guard let direction = ScoreSpec.Direction(rawValue: directionName) else {
            throw SpecError(file: file, key: t.key("direction"), "expected maximize or minimize")
        }
        let spec = ScoreSpec(source: source, metrics: metrics, weights: weights, direction: direction)
        do { try spec.validate() } catch { throw SpecError(file: file, key: t.key("score"), "\(error)") }
        return spec
    }

    static func make(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective {
        guard let command = spec.command else { throw SpecError(file: file, key: "\(key).command", "missing") }
        if let s = spec.space {
            guard let merge = command.merge else { throw SpecError(file: file, key: "\(key).merge", "a search space needs a merge table") }
            let space = try MergeSpaces.box(s, method: merge.method, fixed: merge.fixed, bounds: spec.bounds, file: file, key: key)
            return CommandObjective(name: spec.name, space: space, command: command, mergeSpace: s, fullFidelity: spec.fidelities?.last?.value)
        }
        guard let bounds = spec.bounds, !bounds.isEmpty else { throw SpecError(file: file, key: "\(key).bounds", "missing") }
        // A fixed order: the method's own parameter order with a merge table, else by name.
        let order: [String]
        if let merge = command.merge {
            let names = MergeMethodRegistry.info(merge.method).parameters.map(\.name)
            order = names.filter { n in bounds.contains { $0.name == n } }
        } else {
            order = bounds.map(\.name).sorted()
        }
        let space: SearchSpace
        do {
            space = try SearchSpace(order.map { n in
                let b = bounds.first { $0.name == n }!
                return Parameter(name: n, lower: b.lower, upper: b.upper)
            })
        } catch { throw SpecError(file: file, key: "\(key).bounds", "\(error)") }
        return CommandObjective(name: spec.name, space: space, command: command, fullFidelity: spec.fidelities?.last?.value)
    }
}
