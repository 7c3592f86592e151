import Foundation
import MergetuneNumerics

/// Leave-one-out errors (prediction − value) of a dense RBF fit at every data point, in closed
/// form: with A the augmented matrix [[K + λI, P], [Pᵀ, 0]] and a the kernel weights, the fit
/// without point i predicts yᵢ − aᵢ / (A⁻¹)ᵢᵢ there. (Setting yᵢ to the value that makes aᵢ = 0
/// leaves the other rows as the reduced system, so the full fit is then the refit without i;
/// a is linear in y with slope (A⁻¹)ᵢᵢ. Rippa 1999 for λ = 0; the argument holds for any λ.)
/// One factorization and n solves instead of n refits; tests check it against refits.
public func rbfLeaveOneOutErrors(points: [[Double]], values: [Double], kernel: RBFKernel = .thinPlateSpline,
                                 epsilon: Double? = nil, smoothing: Double = 0, degree: Int? = nil) throws -> [Double] {
    // The constructor validates the input exactly as a fit does (and solves for a).
    let rbf = try RBFInterpolator(points: points, values: values, kernel: kernel, epsilon: epsilon,
                                  smoothing: smoothing, degree: degree, neighbors: .all)
    let n = points.count
    let powerRows = monomialPowers(dimensions: rbf.dimension, degree: rbf.degree)
    let m = n + powerRows.count
    let (lhs, _, _, _) = RBFInterpolator.system(points: points, kernel: kernel, epsilon: rbf.epsilon,
                                                smoothing: smoothing, powerRows: powerRows)
    let lu: LU
    do { lu = try LU(lhs) } catch { throw RBFError.singular("singular matrix in the closed-form leave-one-out (are there repeated data points?)") }
    let a = rbf.kernelCoefficients
    return try (0..<n).map { i in
        var e = [Double](repeating: 0, count: m)
        e[i] = 1
        let column = try lu.solve(e)
        guard column[i] != 0, column[i].isFinite else {
            throw RBFError.singular("point \(i) cannot be left out: (A⁻¹)ᵢᵢ = 0 (the polynomial tail needs it)")
        }
        return -a[i] / column[i]
    }
}

/// How `rbf_loo` chose its smoothing: the candidate with the least leave-one-out RMSE over all
/// data points (closed form), and every candidate's RMSE (nil where the system was singular).
public struct SmoothingChoice: Sendable, Codable, Equatable {
    public let smoothing: Double
    public let rmse: Double
    public let candidates: [Double]
    public let rmses: [Double?]
}

/// The smoothing grid of `rbf_loo`: 0 (the interpolant) and 10^k for k = −6, −5.5, …, 4.
/// In score units per unit of kernel value; the landscapes' scores span ~1–10 nats and the
/// thin-plate kernel reaches ~10²–10³ on their boxes, so 10⁴ is already a near-polynomial fit.
public let rbfSmoothingGrid: [Double] = [0] + (0...20).map { Foundation.pow(10, -6 + 0.5 * Double($0)) }

/// The grid value of least leave-one-out RMSE (ties: the smaller smoothing, i.e. nearer the
/// interpolant). Throws only if every candidate is singular.
public func chooseSmoothing(points: [[Double]], values: [Double], kernel: RBFKernel = .thinPlateSpline,
                            epsilon: Double? = nil, degree: Int? = nil,
                            grid: [Double] = rbfSmoothingGrid) throws -> SmoothingChoice {
    var rmses: [Double?] = []
    var best: (smoothing: Double, rmse: Double)?
    var lastError: Error?
    for s in grid {
        do {
            let e = try rbfLeaveOneOutErrors(points: points, values: values, kernel: kernel, epsilon: epsilon,
                                             smoothing: s, degree: degree)
            let rmse = (e.map { $0 * $0 }.reduce(0, +) / Double(e.count)).squareRoot()
            rmses.append(rmse.isFinite ? rmse : nil)
            if rmse.isFinite, best == nil || rmse < best!.rmse { best = (s, rmse) }
        } catch {
            rmses.append(nil); lastError = error
        }
    }
    guard let best else { throw lastError ?? RBFError.invalidInput("empty smoothing grid") }
    return SmoothingChoice(smoothing: best.smoothing, rmse: best.rmse, candidates: grid, rmses: rmses)
}

extension Landscape {
    /// The interior points withheld by the paper's leave-one-out protocol (`leaveOneOutFidelity`):
    /// `repeats` uniform draws from `interiorIndices` with GSL's mt19937 at `seed`.
    public func leaveOneOutDraws(repeats: Int, seed: UInt64) throws -> [Int] {
        guard repeats > 0 else { throw SurrogateError(file: source, message: "leave-one-out needs at least one repeat") }
        let interior = interiorIndices
        guard !interior.isEmpty else {
            throw SurrogateError(file: source, message: "no interior point to withhold: every point lies on the min or max of some parameter "
                + "(leave-one-out needs at least 3 distinct values per parameter)")
        }
        let rng = RandomGenerator(seed: seed)
        return (0..<repeats).map { _ in interior[rng.integer(below: interior.count)] }
    }
}

/// The paper's leave-one-out summary for any surrogate: `errorAt(i)` is the error (prediction −
/// value) at point i of a model fitted without it, for the draws of `leaveOneOutDraws`.
public func leaveOneOutFidelity(_ landscape: Landscape, repeats: Int = 20, seed: UInt64 = 0,
                                errors: ([Int]) throws -> [Double]) throws -> LeaveOneOutResult {
    let heldOut = try landscape.leaveOneOutDraws(repeats: repeats, seed: seed)
    let range = landscape.scoreRange.upperBound - landscape.scoreRange.lowerBound
    guard range > 0 else {
        throw SurrogateError(file: landscape.source, message: "all scores are equal; the RMSE as a percentage of the score range is undefined")
    }
    let e = try errors(heldOut)
    let rmse = (e.map { $0 * $0 }.reduce(0, +) / Double(repeats)).squareRoot()
    return LeaveOneOutResult(repeats: repeats, rmse: rmse, rmsePercentOfRange: 100 * rmse / range, errors: e, heldOut: heldOut)
}
