import Foundation
import Optimizers
import Surrogate

/// Which model of a measured landscape a surrogate objective evaluates (docs/surrogate.md,
/// "Surrogate kinds"). `rbf` is the paper's interpolant and the default.
public enum SurrogateModelKind: String, CaseIterable, Sendable, Codable {
    /// scipy's RBFInterpolator, exact interpolation unless `smoothing` is given.
    case rbf
    /// The RBF with the smoothing of least closed-form leave-one-out RMSE on `rbfSmoothingGrid`.
    case rbfLoo = "rbf_loo"
    /// GP regression posterior mean (GP-BO's Matérn-5/2 ARD model, noise and length scales fitted).
    case gp
}

/// A fitted surrogate of one landscape: the model and how it was chosen.
public struct SurrogateModel: @unchecked Sendable {
    public let kind: SurrogateModelKind
    /// The RBF kinds' interpolator (smoothed for rbf_loo or an explicit smoothing).
    public let rbf: RBFInterpolator?
    public let gp: GPRegression?
    /// rbf_loo: the grid search.
    public let smoothingChoice: SmoothingChoice?

    public func callAsFunction(_ x: [Double]) -> Double {
        if let rbf { return rbf(x) }
        return gp!(x)
    }

    /// One line saying what the model is.
    public var summary: String {
        switch kind {
        case .rbf, .rbfLoo:
            let r = rbf!
            var s = "\(kind.rawValue): \(r.kernel.rawValue), epsilon \(String(format: "%.6g", r.epsilon)), smoothing \(String(format: "%.6g", r.smoothing)), degree \(r.degree)"
            if let c = smoothingChoice {
                s += " (least leave-one-out RMSE \(String(format: "%.6g", c.rmse)) over \(c.candidates.count) values: 0 and 1e-6…1e4)"
            }
            return s
        case .gp:
            let g = gp!
            return "gp: Matérn-5/2 posterior mean, length scales " + g.lengthScales.map { String(format: "%.4g", $0) }.joined(separator: " ")
                + ", signal sd \(String(format: "%.4g", g.signalSD)), noise sd \(String(format: "%.4g", g.noiseSD))"
                + (g.converged ? "" : " (hyperparameter fit did not converge)")
        }
    }

    /// Leave-one-out errors (prediction − value) at every point, closed form: the RBF's hat
    /// matrix identity, the GP's at its fitted hyperparameters (not refitted).
    public func leaveOneOutErrors(_ landscape: Landscape) throws -> [Double] {
        if let gp { return try gp.leaveOneOutErrors() }
        let r = rbf!
        return try rbfLeaveOneOutErrors(points: landscape.points, values: landscape.scores, kernel: r.kernel,
                                        epsilon: r.epsilon, smoothing: r.smoothing, degree: r.degree)
    }

    /// The paper's protocol (20 interior draws): RBF kinds refit without each draw (the smoothing
    /// fixed at its chosen value); the GP by the closed form at its fitted hyperparameters.
    public func leaveOneOutFidelity(_ landscape: Landscape, repeats: Int = 20, seed: UInt64 = 0,
                                    neighbors: RBFNeighborhood = .automatic) throws -> LeaveOneOutResult {
        if let gp {
            let all = try gp.leaveOneOutErrors()
            return try Surrogate.leaveOneOutFidelity(landscape, repeats: repeats, seed: seed) { $0.map { all[$0] } }
        }
        let r = rbf!
        return try Surrogate.leaveOneOutFidelity(landscape, kernel: r.kernel, epsilon: r.epsilon, smoothing: r.smoothing,
                                                 degree: r.degree, neighbors: neighbors, repeats: repeats, seed: seed)
    }

    /// Fits `kind` to the landscape. `smoothing` is for `rbf` only (default 0: the paper's
    /// interpolant, bit for bit the same as before the kinds existed).
    public static func fit(_ landscape: Landscape, kind: SurrogateModelKind = .rbf, kernel: RBFKernel = .thinPlateSpline,
                           epsilon: Double? = nil, smoothing: Double? = nil, degree: Int? = nil,
                           neighbors: RBFNeighborhood = .automatic) throws -> SurrogateModel {
        let file = landscape.source
        switch kind {
        case .rbf:
            let rbf = try landscape.interpolator(kernel: kernel, epsilon: epsilon, smoothing: smoothing ?? 0, degree: degree, neighbors: neighbors)
            return SurrogateModel(kind: kind, rbf: rbf, gp: nil, smoothingChoice: nil)
        case .rbfLoo:
            guard smoothing == nil else {
                throw SurrogateError(file: file, message: "smoothing is chosen by rbf_loo; give it only with surrogate = \"rbf\"")
            }
            guard landscape.points.count <= RBFInterpolator.automaticThreshold else {
                throw SurrogateError(file: file, message: "rbf_loo needs one dense solve (at most \(RBFInterpolator.automaticThreshold) points, this landscape has \(landscape.points.count)); use rbf with an explicit smoothing")
            }
            let choice: SmoothingChoice
            do {
                choice = try chooseSmoothing(points: landscape.points, values: landscape.scores, kernel: kernel, epsilon: epsilon, degree: degree)
            } catch let error as RBFError {
                throw SurrogateError(file: file, message: "cannot choose a smoothing: \(error.localizedDescription)")
            }
            let rbf = try landscape.interpolator(kernel: kernel, epsilon: epsilon, smoothing: choice.smoothing, degree: degree, neighbors: .all)
            return SurrogateModel(kind: kind, rbf: rbf, gp: nil, smoothingChoice: choice)
        case .gp:
            guard smoothing == nil else {
                throw SurrogateError(file: file, message: "smoothing is for surrogate = \"rbf\"; the gp kind fits its own noise")
            }
            do {
                let gp = try GPRegression(points: landscape.points, values: landscape.scores, bounds: landscape.bounds)
                return SurrogateModel(kind: kind, rbf: nil, gp: gp, smoothingChoice: nil)
            } catch {
                throw SurrogateError(file: file, message: "cannot fit the GP surrogate: \(error)")
            }
        }
    }
}
