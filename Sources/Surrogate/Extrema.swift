import Foundation
import MergetuneNumerics

/// The global minimum and maximum of a function over a box (they normalize regret).
public struct Extrema: Sendable, Codable, Equatable {
    public let minimum: Double
    public let argmin: [Double]
    public let maximum: Double
    public let argmax: [Double]

    public init(minimum: Double, argmin: [Double], maximum: Double, argmax: [Double]) {
        self.minimum = minimum; self.argmin = argmin; self.maximum = maximum; self.argmax = argmax
    }
}

public enum ExtremaError: Error, Equatable, LocalizedError {
    case invalidBox(String)
    case noFiniteValue
    public var errorDescription: String? {
        switch self {
        case .invalidBox(let text): return "cannot search the box: \(text)"
        case .noFiniteValue: return "the function returned no finite value on the box"
        }
    }
}

/// Global extrema of `f` over the box `bounds`: `samples` points of a Sobol sequence
/// (Cranley–Patterson shifted by `seed`) scaled to the box, plus the box's corners (up to 10
/// dimensions, where surrogates often peak); then Nelder–Mead from the best `polish` distinct
/// samples for each of the minimum and the maximum, on f evaluated at the point clamped to the
/// box. Deterministic for a seed. A constant coordinate (lower == upper) stays fixed.
public func findExtrema(bounds: [ClosedRange<Double>], samples: Int = 4096, polish: Int = 8, seed: UInt64 = 0,
                        _ f: ([Double]) -> Double) throws -> Extrema {
    let d = bounds.count
    guard (1...SobolSequence.maxDimension).contains(d) else {
        throw ExtremaError.invalidBox("\(d) dimensions (1...\(SobolSequence.maxDimension) supported)")
    }
    guard bounds.allSatisfy({ $0.lowerBound.isFinite && $0.upperBound.isFinite }) else { throw ExtremaError.invalidBox("bounds must be finite") }
    guard samples >= 1, polish >= 0 else { throw ExtremaError.invalidBox("samples must be ≥ 1 and polish ≥ 0") }
    let lower = bounds.map(\.lowerBound), width = bounds.map { $0.upperBound - $0.lowerBound }

    func clamp(_ x: [Double]) -> [Double] {
        (0..<d).map { Swift.min(Swift.max(x[$0], bounds[$0].lowerBound), bounds[$0].upperBound) }
    }
    var candidates: [(x: [Double], value: Double)] = []
    candidates.reserveCapacity(samples + (d <= 10 ? 1 << d : 0))
    let sobol = try SobolSequence(dimension: d, shiftSeed: seed)
    for _ in 0..<samples {
        let u = sobol.next()
        let x = (0..<d).map { lower[$0] + u[$0] * width[$0] }
        let v = f(x)
        if v.isFinite { candidates.append((x, v)) }
    }
    if d <= 10 {
        for mask in 0..<(1 << d) {
            let x = (0..<d).map { (mask >> $0) & 1 == 1 ? bounds[$0].upperBound : bounds[$0].lowerBound }
            let v = f(x)
            if v.isFinite { candidates.append((x, v)) }
        }
    }
    guard !candidates.isEmpty else { throw ExtremaError.noFiniteValue }

    // Polish from the best starts (ties broken by sample order, so the result is deterministic).
    let steps = width.map { $0 > 0 ? 0.05 * $0 : 1e-3 }
    let tolerance = 1e-9 * Swift.max(width.max()!, 1e-12)
    func polishBest(sign: Double) throws -> (x: [Double], value: Double) {
        let order = candidates.indices.sorted { (sign * candidates[$0].value, $0) < (sign * candidates[$1].value, $1) }
        var best = candidates[order[0]]
        for i in order.prefix(polish) {
            let result = try minimizeNelderMead(start: candidates[i].x, stepSizes: steps, sizeTolerance: tolerance,
                                                maxIterations: 400) { x in
                let v = f(clamp(x))
                return v.isFinite ? sign * v : .infinity
            }
            let x = clamp(result.x)
            let v = f(x)
            if v.isFinite && sign * v < sign * best.value { best = (x, v) }
        }
        return best
    }
    let minimum = try polishBest(sign: 1)
    let maximum = try polishBest(sign: -1)
    return Extrema(minimum: minimum.value, argmin: minimum.x, maximum: maximum.value, argmax: maximum.x)
}
