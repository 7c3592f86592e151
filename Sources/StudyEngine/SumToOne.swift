import Foundation
import Optimizers

/// Skill-Injection §4.1: how much is lost when the two merge weights are constrained to sum to
/// one (λ_a + λ_b = 1), or to a band |λ_a + λ_b − 1| ≤ band, compared with the whole box.
public struct SumToOneAnalysis: Codable, Sendable, Equatable {
    public var weights: [String]
    public var band: Double
    /// The global best score over the box (the objective's f_max).
    public var globalBest: Double
    public var lineBest: Double
    public var lineParams: [String: Double]
    public var bandBest: Double
    public var bandParams: [String: Double]
    /// The paper's relative regret: (globalBest − best) / |globalBest|, in percent.
    public var lineRelativeRegretPercent: Double
    public var bandRelativeRegretPercent: Double
    /// The same gap as a normalized regret: (globalBest − best) / (f_max − f_min).
    public var lineNormalizedRegret: Double
    public var bandNormalizedRegret: Double

    /// Dense grid search of the line and the band inside the box: the first weight over 501
    /// levels on the line (201 in the band, with 21 sums across the band); every other
    /// parameter over 11 levels. nil when the line misses the box.
    public static func analyze(_ objective: any Objective, weights: [String], band: Double,
                               fMin: Double, fMax: Double) -> SumToOneAnalysis? {
        let space = objective.space
        guard weights.count == 2, let ia = space.names.firstIndex(of: weights[0]),
              let ib = space.names.firstIndex(of: weights[1]) else { return nil }
        let pa = space.parameters[ia], pb = space.parameters[ib]
        let others = (0..<space.dimension).filter { $0 != ia && $0 != ib }

        // Best over points with λ_a + λ_b = s for each s in `sums`.
        func best(sums: [Double], levels: Int) -> (Double, [Double])? {
            var bestValue = -Double.infinity
            var bestX: [Double]?
            var otherIndex = [Int](repeating: 0, count: others.count)
            let otherLevels = 11
            var otherCount = 1
            for _ in others { otherCount *= otherLevels }
            for s in sums {
                // λ_a ranges where λ_b = s − λ_a stays inside its bounds.
                let lo = max(pa.lower, s - pb.upper), hi = min(pa.upper, s - pb.lower)
                guard lo <= hi else { continue }
                for i in 0..<levels {
                    let a = levels == 1 || lo == hi ? lo : lo + (hi - lo) * Double(i) / Double(levels - 1)
                    otherIndex = otherIndex.map { _ in 0 }
                    for _ in 0..<otherCount {
                        var x = space.parameters.map { ($0.lower + $0.upper) / 2 }
                        x[ia] = a
                        x[ib] = min(pb.upper, max(pb.lower, s - a))
                        for (k, j) in others.enumerated() {
                            let p = space.parameters[j]
                            x[j] = p.lower + (p.upper - p.lower) * Double(otherIndex[k]) / Double(otherLevels - 1)
                        }
                        if let v = try? objective.evaluate(x), v.isFinite, v > bestValue { bestValue = v; bestX = x }
                        for k in 0..<others.count { otherIndex[k] += 1; if otherIndex[k] < otherLevels { break }; otherIndex[k] = 0 }
                    }
                }
            }
            return bestX.map { (bestValue, $0) }
        }
        guard let line = best(sums: [1.0], levels: 501) else { return nil }
        let bandSums = (0...20).map { 1 - band + 2 * band * Double($0) / 20 }
        let inBand = best(sums: bandSums, levels: 201) ?? line
        // The band contains the line; keep the better of the two searches.
        let bandResult = inBand.0 >= line.0 ? inBand : line
        let top = max(fMax, line.0, bandResult.0)
        let range = max(fMax - fMin, .leastNonzeroMagnitude)
        func named(_ x: [Double]) -> [String: Double] { Dictionary(uniqueKeysWithValues: zip(space.names, x)) }
        func relative(_ v: Double) -> Double { top == 0 ? 0 : 100 * (top - v) / abs(top) }
        return SumToOneAnalysis(
            weights: weights, band: band, globalBest: top,
            lineBest: line.0, lineParams: named(line.1), bandBest: bandResult.0, bandParams: named(bandResult.1),
            lineRelativeRegretPercent: relative(line.0), bandRelativeRegretPercent: relative(bandResult.0),
            lineNormalizedRegret: (top - line.0) / range, bandNormalizedRegret: (top - bandResult.0) / range)
    }
}
