import Foundation
import Optimizers
import TOMLKit
import Executors

/// A spec error names the file and the key it is about, e.g.
/// `Studies/x.toml: objectives[1].kernel: unknown kernel 'tps' (known: ...)`.
public struct SpecError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var key: String
    public var message: String

    public init(file: String, key: String, _ message: String) {
        self.file = file; self.key = key; self.message = message
    }

    public var description: String { key.isEmpty ? "\(file): \(message)" : "\(file): \(key): \(message)" }
}

/// An optimizer as a study compares it: a name (unique in the study; defaults to the kind) and
/// a configuration.
public struct OptimizerSpec: Codable, Sendable, Equatable {
    public var name: String
    public var config: OptimizerConfig
    public init(name: String, config: OptimizerConfig) { self.name = name; self.config = config }
}

/// A reference point: a closed-form method's coefficients (scored by the objective), a measured
/// score, or both (coefficients placed where the measured score says).
public struct ReferenceSpec: Codable, Sendable, Equatable {
    public var name: String
    public var params: [String: Double]?
    public var score: Double?
    /// Metrics measured with the score (a live objective's built-in references); nil: none.
    public var extras: [String: Double]?
    public init(name: String, params: [String: Double]?, score: Double?, extras: [String: Double]? = nil) {
        self.name = name; self.params = params; self.score = score; self.extras = extras
    }
}

/// Bounds of one parameter, in the order of the objective's parameters.
public struct BoundSpec: Codable, Sendable, Equatable {
    public var name: String
    public var lower: Double
    public var upper: Double
    public init(name: String, lower: Double, upper: Double) { self.name = name; self.lower = lower; self.upper = upper }
}

/// One objective of a study, as resolved from the spec (paths absolute, landscape checksummed).
/// Kind-specific fields are optional so that new kinds (testbed, command) add fields, not types.
public struct ObjectiveSpec: Codable, Sendable, Equatable {
    public var name: String
    public var kind: String
    /// surrogate: absolute path of the landscape CSV, its checksum at launch, and the RBF kernel.
    public var landscape: String?
    public var landscapeChecksum: String?
    public var kernel: String?
    /// surrogate: the model kind (nil: "rbf", the interpolant) and an explicit RBF smoothing
    /// (nil: 0). Absent from specs that use the defaults, so their stored form is unchanged.
    public var surrogate: String?
    public var smoothing: Double?
    /// analytic: the test function's name.
    public var function: String?
    /// Optional bounds (surrogate: inside the landscape's; analytic: replaces the function's box).
    public var bounds: [BoundSpec]?
    /// Simulated evaluation cost in milliseconds (for demos and crash tests).
    public var delayMs: Int
    public var references: [ReferenceSpec]
    /// The two weights whose sum-to-one line is analysed; nil: none.
    public var sumToOne: [String]?
    /// Half-width of the band |λ_a + λ_b − 1| ≤ band.
    public var sumToOneBand: Double
    /// Seeds of this objective's runs when they differ from the study's (e.g. fewer for a live objective).
    public var seeds: [Int]?
    /// testbed: scenario, merge method, split, metric, objective (target/retention), the
    /// testbed directory (absolute) and the DARE mask seed.
    public var scenario: String?
    public var method: String?
    public var split: String?
    public var metric: String?
    public var objective: String?
    public var directory: String?
    public var mergeSeed: Int?
    /// Reference names whose points every run evaluates first, before its optimizer's first
    /// ask (warm starts; they count toward the budget). Empty: none.
    public var warmStart: [String] = []
    /// command: the evaluator, its score, and the merge each trial writes first.
    public var command: CommandSpec?
    /// testbed and command: the search space (nil: global, the method's own parameters;
    /// SearchSpaces.swift).
    public var space: MergeSpaceSpec?
    /// Multi-objective: the maximized metrics (2 or 3, names the objective records in its trials'
    /// extras); the trial's value is the first. nil: a single objective (docs/studies.md, "Multi-objective studies").
    public var metrics: [String]?
    /// testbed: bounds on recorded metrics (a command objective keeps its own in `command`).
    public var constraints: [ConstraintSpec]?
    /// testbed, command: the fidelities a trial may be evaluated at, ascending (the last is
    /// full fidelity); nil: none (every trial at full fidelity, stored as absent). Fidelities.swift.
    public var fidelities: [FidelitySpec]?
    /// testbed, objective "frism": α of −KL + α·spectral (nil: the default, 1).
    public var frismAlpha: Double?

