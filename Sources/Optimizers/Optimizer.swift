/// The ask/tell protocol every optimizer implements.
///
/// Optimizers work in the unit box [0, 1]^d and *maximize* the score. The protocol is
/// sequential: each `ask()` is followed by one `tell` of that same point before the next ask.
/// A seeded optimizer is a deterministic function of its seed and what it was told, so a
/// fresh optimizer with the same seed, asked and told the ledger's trials in order, asks the
/// same points again and ends in the same state (resume relies on this).
public protocol Optimizer: AnyObject {
    /// The next point to evaluate, in [0, 1]^d.
    func ask() throws -> [Double]
    /// The score of the point from the last `ask()` (higher is better); nil when the
    /// evaluation failed (crash, NaN, timeout): optimizers treat that point as very bad.
    func tell(_ point: [Double], _ value: Double?) throws
}

/// An option value in an optimizer configuration (from a study spec or the CLI).
public enum OptionValue: Sendable, Codable, Hashable, CustomStringConvertible {
    case number(Double)
    case string(String)
    case bool(Bool)

    public var description: String {
        switch self {
        case .number(let x): return String(x)
        case .string(let s): return s
        case .bool(let b): return String(b)
        }
    }
}

/// Which optimizer, with which options (unknown options are an error, not ignored).
public struct OptimizerConfig: Sendable, Codable, Hashable {
    public var kind: String
    public var options: [String: OptionValue]

    public init(kind: String, options: [String: OptionValue] = [:]) {
        self.kind = kind; self.options = options
    }
}

public enum OptimizerError: Error, Equatable, CustomStringConvertible {
    case unknownKind(String, known: [String])
    case unknownOption(kind: String, option: String, known: [String])
    case badOption(kind: String, option: String, reason: String)
    case budgetTooSmall(kind: String, budget: Int, minimum: Int)
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .unknownKind(let k, let known):
            return "unknown optimizer '\(k)' (known: \(known.joined(separator: ", ")))"
        case .unknownOption(let k, let o, let known):
            return "optimizer '\(k)' has no option '\(o)' (options: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
        case .badOption(let k, let o, let why): return "optimizer '\(k)', option '\(o)': \(why)"
        case .budgetTooSmall(let k, let b, let m): return "optimizer '\(k)' needs a budget of at least \(m), got \(b)"
        case .protocolViolation(let what): return "ask/tell protocol violated: \(what)"
        }
    }
}
