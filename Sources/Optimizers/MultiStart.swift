import Numerics

/// Why a local search handed control back to the multi-start driver.
enum LocalStop: Error {
    /// The next point the search needs is not in the history yet: it is the optimizer's question.
    case needs([Double])
    /// The local run spent its local budget.
    case localBudgetSpent
}

/// Answers a local search's evaluations from the told history, in order.
///
/// `ask()` of a multi-start optimizer re-runs its deterministic algorithm from the seed; every
/// evaluation the algorithm requests is answered by the next told trial, until the history is
/// exhausted: the first unanswered request is the next point to ask. So the optimizer's state is
/// a function of seed + history by construction, and replay restores it exactly.
///
/// A request for a point already evaluated in this run (exactly the same coordinates) is answered
/// from the earlier trial without spending an evaluation: compass search's back-steps and
/// coordinate re-polls cost nothing.
final class ReplayOracle {
    private let history: TrialHistory
    /// Trials consumed so far.
    private(set) var used = 0
    /// Evaluations spent by the current local run, and its limit (nil = none).
    private(set) var localUsed = 0
    private var localLimit: Int? = nil
    /// Set when an evaluation was requested from a C callback that cannot throw (Brent).
    var deferredStop: LocalStop? = nil
    private var seen: [[Double]: Double] = [:]

    init(history: TrialHistory) { self.history = history }

    func beginLocalRun(limit: Int?) { localUsed = 0; localLimit = limit; deferredStop = nil }

    /// The score of `x` (maximized), or a thrown `LocalStop`.
    func score(_ x: [Double]) throws -> Double {
        if let stop = deferredStop { throw stop }
        let x = clampUnit(x)
        if let v = seen[x] { return v }
        if let limit = localLimit, localUsed >= limit { throw LocalStop.localBudgetSpent }
        guard used < history.count else { throw LocalStop.needs(x) }
        let v = history.effective[used]
        // Key by the point as asked (the told point should be the same; order decides either way).
        seen[x] = v
        used += 1; localUsed += 1
        return v
    }

    /// For callbacks into C: the *loss* (−score) of `x`, or NaN after recording why it stopped.
    func lossOrNaN(_ x: [Double]) -> Double {
        if deferredStop != nil { return .nan }
        do { return -(try score(x)) } catch let stop as LocalStop { deferredStop = stop; return .nan } catch { return .nan }
    }
}

/// A local search run from a start point until it converges (returns) or the oracle stops it.
protocol LocalSearch {
    /// Runs one local search; `restart` counts from 0 (IPOP uses it to grow the population).
    func run(start: [Double], restart: Int, rng: RandomGenerator, oracle: ReplayOracle) throws
}

/// How many evaluations one local run may spend before the driver restarts.
public enum LocalBudget: Sendable, Equatable, CustomStringConvertible {
    /// Restart only when the local search converges.
    case unlimited
    /// A fraction of the run's total budget N (rounded up, at least 2).
    case fraction(Double)
    /// A fixed number of evaluations (at least 2).
    case count(Int)

    func limit(totalBudget: Int) -> Int? {
        switch self {
        case .unlimited: return nil
        case .fraction(let f): return max(2, Int((f * Double(totalBudget)).rounded(.up)))
        case .count(let c): return max(2, c)
        }
    }

    public var description: String {
        switch self {
        case .unlimited: return "none"
        case .fraction(let f): return "N*\(f)"
        case .count(let c): return "\(c)"
        }
    }

    /// Parses the `local_budget` option: 0 or "none" = unlimited; a number in (0, 1) = a fraction
    /// of N; a whole number ≥ 1 = a count ("1" means the whole budget, i.e. fraction 1).
    static func parse(_ value: OptionValue, kind: String) throws -> LocalBudget {
        switch value {
        case .string(let s) where s == "none" || s == "unlimited": return .unlimited
        case .string(let s):
            if let x = Double(s) { return try parse(.number(x), kind: kind) }
        case .number(let x) where x == 0: return .unlimited
        case .number(let x) where x > 0 && x < 1: return .fraction(x)
        case .number(let x) where x == 1: return .fraction(1)
        case .number(let x) where x >= 2 && x == x.rounded(): return .count(Int(x))
        default: break
        }
        throw OptimizerError.badOption(kind: kind, option: "local_budget",
            reason: "expected 0 or \"none\" (restart on convergence only), a fraction of N in (0, 1], or a whole count >= 2; got \(value)")
    }
}

/// Optimizers built on the multi-start driver report how many local runs they began.
public protocol MultiStartReporting {
    /// Local runs begun up to the last asked point (1 = the first run, no restart yet).
    var localRuns: Int { get }
}

/// Multi-start driver for the local searches (CMA-ES, pattern search, Powell): starts at a
/// uniform random point, runs the local search until it converges or spends its local budget,
/// then restarts from a new random point, for as long as it is asked. The runner enforces the
/// run's budget N; the driver never stops asking sensible points.
final class MultiStartOptimizer: Optimizer, MultiStartReporting {
    let dimension: Int
    let seed: UInt64
    let localLimit: Int?
    let search: any LocalSearch
    private var history: TrialHistory
    /// Local runs begun before the last asked point (1 = no restart yet).
    private(set) var localRuns = 0

    init(dimension: Int, budget: Int, seed: UInt64, localBudget: LocalBudget, search: any LocalSearch) {
        self.dimension = dimension; self.seed = seed; self.search = search
        localLimit = localBudget.limit(totalBudget: budget)
        history = TrialHistory(dimension: dimension)
    }

    func ask() throws -> [Double] {
        let oracle = ReplayOracle(history: history)
        let rng = RandomGenerator(seed: seed)
        var restart = 0
        var idle = 0
        while true {
            let start = rng.uniformPoint(dimension: dimension)
            oracle.beginLocalRun(limit: localLimit)
            let before = oracle.used
            do {
                try search.run(start: start, restart: restart, rng: rng, oracle: oracle)
                if let stop = oracle.deferredStop { throw stop }
            } catch LocalStop.needs(let x) {
                localRuns = restart + 1
                return x
            } catch LocalStop.localBudgetSpent {
            }
            restart += 1
            idle = oracle.used == before ? idle + 1 : 0
            // A local run that asks nothing new (every request answered from earlier points) must not
            // spin forever: after many such runs, fall back to a fresh uniform point.
            if idle > 1000 { return rng.uniformPoint(dimension: dimension) }
        }
    }

    func tell(_ point: [Double], _ value: Double?) throws { try history.append(point, value) }
}
