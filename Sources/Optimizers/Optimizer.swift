/// The ask/tell protocol every optimizer implements, with any number of pending trials.
///
/// Optimizers work in the unit box [0, 1]^d and *maximize* the score. Every point handed out
/// (by `ask()`, or replayed by `adopt`) is a trial with an id: 0, 1, 2, ... in hand-out order.
/// Trials are told in any order, and an optimizer never waits: while results are pending, an
/// ask still returns a point (each kind's batch behaviour and filler policy: docs/optimizers.md,
/// "Pending points"). A seeded optimizer's state is a pure function of its seed and the event
/// sequence (warm starts, then asks/adopts and tells interleaved in order), so a fresh optimizer
/// fed a ledger's events (adopting the recorded points) continues exactly as the original run.
/// Telling an id twice, an unknown id, or handing in a point of the wrong dimension or with
/// non-finite coordinates is an `OptimizerError.protocolViolation`.
public protocol Optimizer: AnyObject {
    /// The next point, in [0,1]^d; never waits for pending trials. Its id is the number of trials
    /// handed out before it (0-based; asks and adopts count).
    func ask() throws -> [Double]
    /// Replay: the next trial was handed out at `point` (the ledger is the truth, so a resume on
    /// another machine whose BLAS rounds differently continues from what was actually evaluated).
    /// Takes the place of an ask().
    func adopt(_ point: [Double]) throws
    /// The score of pending trial `id` (higher is better), in any order; nil = failed evaluation
    /// (crash, NaN, timeout: a non-finite value counts as a failure too).
    func tell(_ id: Int, _ value: Double?) throws
    /// A point evaluated outside the optimizer (warm start: a closed form, a parent), told before
    /// its first ask().
    func warmStart(_ point: [Double], _ value: Double?) throws
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
