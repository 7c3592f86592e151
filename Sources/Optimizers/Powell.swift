import MergetuneNumerics

/// Powell's conjugate-direction method (M. J. D. Powell, "An efficient method for finding the
/// minimum of a function of several variables without calculating derivatives", Computer
/// Journal 7(2), 1964), in the form of Numerical Recipes §10.7 and scipy's `fmin_powell`:
/// line searches along each direction in turn, then along the overall displacement, which
/// replaces the direction of largest decrease when Powell's test says so.
///
/// Line searches are bounded to the part of the line inside the unit box: a golden-ratio
/// bracketing walk from the current point (first step `lineStep`) that stops at the box edge,
/// then GSL's Brent minimizer on the bracket, to `lineTolerance` in t. The method has converged
/// when a full cycle improves the loss by no more than `functionTolerance` relative
/// (2|Δf| ≤ ftol·(|f0| + |f1|) + 1e-20, scipy's rule).
///
/// Pending trials: the line searches are sequential, so while a trial is pending the driver
/// hands out fillers. Requests are answered by order (Brent runs in C on the parameter t), so
/// an adopted point must be the requested one up to `MultiStartOptimizer.adoptTolerance`.
struct PowellSearch: LocalSearch {
    var honoursRecordedPoints: Bool { false }
    var lineStep = 0.25
    var lineTolerance = 1e-3
    var functionTolerance = 1e-4
    var lineMaxIterations = 50

    static let golden = 1.618033988749895

    func run(start: [Double], restart: Int, rng: RandomGenerator, oracle: ReplayOracle) throws {
        let d = start.count
        var x = clampUnit(start)
        var fx = -(try oracle.score(x).value)  // loss, minimized
        var directions: [[Double]] = (0..<d).map { i in (0..<d).map { $0 == i ? 1.0 : 0.0 } }
        while true {
            let x0 = x, f0 = fx
            var biggestDrop = 0.0, biggestIndex = 0
            for (i, dir) in directions.enumerated() {
                let before = fx
                (x, fx) = try lineSearch(from: x, loss: fx, direction: dir, oracle: oracle)
                if before - fx > biggestDrop { biggestDrop = before - fx; biggestIndex = i }
            }
            if 2 * (f0 - fx) <= functionTolerance * (abs(f0) + abs(fx)) + 1e-20 { return }
            let displacement = zip(x, x0).map { $0 - $1 }
            let length = displacement.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if length == 0 { return }
            // Extrapolated point 2x − x0, clamped into the box.
            let xe = clampUnit(zip(x, displacement).map { $0 + $1 })
            let fe = -(try oracle.score(xe).value)
            if fe < f0 {
                let a = f0 - fx - biggestDrop, b = f0 - fe
                let t = 2 * (f0 - 2 * fx + fe) * a * a - biggestDrop * b * b
                if t < 0 {
                    let unit = displacement.map { $0 / length }
                    (x, fx) = try lineSearch(from: x, loss: fx, direction: unit, oracle: oracle)
                    directions[biggestIndex] = directions[d - 1]
                    directions[d - 1] = unit
                }
            }
        }
    }

    /// Minimizes the loss along x + t·u for t in the box's feasible interval.
    func lineSearch(from x: [Double], loss fx: Double, direction u: [Double], oracle: ReplayOracle) throws -> ([Double], Double) {
        var tLow = -Double.infinity, tHigh = Double.infinity
        for i in x.indices where u[i] != 0 {
            let a = (0 - x[i]) / u[i], b = (1 - x[i]) / u[i]
            tLow = max(tLow, min(a, b)); tHigh = min(tHigh, max(a, b))
        }
        let eps = 1e-12
        func point(_ t: Double) -> [Double] { clampUnit(zip(x, u).map { $0 + t * $1 }) }
        func loss(_ t: Double) throws -> Double { -(try oracle.score(point(t)).value) }

        // Bracket: walk from t = 0 in the descending direction.
        var a = 0.0, fa = fx
        var b: Double, fb: Double
        let forward = min(lineStep, tHigh)
        let fForward = forward > eps ? try loss(forward) : Double.infinity
        if fForward < fx {
            b = forward; fb = fForward
        } else {
            let backward = max(-lineStep, tLow)
            guard backward < -eps else { return (x, fx) }
            let f2 = try loss(backward)
            if f2 < fx {
                b = backward; fb = f2
            } else {
                // 0 is lowest among {backward, 0, forward}: bracketed (if forward was feasible).
                guard forward > eps else { return (x, fx) }
                return try brent(lower: backward, guess: 0, upper: forward, values: (f2, fx, fForward), point: point, oracle: oracle) ?? (x, fx)
            }
        }
        // Expand away from a through b until the loss rises or the box edge is reached.
        let limit = b > 0 ? tHigh : tLow
        while true {
            let c = b > 0 ? min(limit, b + Self.golden * (b - a)) : max(limit, b + Self.golden * (b - a))
            if abs(c - b) <= eps { return (point(b), fb) }  // still descending at the edge
            let fc = try loss(c)
            if fc >= fb {
                let (lo, hi, flo, fhi) = a < c ? (a, c, fa, fc) : (c, a, fc, fa)
                return try brent(lower: lo, guess: b, upper: hi, values: (flo, fb, fhi), point: point, oracle: oracle) ?? (point(b), fb)
            }
            a = b; fa = fb; b = c; fb = fc
        }
    }

    /// GSL Brent on a bracket; the oracle answers through NaN interruption.
    private func brent(lower: Double, guess: Double, upper: Double, values: (Double, Double, Double),
                       point pointAt: (Double) -> [Double],
                       oracle: ReplayOracle) throws -> ([Double], Double)? {
        guard upper - lower > lineTolerance, values.1 < values.0, values.1 < values.2 else { return nil }
        let result: MinimizationResult
        do {
            result = try minimizeBrent(lower: lower, upper: upper, guess: guess, values: values,
                                       absoluteTolerance: lineTolerance, maxIterations: lineMaxIterations) { t in
                oracle.lossOrNaN(pointAt(t))
            }
        } catch {
            return nil
        }
        if let stop = oracle.deferredStop { throw stop }
        let t = result.x[0]
        guard result.value.isFinite, result.value <= values.1 else { return (pointAt(guess), values.1) }
        return (pointAt(t), result.value)
    }
}
