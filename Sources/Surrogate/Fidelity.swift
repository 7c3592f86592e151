import Foundation
import MergetuneNumerics

/// Leave-one-out fidelity of a surrogate (Skill-Injection paper, Appendix I).
public struct LeaveOneOutResult: Sendable, Codable {
    public let repeats: Int
    /// sqrt(mean(error²)) over the repeats.
    public let rmse: Double
    /// 100 · rmse / (max score − min score) over the whole landscape.
    public let rmsePercentOfRange: Double
    /// prediction − measured score, one per repeat.
    public let errors: [Double]
    /// The index (into `Landscape.points`) withheld in each repeat.
    public let heldOut: [Int]
}

/// Why a surrogate could not be fitted or validated on a landscape; names the file.
public struct SurrogateError: Error, Equatable, LocalizedError, CustomStringConvertible {
    public let file: String
    public let message: String
    public init(file: String, message: String) { self.file = file; self.message = message }
    public var description: String { "\(file): \(message)" }
    public var errorDescription: String? { description }
}

extension Landscape {
    /// Points whose every coordinate lies strictly between that parameter's minimum and maximum
    /// over the points: on a grid, the points off the boundary.
    public var interiorIndices: [Int] {
        let lo = (0..<dimension).map { k in points.map { $0[k] }.min()! }
        let hi = (0..<dimension).map { k in points.map { $0[k] }.max()! }
        return points.indices.filter { i in (0..<dimension).allSatisfy { lo[$0] < points[i][$0] && points[i][$0] < hi[$0] } }
    }

    /// The RBF surrogate of this landscape; errors (too few points for the kernel's polynomial
    /// tail, a missing epsilon, a singular system) name the file.
    public func interpolator(kernel: RBFKernel = .thinPlateSpline, epsilon: Double? = nil, smoothing: Double = 0,
                             degree: Int? = nil, neighbors: RBFNeighborhood = .automatic) throws -> RBFInterpolator {
        do {
            return try RBFInterpolator(points: points, values: scores, kernel: kernel, epsilon: epsilon,
                                       smoothing: smoothing, degree: degree, neighbors: neighbors)
        } catch let error as RBFError {
            throw SurrogateError(file: source, message: "cannot fit a \(kernel.rawValue) surrogate: \(error.localizedDescription)")
        }
    }
}

/// Prediction errors (prediction − value) at each held-out index, the interpolator refitted
/// without that point each time. `.automatic` is resolved on the full set of points, so the
/// refits interpolate the way the surrogate of all the points does (dense or local, same k).
/// With local interpolation a refit costs a k-d tree and one k×k solve.
public func leaveOneOutErrors(points: [[Double]], values: [Double], heldOut: [Int], kernel: RBFKernel = .thinPlateSpline,
                              epsilon: Double? = nil, smoothing: Double = 0, degree: Int? = nil,
                              neighbors: RBFNeighborhood = .automatic) throws -> [Double] {
    let d = points.first?.count ?? 0
    let r = monomialCount(dimensions: d, degree: degree ?? kernel.defaultDegree)
    let resolved: RBFNeighborhood = RBFInterpolator.resolve(neighbors, points: points.count, monomials: r).map { .nearest($0) } ?? .all
    return try heldOut.map { i in
        var p = points, v = values
        p.remove(at: i); v.remove(at: i)
        let rbf = try RBFInterpolator(points: p, values: v, kernel: kernel, epsilon: epsilon, smoothing: smoothing,
                                      degree: degree, neighbors: resolved)
        if let problem = rbf.localError(at: points[i]) { throw RBFError.singular(problem) }
        return rbf(points[i]) - values[i]
    }
}

/// Appendix I of the Skill-Injection paper: `repeats` times, withhold one interior point drawn
/// uniformly at random (independently each repeat, so a point may be drawn again), refit on
/// the rest, and predict it. RMSE as a percentage of the landscape's score range.
/// Deterministic for a seed (GSL's mt19937).
public func leaveOneOutFidelity(_ landscape: Landscape, kernel: RBFKernel = .thinPlateSpline, epsilon: Double? = nil,
                                smoothing: Double = 0, degree: Int? = nil, neighbors: RBFNeighborhood = .automatic,
                                repeats: Int = 20, seed: UInt64 = 0) throws -> LeaveOneOutResult {
    let file = landscape.source
    guard repeats > 0 else { throw SurrogateError(file: file, message: "leave-one-out needs at least one repeat") }
    let interior = landscape.interiorIndices
    guard !interior.isEmpty else {
        throw SurrogateError(file: file, message: "no interior point to withhold: every point lies on the min or max of some parameter "
            + "(leave-one-out needs at least 3 distinct values per parameter)")
    }
    let range = landscape.scoreRange.upperBound - landscape.scoreRange.lowerBound
    guard range > 0 else { throw SurrogateError(file: file, message: "all scores are equal; the RMSE as a percentage of the score range is undefined") }
    let rng = RandomGenerator(seed: seed)
    let heldOut = (0..<repeats).map { _ in interior[rng.integer(below: interior.count)] }
    let errors: [Double]
    do {
        errors = try leaveOneOutErrors(points: landscape.points, values: landscape.scores, heldOut: heldOut,
                                       kernel: kernel, epsilon: epsilon, smoothing: smoothing, degree: degree,
                                       neighbors: neighbors)
    } catch let error as RBFError {
        throw SurrogateError(file: file, message: "leave-one-out refit failed: \(error.localizedDescription)")
    }
    let rmse = (errors.map { $0 * $0 }.reduce(0, +) / Double(repeats)).squareRoot()
    return LeaveOneOutResult(repeats: repeats, rmse: rmse, rmsePercentOfRange: 100 * rmse / range, errors: errors, heldOut: heldOut)
}
