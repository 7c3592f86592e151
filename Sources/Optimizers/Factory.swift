/// Builds optimizers from configurations: the one place that knows every optimizer's name,
/// options and minimum budget. Options and defaults are documented in docs/optimizers.md.
public enum OptimizerFactory {
    public static let kinds = ["random", "sobol", "gp", "cmaes", "pattern", "powell", "parego"]

    /// The kinds that can be told metric vectors (`MultiObjectiveOptimizer`): multi-metric objectives take only these.
    public static let multiObjectiveKinds = ["random", "sobol", "parego"]

    /// Known options per kind.
    public static let options: [String: [String]] = [
        "random": [],
        "sobol": ["scramble"],
        "gp": ["initial_points", "candidates", "polish_starts", "hyper_starts", "pending", "explore", "noise_floor"],
        "cmaes": ["local_budget", "popsize", "sigma0", "tolx", "ipop", "fillers"],
        "pattern": ["local_budget", "initial_step", "step_tolerance", "fillers"],
        "powell": ["local_budget", "line_step", "line_tolerance", "ftol", "fillers"],
        "parego": ["initial_points", "candidates", "polish_starts", "hyper_starts", "pending", "rho"],
    ]

    /// The generation of the defaults above: it grows by one each time a default changes an
    /// optimizer's trials. A study records the generation it was created with and keeps it, so
    /// a ledger written by an older mergetune resumes with the optimizers it started with.
    public static let defaultsGeneration = 3

    /// What changed, per generation: (generation that changed it, kind, option, the value before).
    /// Generation 2 (mergetune 0.5): GP-BO explores in 30 % of its model asks. Generation 3
    /// (mergetune 0.6): GP-BO's noise variance floor is 1e-8 instead of 1e-6
    /// (Benchmarks/sample-efficiency.md).
    static let changedDefaults: [(generation: Int, kind: String, option: String, before: OptionValue)] = [
        (2, "gp", "explore", .number(0)),
        (3, "gp", "noise_floor", .number(1e-6)),
    ]

    /// `config` with the defaults of `generation` written out where they differ from today's
    /// (options the config sets itself are kept).
    public static func config(_ config: OptimizerConfig, defaultsGeneration generation: Int) -> OptimizerConfig {
        var c = config
        for change in changedDefaults where change.generation > generation && change.kind == c.kind && c.options[change.option] == nil {
            c.options[change.option] = change.before
        }
        return c
    }

    /// The default `local_budget` of the multi-start local searches (see docs/optimizers.md for
    /// the measurements behind it).
    public static let defaultLocalBudget: [String: LocalBudget] = [
        "cmaes": .unlimited, "pattern": .unlimited, "powell": .unlimited,
    ]

    /// A fresh optimizer for a run of `budget` evaluations in `dimension` parameters.
    public static func make(_ config: OptimizerConfig, dimension: Int, budget: Int, seed: UInt64) throws -> any Optimizer {
        guard dimension >= 1 else { throw OptimizerError.badOption(kind: config.kind, option: "dimension", reason: "needs at least one parameter") }
        let minimum = try minimumBudget(config, dimension: dimension)
        guard budget >= minimum else { throw OptimizerError.budgetTooSmall(kind: config.kind, budget: budget, minimum: minimum) }
        let o = Options(config)
        try rejectUnknownOptions(config, known: options[config.kind] ?? [])
        switch config.kind {
        case "random":
            return RandomSearch(dimension: dimension, seed: seed)
        case "sobol":
            guard dimension <= 40 else { throw OptimizerError.badOption(kind: "sobol", option: "dimension", reason: "GSL's Sobol sequence supports at most 40 parameters") }
            return try SobolSearch(dimension: dimension, seed: seed, scramble: o.bool("scramble", default: true))
        case "gp":
            var s = GPBOSettings(dimension: dimension)
            s.initialPoints = try o.int("initial_points", default: s.initialPoints, min: 1)
            s.candidates = try o.int("candidates", default: s.candidates, min: 1)
            s.polishStarts = try o.int("polish_starts", default: s.polishStarts, min: 0)
            s.hyperStarts = try o.int("hyper_starts", default: s.hyperStarts, min: 1)
            let pending = try o.string("pending", default: s.pending.rawValue, allowed: PendingStrategy.allCases.map(\.rawValue))
            s.pending = PendingStrategy(rawValue: pending)!
            s.exploration = try o.double("explore", default: s.exploration, atLeast: 0, atMost: 1)
            s.noiseFloor = try o.double("noise_floor", default: s.noiseFloor, atLeast: 1e-12, atMost: 1)
            return GPBO(dimension: dimension, seed: seed, settings: s)
        case "parego":
            var s = ParEGOSettings(dimension: dimension)
            s.gp.initialPoints = try o.int("initial_points", default: s.gp.initialPoints, min: 1)
            s.gp.candidates = try o.int("candidates", default: s.gp.candidates, min: 1)
            s.gp.polishStarts = try o.int("polish_starts", default: s.gp.polishStarts, min: 0)
            s.gp.hyperStarts = try o.int("hyper_starts", default: s.gp.hyperStarts, min: 1)
            let pending = try o.string("pending", default: s.gp.pending.rawValue, allowed: PendingStrategy.allCases.map(\.rawValue))
            s.gp.pending = PendingStrategy(rawValue: pending)!
            s.rho = try o.double("rho", default: s.rho, above: 0)
            return ParEGO(dimension: dimension, seed: seed, settings: s)
        case "cmaes":
            var search = CMAESSearch()
            search.sigma0 = try o.double("sigma0", default: search.sigma0, above: 0)
            if o.has("popsize") { search.popsize = try o.int("popsize", default: 0, min: 2) }
            search.tolX = try o.double("tolx", default: search.tolX, above: 0)
            search.ipop = try o.bool("ipop", default: true)
            return try multiStart(o, dimension: dimension, budget: budget, seed: seed, search: search)
        case "pattern":
            var search = CompassSearch()
            search.initialStep = try o.double("initial_step", default: search.initialStep, above: 0)
            search.stepTolerance = try o.double("step_tolerance", default: search.stepTolerance, above: 0)
            return try multiStart(o, dimension: dimension, budget: budget, seed: seed, search: search)
        case "powell":
            var search = PowellSearch()
            search.lineStep = try o.double("line_step", default: search.lineStep, above: 0)
            search.lineTolerance = try o.double("line_tolerance", default: search.lineTolerance, above: 0)
            search.functionTolerance = try o.double("ftol", default: search.functionTolerance, above: 0)
            return try multiStart(o, dimension: dimension, budget: budget, seed: seed, search: search)
        default:
            throw OptimizerError.unknownKind(config.kind, known: kinds)
        }
    }

