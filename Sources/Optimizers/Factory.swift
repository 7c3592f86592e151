/// Builds optimizers from configurations: the one place that knows every optimizer's name,
/// options and minimum budget.
public enum OptimizerFactory {
    public static let kinds = ["random"]

    /// A fresh optimizer for a run of `budget` evaluations in `dimension` parameters.
    public static func make(_ config: OptimizerConfig, dimension: Int, budget: Int, seed: UInt64) throws -> any Optimizer {
        let minimum = try minimumBudget(config, dimension: dimension)
        guard budget >= minimum else { throw OptimizerError.budgetTooSmall(kind: config.kind, budget: budget, minimum: minimum) }
        switch config.kind {
        case "random":
            try rejectUnknownOptions(config, known: [])
            return RandomSearch(dimension: dimension, seed: seed)
        default:
            throw OptimizerError.unknownKind(config.kind, known: kinds)
        }
    }

    /// The smallest budget a run of this optimizer accepts.
    public static func minimumBudget(_ config: OptimizerConfig, dimension: Int) throws -> Int {
        switch config.kind {
        case "random": return 1
        default: throw OptimizerError.unknownKind(config.kind, known: kinds)
        }
    }

    static func rejectUnknownOptions(_ config: OptimizerConfig, known: [String]) throws {
        for name in config.options.keys.sorted() where !known.contains(name) {
            throw OptimizerError.unknownOption(kind: config.kind, option: name, known: known)
        }
    }
}