    public init(name: String, kind: String, landscape: String? = nil, landscapeChecksum: String? = nil,
                kernel: String? = nil, function: String? = nil, bounds: [BoundSpec]? = nil, delayMs: Int = 0,
                references: [ReferenceSpec] = [], sumToOne: [String]? = nil, sumToOneBand: Double = 0.1) {
        self.name = name; self.kind = kind; self.landscape = landscape; self.landscapeChecksum = landscapeChecksum
        self.kernel = kernel; self.function = function; self.bounds = bounds; self.delayMs = delayMs
        self.references = references; self.sumToOne = sumToOne; self.sumToOneBand = sumToOneBand
    }
}

extension ObjectiveSpec {
    enum CodingKeys: String, CodingKey {
        case name, kind, landscape, landscapeChecksum, kernel, surrogate, smoothing, function, bounds, delayMs, references, sumToOne,
             sumToOneBand, seeds, scenario, method, split, metric, objective, directory, mergeSeed, warmStart, command, space,
             metrics, constraints, fidelities, frismAlpha
    }

    // Specs stored by earlier versions lack the newer keys.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(String.self, forKey: .kind)
        landscape = try c.decodeIfPresent(String.self, forKey: .landscape)
        landscapeChecksum = try c.decodeIfPresent(String.self, forKey: .landscapeChecksum)
        kernel = try c.decodeIfPresent(String.self, forKey: .kernel)
        surrogate = try c.decodeIfPresent(String.self, forKey: .surrogate)
        smoothing = try c.decodeIfPresent(Double.self, forKey: .smoothing)
        function = try c.decodeIfPresent(String.self, forKey: .function)
        bounds = try c.decodeIfPresent([BoundSpec].self, forKey: .bounds)
        delayMs = try c.decode(Int.self, forKey: .delayMs)
        references = try c.decode([ReferenceSpec].self, forKey: .references)
        sumToOne = try c.decodeIfPresent([String].self, forKey: .sumToOne)
        sumToOneBand = try c.decode(Double.self, forKey: .sumToOneBand)
        seeds = try c.decodeIfPresent([Int].self, forKey: .seeds)
        scenario = try c.decodeIfPresent(String.self, forKey: .scenario)
        method = try c.decodeIfPresent(String.self, forKey: .method)
        split = try c.decodeIfPresent(String.self, forKey: .split)
        metric = try c.decodeIfPresent(String.self, forKey: .metric)
        objective = try c.decodeIfPresent(String.self, forKey: .objective)
        directory = try c.decodeIfPresent(String.self, forKey: .directory)
        mergeSeed = try c.decodeIfPresent(Int.self, forKey: .mergeSeed)
        warmStart = try c.decodeIfPresent([String].self, forKey: .warmStart) ?? []
        command = try c.decodeIfPresent(CommandSpec.self, forKey: .command)
        space = try c.decodeIfPresent(MergeSpaceSpec.self, forKey: .space)
        metrics = try c.decodeIfPresent([String].self, forKey: .metrics)
        constraints = try c.decodeIfPresent([ConstraintSpec].self, forKey: .constraints)
        fidelities = try c.decodeIfPresent([FidelitySpec].self, forKey: .fidelities)
        frismAlpha = try c.decodeIfPresent(Double.self, forKey: .frismAlpha)
    }
}

/// How a study's trials are run (the spec's `[executor]` table, overridable on the command
/// line). Not part of the study's identity: the same study may be continued on another
/// executor. Keys and defaults: docs/studies.md, "Executors".
public struct ExecutionSpec: Codable, Sendable, Equatable {
    /// The executor itself (kind, slots, GPUs, environment, Slurm settings), as the executor
    /// registry reads it (docs/executors.md). Kind "inprocess" (threads in the coordinator) by default.
    public var executor = ExecutorConfig(kind: "inprocess")
    /// Trials in flight per run (nil: 1 in-process, ⌈slots / runs⌉ otherwise; fixed per run
    /// when it first starts).
    public var batch: Int?
    /// Tell results in ask order (a fast trial's result waits for the earlier ones), so every
    /// optimizer's trials are a function of the spec alone; default false (tell on arrival).
    public var deterministic: Bool = false
    /// Retries of a failed attempt whose reason is in `retryOn`.
    public var retries: Int = 2
    /// Failure reasons retried (default: preempted, node_failure, lost, submit_failed).
    public var retryOn: [String]?
    /// Seconds one attempt may run (process executors).
    public var timeout: Double?

