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
            let u = try opt.ask()
            let v = f(f.space.fromUnit(u))
            try opt.tell(u, -v)
            best = min(best, v)
            points.append(u)
            curve.append((best - range.min) / (range.max - range.min))
        }
        return Result(bestValue: best, regret: curve.last ?? 1, curve: curve, points: points,
                      localRuns: (opt as? MultiStartReporting)?.localRuns)
    }
}
