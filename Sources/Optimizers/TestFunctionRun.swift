/// Runs an optimizer on an analytic test function under an exact budget, as a study would:
/// N asks, each told −f (test functions are minimized, optimizers maximize).
public enum TestFunctionRun {
    public struct Result: Sendable {
        /// f at the best point found.
        public var bestValue: Double
        /// Normalized regret (f_best − f_min)/(f_max − f_min).
        public var regret: Double
        /// Normalized regret after each evaluation.
        public var curve: [Double]
        /// The asked points (unit box).
        public var points: [[Double]]
        /// Local runs begun by a multi-start optimizer (nil for the others).
        public var localRuns: Int?
    }

    /// f_min (published) and f_max (maximum over a dense grid of the box: 401² in 2-D, 81³ in 3-D).
    public static func range(of f: TestFunction) -> (min: Double, max: Double) {
        let d = f.space.dimension
        let steps = d <= 2 ? 400 : (d == 3 ? 80 : 10)
        var worst = -Double.infinity
        var index = [Int](repeating: 0, count: d)
        while true {
            let u = index.map { Double($0) / Double(steps) }
            worst = max(worst, f(f.space.fromUnit(u)))
            var k = 0
            while k < d { index[k] += 1; if index[k] <= steps { break }; index[k] = 0; k += 1 }
            if k == d { break }
        }
        return (f.knownMinimum, worst)
    }

    public static func run(_ f: TestFunction, config: OptimizerConfig, budget: Int, seed: UInt64,
                           range: (min: Double, max: Double)) throws -> Result {
        let opt = try OptimizerFactory.make(config, dimension: f.space.dimension, budget: budget, seed: seed)
        var best = Double.infinity
        var curve: [Double] = [], points: [[Double]] = []
        for _ in 0..<budget {
            let id = points.count
            let u = try opt.ask()
            let v = f(f.space.fromUnit(u))
            try opt.tell(id, -v)
            best = min(best, v)
            points.append(u)
            curve.append((best - range.min) / (range.max - range.min))
        }
        return Result(bestValue: best, regret: curve.last ?? 1, curve: curve, points: points,
                      localRuns: (opt as? MultiStartReporting)?.localRuns)
    }
}

/// A run with q asynchronous evaluation slots on a virtual clock: every slot starts a trial as
/// soon as it is free (ask), and a trial's result arrives `delay × U(1 − jitter, 1 + jitter)`
/// after it started (so results come back out of order when jitter > 0). No real time passes:
/// this measures what pending points cost an optimizer, not its speed.
public enum AsyncRun {
    public struct Completion: Sendable {
        /// Virtual time the result arrived, and the best score told so far.
        public var time: Double
        public var best: Double
    }

    /// `score` is maximized; nil = failed evaluation. Returns the completions in arrival order
    /// (exactly `budget` of them) and the points in id order.
    public static func run(_ opt: any Optimizer, budget: Int, slots q: Int, delay: Double = 1, jitter: Double = 0,
                           seed: UInt64, score: ([Double]) -> Double?) throws -> (completions: [Completion], points: [[Double]]) {
        var clockRNG = SplitMix(seed: seed ^ 0xC10C)
        var running: [(end: Double, id: Int, value: Double?)] = []
        var points: [[Double]] = []
        var completions: [Completion] = []
        var best = -Double.infinity
        func start(at t: Double) throws {
            let id = points.count
            let x = try opt.ask()
            points.append(x)
            let d = delay * (1 + jitter * (2 * clockRNG.uniform() - 1))
            running.append((t + d, id, score(x)))
        }
        for _ in 0..<min(q, budget) { try start(at: 0) }
        while !running.isEmpty {
            // The earliest result (ties: the lower id) arrives and frees its slot.
            let i = running.indices.min { (running[$0].end, running[$0].id) < (running[$1].end, running[$1].id) }!
            let r = running.remove(at: i)
            try opt.tell(r.id, r.value)
            if let v = r.value { best = max(best, v) }
            completions.append(Completion(time: r.end, best: best))
            if points.count < budget { try start(at: r.end) }
        }
        return (completions, points)
    }
}

/// A tiny seeded generator for the virtual clock (independent of the optimizers' streams).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 { state = mixSeed(state, 1); return state }
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
}
