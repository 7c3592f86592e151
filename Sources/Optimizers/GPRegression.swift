import Foundation
import MergetuneNumerics

/// Gaussian-process regression of scattered data for use as a surrogate: the GP-BO model
/// (`GaussianProcess`: Matérn-5/2, ARD length scales, signal and noise variance fitted by MAP
/// with the same priors and starts as GP-BO) on the points mapped onto the unit box and the
/// values standardized, and its posterior mean mapped back. With fitted noise the mean does not
/// pass through the data: it smooths what the likelihood calls measurement noise.
public struct GPRegression: @unchecked Sendable {
    let gp: GaussianProcess
    let lower: [Double]
    let width: [Double]
    let mean: Double
    let sd: Double
    /// Length scales in the data's own units (unit-box length × box width), per coordinate.
    public let lengthScales: [Double]
    /// Signal and noise standard deviation in score units.
    public let signalSD: Double
    public let noiseSD: Double
    /// BFGS's gradient test passed at the winning start / some hyperparameter ended at its box.
    public let converged: Bool
    public let atBound: Bool

    /// The noise floor in standardized units, as GP-BO's default.
    public static let defaultNoiseFloor = 1e-6

    public init(points: [[Double]], values: [Double], bounds: [ClosedRange<Double>],
                noiseFloor: Double = GPRegression.defaultNoiseFloor) throws {
        let n = points.count, d = bounds.count
        guard n >= 2 else { throw OptimizerError.badOption(kind: "gp regression", option: "data", reason: "needs at least 2 points, got \(n)") }
        guard points.allSatisfy({ $0.count == d }), values.count == n else {
            throw OptimizerError.badOption(kind: "gp regression", option: "data", reason: "\(n) points of \(d) coordinates and \(values.count) values do not match")
        }
        let lo = bounds.map(\.lowerBound), w = bounds.map { $0.upperBound - $0.lowerBound }
        lower = lo; width = w
        let m = values.reduce(0, +) / Double(n)
        var s = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n)).squareRoot()
        if !(s > 1e-12 * max(1, abs(m))) { s = 1 }
        mean = m; sd = s
        let unit = points.flatMap { p in (0..<d).map { w[$0] > 0 ? (p[$0] - lo[$0]) / w[$0] : 0 } }
        let y = values.map { ($0 - m) / s }
        // GP-BO's fixed hyperparameter starts (GPBO.fixedStarts), all four.
        let starts: [[Double]] = [
            Array(repeating: log(0.5), count: d) + [0, -9],
            Array(repeating: log(0.15), count: d) + [0, -9],
            Array(repeating: log(2.0), count: d) + [0, -6],
            Array(repeating: log(0.3), count: d) + [0, -3],
        ]
        let fit = GaussianProcess.fit(inputs: unit, targets: y, dimension: d, noiseFloor: noiseFloor, starts: starts)
        gp = try GaussianProcess(inputs: unit, targets: y, dimension: d, theta: fit.theta, noiseFloor: noiseFloor)
        converged = fit.converged; atBound = fit.atBound
        lengthScales = zip(gp.lengthScales, w).map { $0 * ($1 > 0 ? $1 : 1) }
        signalSD = gp.signalVariance.squareRoot() * s
        noiseSD = gp.noiseVariance.squareRoot() * s
    }

    /// The posterior mean at x (in the data's units).
    public func callAsFunction(_ x: [Double]) -> Double {
        let d = gp.dimension
        var u = [Double](repeating: 0, count: d)
        for k in 0..<d { u[k] = width[k] > 0 ? (x[k] - lower[k]) / width[k] : 0 }
        let inv = gp.lengthScales.map { 1 / $0 }
        var total = 0.0
        gp.inputs.withUnsafeBufferPointer { xb in
            for a in 0..<gp.count {
                var r2 = 0.0
                for k in 0..<d { let t = (xb[a * d + k] - u[k]) * inv[k]; r2 += t * t }
                total += gp.alpha[a] * GaussianProcess.matern52(r2: r2)
            }
        }
        return mean + sd * gp.signalVariance * total
    }

    /// Leave-one-out errors (prediction − value) of the posterior mean at every data point, in
    /// closed form at the fitted hyperparameters: μ₋ᵢ = yᵢ − αᵢ / (K⁻¹)ᵢᵢ (Rasmussen & Williams
    /// eq. 5.12). The hyperparameters are not refitted without the point.
    public func leaveOneOutErrors() throws -> [Double] {
        let kinv = try gp.cholesky.inverse()
        return (0..<gp.count).map { i in -sd * gp.alpha[i] / kinv[i, i] }
    }
}
