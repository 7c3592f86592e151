import MergetuneNumerics

/// Compass (coordinate pattern) search with step halving (Kolda, Lewis & Torczon, "Optimization by
/// direct search", SIAM Review 45(3), 2003, §3 "compass search").
///
/// From x with step Δ it polls x ± Δ·e_i (clamped into the box; a poll that clamps back onto x
/// is skipped), moves to the first poll point that strictly improves the score (opportunistic
/// polling; the successful direction is polled first next time) and keeps Δ; when no poll point
/// improves, Δ is halved. It has converged when Δ < `stepTolerance`.
///
/// Pending trials: a poll's points are handed out speculatively while earlier ones are pending
/// (`ReplayOracle.firstImproving`); results arriving in order reproduce the sequential trace.
struct CompassSearch: LocalSearch {
    var honoursRecordedPoints: Bool { true }
    var initialStep = 0.25
    var stepTolerance = 1e-3

    func run(start: [Double], restart: Int, rng: RandomGenerator, oracle: ReplayOracle) throws {
        var (fx, x) = try oracle.score(clampUnit(start))
        var step = initialStep
        // Directions as (coordinate, sign), polled in this order.
        var directions: [(Int, Double)] = (0..<start.count).flatMap { [($0, 1.0), ($0, -1.0)] }
        while step >= stepTolerance {
            var polls: [(direction: Int, point: [Double])] = []
            for (k, (i, sign)) in directions.enumerated() {
                var y = x
                y[i] = min(1, max(0, y[i] + sign * step))
                if y[i] == x[i] { continue }
                polls.append((k, y))
            }
            if let hit = try oracle.firstImproving(polls.map(\.point), than: fx) {
                // Move to the trial's recorded point (the ledger's, if it was adopted).
                x = hit.point; fx = hit.value
                let k = polls[hit.index].direction
                let dir = directions.remove(at: k)
                directions.insert(dir, at: 0)
            } else {
                step /= 2
            }
        }
    }
}
