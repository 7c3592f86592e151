import Numerics

/// Compass (coordinate pattern) search with step halving (Kolda, Lewis & Torczon, "Optimization by
/// direct search", SIAM Review 45(3), 2003, §3 "compass search").
///
/// From x with step Δ it polls x ± Δ·e_i (clamped into the box; a poll that clamps back onto x
/// is skipped), moves to the first poll point that strictly improves the score (opportunistic
/// polling; the successful direction is polled first next time) and keeps Δ; when no poll point
/// improves, Δ is halved. It has converged when Δ < `stepTolerance`.
struct CompassSearch: LocalSearch {
    var initialStep = 0.25
    var stepTolerance = 1e-3

    func run(start: [Double], restart: Int, rng: RandomGenerator, oracle: ReplayOracle) throws {
        let d = start.count
        var x = clampUnit(start)
        var fx = try oracle.score(x)
        var step = initialStep
        // Directions as (coordinate, sign), polled in this order.
        var directions: [(Int, Double)] = (0..<d).flatMap { [($0, 1.0), ($0, -1.0)] }
        while step >= stepTolerance {
            var moved = false
            for (k, (i, sign)) in directions.enumerated() {
                var y = x
                y[i] = min(1, max(0, y[i] + sign * step))
                if y[i] == x[i] { continue }
                let fy = try oracle.score(y)
                if fy > fx {
                    x = y; fx = fy; moved = true
                    directions.remove(at: k); directions.insert((i, sign), at: 0)
                    break
                }
            }
            if !moved { step /= 2 }
        }
    }
}