    public init() {}

    public var kind: String { executor.kind }
    /// The spec's own keys of the `[executor]` table; the others belong to the executor.
    static let coordinatorKeys = ["batch", "deterministic", "retries", "retry_on", "timeout"]
}

/// A study spec: what to compare (optimizers), on what (objectives), how often (seeds) and
/// with how many evaluations (budget by number of parameters).
public struct StudySpec: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    /// The file it was read from (for error messages); not part of the study's identity.
    public var source: String
    public var seeds: [Int]
    /// Evaluations per run, by number of parameters.
    public var budgets: [Int: Int]
    public var optimizers: [OptimizerSpec]
    public var objectives: [ObjectiveSpec]
    /// How trials run; not part of the study's identity (`sameStudy`).
    public var execution: ExecutionSpec = ExecutionSpec()
    /// The dimensions a `budget = { D = N }` table named (checked against the objectives);
    /// nil for a single budget or the defaults. Not part of the study's identity.
    public var budgetKeys: [Int]? = nil
    /// A single `budget = N`: N for every number of parameters. `budgets` still holds N for
    /// 1–16 as specs always stored it, so a ledger written before this field keeps its
    /// identity (`sameStudy`); this field carries the rule past 16 parameters.
    public var uniformBudget: Int? = nil
    /// The generation of optimizer defaults the study runs with (`optimizer_defaults`; a new
    /// spec: `OptimizerFactory.defaultsGeneration`). nil: generation 1, a study created before
    /// generations were recorded (mergetune ≤ 0.4). Not part of the study's identity: an
    /// existing study keeps the generation it was created with (docs/studies.md, "Optimizer defaults").
    public var optimizerDefaults: Int? = nil

    /// The generation this study's optimizers are built with.
    public var optimizerDefaultsGeneration: Int { optimizerDefaults ?? 1 }

    /// An optimizer's configuration with the study's generation of defaults applied.
    public func optimizerConfig(_ o: OptimizerSpec) -> OptimizerConfig {
        OptimizerFactory.config(o.config, defaultsGeneration: optimizerDefaultsGeneration)
    }

    public static let defaultSeedCount = 10
    /// The paper's budgets (40 for two parameters, 60 for three); 20 per parameter elsewhere.
    public static func defaultBudget(dimension: Int) -> Int { 20 * dimension }

    public func budget(dimension: Int) -> Int {
        budgets[dimension] ?? uniformBudget ?? StudySpec.defaultBudget(dimension: dimension)
    }

    /// Canonical JSON (sorted keys), as stored in studies.spec.
    public func canonicalJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Whether two specs describe the same study: equal but for the file they were read from
    /// and the description, neither of which changes a trial.
    public func sameStudy(as other: StudySpec) -> Bool {
        var a = self, b = other
        a.source = ""; b.source = ""
        a.description = nil; b.description = nil
        a.execution = ExecutionSpec(); b.execution = ExecutionSpec()
        a.budgetKeys = nil; b.budgetKeys = nil
        // A spec recorded before `uniformBudget` existed has only `budgets` (N for 1–16); its
        // runs carry their own budgets in the ledger, so the same file read now is the same study.
        if a.uniformBudget == nil || b.uniformBudget == nil { a.uniformBudget = nil; b.uniformBudget = nil }
        a.optimizerDefaults = nil; b.optimizerDefaults = nil
        return a == b
    }

    enum CodingKeys: String, CodingKey { case name, description, source, seeds, budgets, optimizers, objectives, execution, budgetKeys, uniformBudget, optimizerDefaults }

    public init(name: String, description: String?, source: String, seeds: [Int], budgets: [Int: Int],
                optimizers: [OptimizerSpec], objectives: [ObjectiveSpec], execution: ExecutionSpec = ExecutionSpec()) {
        self.name = name; self.description = description; self.source = source; self.seeds = seeds
        self.budgets = budgets; self.optimizers = optimizers; self.objectives = objectives; self.execution = execution
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        source = try c.decode(String.self, forKey: .source)
        seeds = try c.decode([Int].self, forKey: .seeds)
        budgets = try c.decode([Int: Int].self, forKey: .budgets)
        optimizers = try c.decode([OptimizerSpec].self, forKey: .optimizers)
        objectives = try c.decode([ObjectiveSpec].self, forKey: .objectives)
        execution = try c.decodeIfPresent(ExecutionSpec.self, forKey: .execution) ?? ExecutionSpec()
        budgetKeys = try c.decodeIfPresent([Int].self, forKey: .budgetKeys)
        uniformBudget = try c.decodeIfPresent(Int.self, forKey: .uniformBudget)
        optimizerDefaults = try c.decodeIfPresent(Int.self, forKey: .optimizerDefaults)
    }

    public static func fromJSON(_ text: String) throws -> StudySpec {
        try JSONDecoder().decode(StudySpec.self, from: Data(text.utf8))
    }
}