    /// The smallest budget a run of this optimizer accepts.
    public static func minimumBudget(_ config: OptimizerConfig, dimension: Int) throws -> Int {
        switch config.kind {
        case "random", "sobol", "pattern", "powell": return 1
        case "cmaes":
            // One full generation of the first population.
            let o = Options(config)
            let popsize = o.has("popsize") ? try o.int("popsize", default: 0, min: 2) : CMAParameters(dimension: max(1, dimension)).lambda
            return popsize
        case "gp", "parego":
            // The initial design plus one model-based point.
            let o = Options(config)
            return try o.int("initial_points", default: GPBOSettings(dimension: max(1, dimension)).initialPoints, min: 1) + 1
        default: throw OptimizerError.unknownKind(config.kind, known: kinds)
        }
    }

    private static func multiStart(_ o: Options, dimension: Int, budget: Int, seed: UInt64, search: any LocalSearch) throws -> any Optimizer {
        let local = try o.value("local_budget").map { try LocalBudget.parse($0, kind: o.kind) } ?? defaultLocalBudget[o.kind] ?? .unlimited
        let fillers = try o.string("fillers", default: FillerPolicy.defaultPolicy.rawValue, allowed: FillerPolicy.allCases.map(\.rawValue))
        return MultiStartOptimizer(dimension: dimension, budget: budget, seed: seed, localBudget: local, search: search,
                                   fillers: FillerPolicy(rawValue: fillers)!)
    }

    static func rejectUnknownOptions(_ config: OptimizerConfig, known: [String]) throws {
        for name in config.options.keys.sorted() where !known.contains(name) {
            throw OptimizerError.unknownOption(kind: config.kind, option: name, known: known)
        }
    }
}

/// Typed access to a configuration's options, with the errors a study spec author should see.
struct Options {
    let kind: String
    let values: [String: OptionValue]
    init(_ config: OptimizerConfig) { kind = config.kind; values = config.options }

    func has(_ name: String) -> Bool { values[name] != nil }
    func value(_ name: String) -> OptionValue? { values[name] }

    func double(_ name: String, default d: Double, above lower: Double) throws -> Double {
        guard let v = values[name] else { return d }
        guard case .number(let x) = v, x.isFinite, x > lower else {
            throw OptimizerError.badOption(kind: kind, option: name, reason: "expected a number > \(lower), got \(v)")
        }
        return x
    }

    func double(_ name: String, default d: Double, atLeast lower: Double, atMost upper: Double) throws -> Double {
        guard let v = values[name] else { return d }
        guard case .number(let x) = v, x.isFinite, x >= lower, x <= upper else {
            throw OptimizerError.badOption(kind: kind, option: name, reason: "expected a number in [\(lower), \(upper)], got \(v)")
        }
        return x
    }

    func int(_ name: String, default d: Int, min lower: Int) throws -> Int {
        guard let v = values[name] else { return d }
        guard case .number(let x) = v, x.isFinite, x == x.rounded(), x >= Double(lower), x < 1e9 else {
            throw OptimizerError.badOption(kind: kind, option: name, reason: "expected a whole number >= \(lower), got \(v)")
        }
        return Int(x)
    }

    func string(_ name: String, default d: String, allowed: [String]) throws -> String {
        guard let v = values[name] else { return d }
        guard case .string(let x) = v, allowed.contains(x) else {
            throw OptimizerError.badOption(kind: kind, option: name, reason: "expected one of \(allowed.joined(separator: ", ")), got \(v)")
        }
        return x
    }

    func bool(_ name: String, default d: Bool) throws -> Bool {
        guard let v = values[name] else { return d }
        guard case .bool(let b) = v else {
            throw OptimizerError.badOption(kind: kind, option: name, reason: "expected true or false, got \(v)")
        }
        return b
    }
}