// MARK: Parsing TOML

extension StudySpec {
    /// Reads and validates a TOML spec. Relative landscape paths are resolved against the
    /// spec's directory. Checks here need no objective to be built; `PreparedStudy` does the rest.
    public static func load(_ url: URL) throws -> StudySpec {
        let file = url.path
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw SpecError(file: file, key: "", "cannot read the spec: \(error.localizedDescription)")
        }
        return try parse(text, file: file, baseDirectory: url.deletingLastPathComponent())
    }

    public static func parse(_ text: String, file: String, baseDirectory: URL) throws -> StudySpec {
        let root: TOMLTable
        do { root = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw SpecError(file: file, key: "", "TOML syntax error at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        }
        let r = TableReader(table: root, file: file, path: "")
        try r.allowOnly(["name", "description", "seeds", "budget", "optimizers", "objectives", "executor", "optimizer_defaults"])

        let name = try r.requiredString("name")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw SpecError(file: file, key: "name", "a study name uses letters, digits, '-', '_' and '.' only (got '\(name)')")
        }

        // seeds: a count (seeds 0..<n) or an explicit list.
        var seeds = Array(0..<defaultSeedCount)
        if let value = root["seeds"] {
            if let n = value.int {
                guard n >= 1 else { throw SpecError(file: file, key: "seeds", "needs at least one seed (got \(n))") }
                seeds = Array(0..<n)
            } else if let list = value.array {
                seeds = try list.enumerated().map { i, v in
                    guard let s = v.int, s >= 0 else { throw SpecError(file: file, key: "seeds[\(i)]", "a seed is a non-negative integer") }
                    return s
                }
                guard !seeds.isEmpty else { throw SpecError(file: file, key: "seeds", "needs at least one seed") }
                guard Set(seeds).count == seeds.count else { throw SpecError(file: file, key: "seeds", "a seed appears twice") }
            } else {
                throw SpecError(file: file, key: "seeds", "expected a count or a list of integers")
            }
        }

        // budget: one number for every objective, or a table by number of parameters.
        var budgets: [Int: Int] = [2: defaultBudget(dimension: 2), 3: defaultBudget(dimension: 3)]
        var budgetKeys: [Int]? = nil
        var uniformBudget: Int? = nil
        if let value = root["budget"] {
            if let n = value.int {
                guard n >= 1 else { throw SpecError(file: file, key: "budget", "must be at least 1 (got \(n))") }
                // Every dimension: uniformBudget; 1–16 also in budgets, as stored since v1 (identity).
                budgets = [:]
                for d in 1...16 { budgets[d] = n }
                uniformBudget = n
            } else if let table = value.table {
                budgetKeys = []
                for key in table.keys {
                    guard let d = Int(key), d >= 1 else {
                        throw SpecError(file: file, key: "budget.\(key)", "keys are numbers of parameters, e.g. budget.2 = 40")
                    }
                    guard let n = table[key]?.int, n >= 1 else {
                        throw SpecError(file: file, key: "budget.\(key)", "expected a positive integer")
                    }
                    budgets[d] = n
                    budgetKeys?.append(d)
                }
            } else {
                throw SpecError(file: file, key: "budget", "expected an integer or a table like { 2 = 40, 3 = 60 }")
            }
        }

        // optimizers: [[optimizers]] kind = "...", name = "..." (optional), other keys are options.
        guard let optimizerList = root["optimizers"]?.array, !optimizerList.isEmpty else {
            throw SpecError(file: file, key: "optimizers", "list at least one optimizer ([[optimizers]] kind = \"random\")")
        }
        var optimizers: [OptimizerSpec] = []
        for (i, item) in optimizerList.enumerated() {
            let key = "optimizers[\(i)]"
            guard let table = item.table else { throw SpecError(file: file, key: key, "expected a table") }
            let t = TableReader(table: table, file: file, path: key)
            let kind = try t.requiredString("kind")
            guard OptimizerFactory.allKinds.contains(kind) else {
                throw SpecError(file: file, key: "\(key).kind", "unknown optimizer '\(kind)' (known: \(OptimizerFactory.allKinds.joined(separator: ", ")))")
            }
            let optName = try t.optionalString("name") ?? kind
            guard !optimizers.contains(where: { $0.name == optName }) else {
                throw SpecError(file: file, key: "\(key).name", "optimizer name '\(optName)' appears twice; give each configuration its own name")
            }
            var options: [String: OptionValue] = [:]
            for optionKey in table.keys where optionKey != "kind" && optionKey != "name" {
                let v = table[optionKey]!
                if let b = v.bool { options[optionKey] = .bool(b) }
                else if let n = v.int { options[optionKey] = .number(Double(n)) }
                else if let x = v.double { options[optionKey] = .number(x) }
                else if let s = v.string { options[optionKey] = .string(s) }
                else { throw SpecError(file: file, key: "\(key).\(optionKey)", "an option is a number, a string or a boolean") }
            }
            optimizers.append(OptimizerSpec(name: optName, config: OptimizerConfig(kind: kind, options: options)))
        }

        guard let objectiveList = root["objectives"]?.array, !objectiveList.isEmpty else {
            throw SpecError(file: file, key: "objectives", "list at least one objective ([[objectives]])")
        }
        var objectives: [ObjectiveSpec] = []
        for (i, item) in objectiveList.enumerated() {
            let key = "objectives[\(i)]"
            guard let table = item.table else { throw SpecError(file: file, key: key, "expected a table") }
            let o = try parseObjective(table, file: file, key: key, baseDirectory: baseDirectory)
            guard !objectives.contains(where: { $0.name == o.name }) else {
                throw SpecError(file: file, key: "\(key).name", "objective name '\(o.name)' appears twice")
            }
            objectives.append(o)
        }

        var execution = ExecutionSpec()
        if let value = root["executor"] {
            guard let table = value.table else { throw SpecError(file: file, key: "executor", "expected a table ([executor] kind = \"local\")") }
            execution = try parseExecution(table, file: file)
        }
        var parsed = StudySpec(name: name, description: try r.optionalString("description"), source: file, seeds: seeds,
                               budgets: budgets, optimizers: optimizers, objectives: objectives, execution: execution)
        parsed.budgetKeys = budgetKeys?.sorted()
        parsed.uniformBudget = uniformBudget
        parsed.optimizerDefaults = OptimizerFactory.defaultsGeneration
        if let v = root["optimizer_defaults"] {
            guard let g = v.int, (1...OptimizerFactory.defaultsGeneration).contains(g) else {
                throw SpecError(file: file, key: "optimizer_defaults",
                                "expected a generation of optimizer defaults from 1 to \(OptimizerFactory.defaultsGeneration) (docs/studies.md, \"Optimizer defaults\")")
            }
            parsed.optimizerDefaults = g
        }
        return parsed
    }

    static func parseExecution(_ table: TOMLTable, file: String) throws -> ExecutionSpec {
        var e = ExecutionSpec()
        func positive(_ k: String) throws -> Int? {
            guard let v = table[k] else { return nil }
            guard let n = v.int, n >= 1 else { throw SpecError(file: file, key: "executor.\(k)", "expected a positive integer") }
            return n
        }
        e.batch = try positive("batch")
        _ = try positive("slots")
        if let v = table["deterministic"] {
            guard let b = v.bool else { throw SpecError(file: file, key: "executor.deterministic", "expected true or false") }
            e.deterministic = b
        }
        if let v = table["retries"] {
            guard let n = v.int, n >= 0 else { throw SpecError(file: file, key: "executor.retries", "expected a non-negative integer") }
            e.retries = n
        }
        if let v = table["retry_on"] {
            guard let list = v.array else { throw SpecError(file: file, key: "executor.retry_on", "expected a list of failure reasons") }
            e.retryOn = try list.enumerated().map { i, r in
                guard let s = r.string, FailureReason(rawValue: s) != nil else {
                    throw SpecError(file: file, key: "executor.retry_on[\(i)]", "expected one of \(FailureReason.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return s
            }
        }
        if let v = table["timeout"] {
            guard let x = number(v), x > 0, x.isFinite else { throw SpecError(file: file, key: "executor.timeout", "expected seconds > 0") }
            e.timeout = x
        }
        // The rest is the executor's own configuration, read by the executor registry's type.
        var rest: [String: Any] = ["kind": "inprocess"]
        for k in table.keys.sorted() where !ExecutionSpec.coordinatorKeys.contains(k) {
            guard ExecutorConfig.keys.contains(k) else {
                throw SpecError(file: file, key: "executor.\(k)", "unknown key (allowed: \((ExecutionSpec.coordinatorKeys + ExecutorConfig.keys).sorted().joined(separator: ", ")))")
            }
            rest[k] = try jsonValue(table[k]!, file: file, key: "executor.\(k)")
        }
        do {
            let data = try JSONSerialization.data(withJSONObject: rest)
            e.executor = try JSONDecoder().decode(ExecutorConfig.self, from: data)
        } catch let error as DecodingError {
            var key = "executor"
            if case .typeMismatch(_, let c) = error { key += c.codingPath.map { ".\($0.stringValue)" }.joined() }
            throw SpecError(file: file, key: key, "wrong type: \(error)")
        }
        guard ExecutorRegistry.kinds.contains(e.kind) else {
            throw SpecError(file: file, key: "executor.kind", "unknown executor '\(e.kind)' (known: \(ExecutorRegistry.kinds.joined(separator: ", ")))")
        }
        return e
    }

    /// A TOML value as the JSON value a Codable config decodes.
    static func jsonValue(_ v: TOMLValueConvertible, file: String, key: String) throws -> Any {
        if let b = v.bool { return b }
        if let n = v.int { return n }
        if let x = v.double { return x }
        if let s = v.string { return s }
        if let list = v.array { return try list.enumerated().map { try jsonValue($1, file: file, key: "\(key)[\($0)]") } }
        if let t = v.table { return try Dictionary(uniqueKeysWithValues: t.keys.map { ($0, try jsonValue(t[$0]!, file: file, key: "\(key).\($0)")) }) }
        throw SpecError(file: file, key: key, "unsupported value")
    }

    /// The keys every objective kind takes; each kind adds its own (`ObjectiveKind.keys`).
    static let commonObjectiveKeys = ["name", "kind", "bounds", "delay_ms", "references", "sum_to_one", "sum_to_one_band",
                                      "seeds", "warm_start"]

    static func parseObjective(_ table: TOMLTable, file: String, key: String, baseDirectory: URL) throws -> ObjectiveSpec {
        let t = TableReader(table: table, file: file, path: key)
        let kindName = try t.requiredString("kind")
        guard let kind = ObjectiveRegistry.kind(named: kindName) else {
            throw SpecError(file: file, key: "\(key).kind", "unknown objective kind '\(kindName)' (known: \(ObjectiveRegistry.names.joined(separator: ", ")))")
        }
        try MergeSpaces.rejectOnNonMerging(t, kind: kindName)
        try t.allowOnly(commonObjectiveKeys + kind.keys)
        var o = ObjectiveSpec(name: "", kind: kindName)
        try kind.parse(t, into: &o, baseDirectory: baseDirectory)
        if let value = table["seeds"] {
            if let n = value.int {
                guard n >= 1 else { throw SpecError(file: file, key: "\(key).seeds", "needs at least one seed (got \(n))") }
                o.seeds = Array(0..<n)
            } else if let list = value.array {
                let seeds = try list.enumerated().map { i, v in
                    guard let s = v.int, s >= 0 else { throw SpecError(file: file, key: "\(key).seeds[\(i)]", "a seed is a non-negative integer") }
                    return s
                }
                guard !seeds.isEmpty, Set(seeds).count == seeds.count else {
                    throw SpecError(file: file, key: "\(key).seeds", "needs at least one seed, none twice")
                }
                o.seeds = seeds
            } else {
                throw SpecError(file: file, key: "\(key).seeds", "expected a count or a list of integers")
            }
        }
        if let b = table["bounds"] {
            guard let bt = b.table else { throw SpecError(file: file, key: "\(key).bounds", "expected a table like { vl_weight = [0, 2] }") }
            o.bounds = try bt.keys.map { name in
                let k = "\(key).bounds.\(name)"
                guard let pair = bt[name]?.array, pair.count == 2, let lo = number(pair[0]), let hi = number(pair[1]) else {
                    throw SpecError(file: file, key: k, "expected [lower, upper]")
                }
                guard lo.isFinite, hi.isFinite, lo < hi else { throw SpecError(file: file, key: k, "needs finite lower < upper (got [\(lo), \(hi)])") }
                return BoundSpec(name: name, lower: lo, upper: hi)
            }
        }
        if let d = table["delay_ms"] {
            guard let ms = d.int, ms >= 0 else { throw SpecError(file: file, key: "\(key).delay_ms", "expected a non-negative integer") }
            o.delayMs = ms
        }
        if let s = table["sum_to_one"] {
            guard let list = s.array, list.count == 2, let a = list[0].string, let b = list[1].string, a != b else {
                throw SpecError(file: file, key: "\(key).sum_to_one", "expected two parameter names, e.g. [\"vl_weight\", \"exp_weight\"]")
            }
            o.sumToOne = [a, b]
        }
        if let s = table["sum_to_one_band"] {
            guard let w = number(s), w > 0 else { throw SpecError(file: file, key: "\(key).sum_to_one_band", "expected a positive number") }
            o.sumToOneBand = w
        }
        if let refs = table["references"] {
            guard let list = refs.array else { throw SpecError(file: file, key: "\(key).references", "expected [[objectives.references]] tables") }
            for (j, item) in list.enumerated() {
                let k = "\(key).references[\(j)]"
                guard let rt = item.table else { throw SpecError(file: file, key: k, "expected a table") }
                let r = TableReader(table: rt, file: file, path: k)
                try r.allowOnly(["name", "params", "score"])
                let name = try r.requiredString("name")
                var params: [String: Double]?
                if let p = rt["params"] {
                    guard let pt = p.table else { throw SpecError(file: file, key: "\(k).params", "expected a table like { vl_weight = 0.9 }") }
                    params = try Dictionary(uniqueKeysWithValues: pt.keys.map { name in
                        guard let x = pt[name].flatMap(number), x.isFinite else {
                            throw SpecError(file: file, key: "\(k).params.\(name)", "expected a number")
                        }
                        return (name, x)
                    })
                }
                var score: Double?
                if let s = rt["score"] {
                    guard let x = number(s), x.isFinite else { throw SpecError(file: file, key: "\(k).score", "expected a number") }
                    score = x
                }
                guard params != nil || score != nil else {
                    throw SpecError(file: file, key: k, "a reference needs params (scored by the objective), a score, or both")
                }
                guard !o.references.contains(where: { $0.name == name }) else {
                    throw SpecError(file: file, key: "\(k).name", "reference '\(name)' appears twice")
                }
                o.references.append(ReferenceSpec(name: name, params: params, score: score))
            }
        }
        if let w = table["warm_start"] {
            guard let list = w.array, let names = Optional(list.compactMap { $0.string }), names.count == list.count, !names.isEmpty else {
                throw SpecError(file: file, key: "\(key).warm_start", "expected a list of reference names, e.g. [\"frank\", \"metagpt\"]")
            }
            guard Set(names).count == names.count else { throw SpecError(file: file, key: "\(key).warm_start", "a reference appears twice") }
            o.warmStart = names
        }
        return o
    }

    static func number(_ v: TOMLValueConvertible) -> Double? {
        if let x = v.double { return x }
        if let n = v.int { return Double(n) }
        return nil
    }
}

/// Typed access to one TOML table, with errors that name the file and the full key.
struct TableReader {
    let table: TOMLTable
    let file: String
    let path: String

    func key(_ k: String) -> String { path.isEmpty ? k : "\(path).\(k)" }

    func requiredString(_ k: String) throws -> String {
        guard let v = table[k] else { throw SpecError(file: file, key: key(k), "missing") }
        guard let s = v.string else { throw SpecError(file: file, key: key(k), "expected a string") }
        return s
    }

    func optionalString(_ k: String) throws -> String? {
        guard let v = table[k] else { return nil }
        guard let s = v.string else { throw SpecError(file: file, key: key(k), "expected a string") }
        return s
    }

    /// Unknown keys are errors: a typo must not silently fall back to a default.
    func allowOnly(_ allowed: [String]) throws {
        for k in table.keys.sorted() where !allowed.contains(k) {
            throw SpecError(file: file, key: key(k), "unknown key (allowed: \(allowed.joined(separator: ", ")))")
        }
    }
}
