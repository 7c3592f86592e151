import Foundation
import MergetuneNumerics

/// A Gaussian-process regression model on the unit box: zero mean on standardized scores,
/// Matérn-5/2 kernel with one length scale per dimension (ARD), a signal variance and a noise
/// variance above a floor (Rasmussen & Williams, "Gaussian Processes for Machine Learning",
/// 2006, eq. 4.17 and §5.4). Hyperparameters θ = (log ℓ_1..d, log s², log(σ_n² − floor)).
struct GaussianProcess {
    let dimension: Int
    let count: Int
    /// Inputs, row-major n × d, and standardized targets.
    let inputs: [Double]
    let targets: [Double]
    let noiseFloor: Double
    let theta: [Double]
    let lengthScales: [Double]
    /// 1/ℓ, once per model: `predict` runs hundreds of times per ask (the polish).
    let inverseLengthScales: [Double]
    let signalVariance: Double
    let noiseVariance: Double
    let cholesky: Cholesky
    /// α = K⁻¹y.
    let alpha: [Double]

    // Weak priors on θ (normal in log space; see docs/optimizers.md).
    static let lengthPrior = (mean: log(0.5), sd: 1.25)
    static let signalPrior = (mean: 0.0, sd: 1.5)
    static let noisePrior = (mean: -9.0, sd: 3.0)
    /// Box for θ: ℓ in [0.01, 20], s² in [0.01, 100], excess noise in [e^-25, 1].
    static func bounds(dimension d: Int) -> [(Double, Double)] {
        Array(repeating: (log(0.01), log(20.0)), count: d) + [(log(0.01), log(100.0)), (-25.0, 0.0)]
    }

    init(inputs: [Double], targets: [Double], dimension: Int, theta: [Double], noiseFloor: Double) throws {
        self.dimension = dimension; count = targets.count
        self.inputs = inputs; self.targets = targets; self.noiseFloor = noiseFloor
        let theta = Self.clampTheta(theta, dimension: dimension)
        self.theta = theta
        lengthScales = theta[0..<dimension].map { exp($0) }
        inverseLengthScales = lengthScales.map { 1 / $0 }
        signalVariance = exp(theta[dimension])
        noiseVariance = noiseFloor + exp(theta[dimension + 1])
        let k = Self.covariance(inputs: inputs, n: count, d: dimension, lengthScales: lengthScales,
                                signal: signalVariance, noise: noiseVariance)
        cholesky = try Cholesky(k)
        alpha = try cholesky.solve(targets)
    }

    static func clampTheta(_ theta: [Double], dimension: Int) -> [Double] {
        zip(theta, bounds(dimension: dimension)).map { min($1.1, max($1.0, $0)) }
    }

    /// Matérn-5/2 correlation at scaled distance r: (1 + √5 r + 5r²/3)·e^{−√5 r}.
    @inline(__always) static func matern52(r2: Double) -> Double {
        let r = r2.squareRoot(), s5r = 5.0.squareRoot() * r
        return (1 + s5r + 5 * r2 / 3) * exp(-s5r)
    }

    static func covariance(inputs: [Double], n: Int, d: Int, lengthScales: [Double], signal: Double, noise: Double) -> Matrix {
        var k = Matrix(rows: n, cols: n)
        let inv = lengthScales.map { 1 / $0 }
        inputs.withUnsafeBufferPointer { x in
            k.storage.withUnsafeMutableBufferPointer { kb in
                for a in 0..<n {
                    kb[a * n + a] = signal + noise
                    for b in 0..<a {
                        var r2 = 0.0
                        for j in 0..<d { let t = (x[a * d + j] - x[b * d + j]) * inv[j]; r2 += t * t }
                        let v = signal * matern52(r2: r2)
                        kb[a * n + b] = v; kb[b * n + a] = v
                    }
                }
            }
        }
        return k
    }

    /// Negative log marginal likelihood minus the log prior, and its gradient in θ.
    static func objective(theta rawTheta: [Double], inputs: [Double], targets y: [Double], dimension d: Int,
                          noiseFloor: Double) -> (value: Double, gradient: [Double]) {
        let n = y.count
        let b = bounds(dimension: d)
        // Outside the box: evaluate at the clamped θ and add a quadratic wall.
        var theta = rawTheta, wall = 0.0, wallGrad = [Double](repeating: 0, count: d + 2)
        for i in 0..<(d + 2) {
            if theta[i] < b[i].0 { let e = theta[i] - b[i].0; wall += 100 * e * e; wallGrad[i] = 200 * e; theta[i] = b[i].0 }
            if theta[i] > b[i].1 { let e = theta[i] - b[i].1; wall += 100 * e * e; wallGrad[i] = 200 * e; theta[i] = b[i].1 }
        }
        let ls = (0..<d).map { exp(theta[$0]) }
        let inv = ls.map { 1 / $0 }
        let s2 = exp(theta[d]), excess = exp(theta[d + 1]), noise = noiseFloor + excess
        // Covariance, with the per-pair factors the gradient needs.
        var k = Matrix(rows: n, cols: n)
        let pairs = n * (n - 1) / 2
        var g = [Double](repeating: 0, count: pairs)           // s²·(5/3)(1 + √5 r)e^{−√5 r}
        var q = [Double](repeating: 0, count: pairs * d)       // (Δ_j/ℓ_j)²
        let sqrt5 = 5.0.squareRoot()
        inputs.withUnsafeBufferPointer { x in
            inv.withUnsafeBufferPointer { inv in
            k.storage.withUnsafeMutableBufferPointer { kb in
                g.withUnsafeMutableBufferPointer { gb in
                    q.withUnsafeMutableBufferPointer { qb in
                        var p = 0
                        for a in 0..<n {
                            kb[a * n + a] = s2 + noise
                            for c in 0..<a {
                                var r2 = 0.0
                                for j in 0..<d {
                                    let t = (x[a * d + j] - x[c * d + j]) * inv[j]
                                    let tt = t * t
                                    qb[p * d + j] = tt; r2 += tt
                                }
                                let r = r2.squareRoot(), e = exp(-sqrt5 * r)
                                let v = s2 * (1 + sqrt5 * r + 5 * r2 / 3) * e
                                kb[a * n + c] = v; kb[c * n + a] = v
                                gb[p] = s2 * (5.0 / 3) * (1 + sqrt5 * r) * e
                                p += 1
                            }
                        }
                    }
                }
            }
            }
        }
        guard let chol = try? Cholesky(k), let alpha = try? chol.solve(y), let kinv = try? chol.inverse() else {
            return (1e10 + wall, wallGrad)
        }
        var value = 0.5 * zip(y, alpha).reduce(0) { $0 + $1.0 * $1.1 } + 0.5 * chol.logDeterminant
            + 0.5 * Double(n) * log(2 * Double.pi)
        var grad = [Double](repeating: 0, count: d + 2)
        // ∂/∂θ_j = ½ tr((K⁻¹ − ααᵀ) ∂K/∂θ_j). Raw buffers: this loop runs n²/2 times per BFGS
        // step (the arithmetic, and its order, is the plain loop's).
        kinv.storage.withUnsafeBufferPointer { w in
        k.storage.withUnsafeBufferPointer { kb in
        alpha.withUnsafeBufferPointer { al in
        g.withUnsafeBufferPointer { gb in
        q.withUnsafeBufferPointer { qb in
        grad.withUnsafeMutableBufferPointer { gr in
            var p = 0
            var traceW = 0.0, signalTerm = 0.0
            for a in 0..<n {
                let ala = al[a]
                let wa = w[a * n + a] - ala * ala
                traceW += wa
                signalTerm += wa * s2
                for c in 0..<a {
                    let wac = w[a * n + c] - ala * al[c]   // symmetric: pair counted once, so no ½
                    signalTerm += 2 * wac * kb[a * n + c]
                    let f = wac * gb[p]
                    for j in 0..<d { gr[j] += f * qb[p * d + j] }
                    p += 1
                }
            }
            gr[d] = 0.5 * signalTerm
            gr[d + 1] = 0.5 * traceW * excess
        }}}}}}
        // Priors.
        for j in 0..<d {
            let z = (theta[j] - lengthPrior.mean) / lengthPrior.sd
            value += 0.5 * z * z; grad[j] += z / lengthPrior.sd
        }
        let zs = (theta[d] - signalPrior.mean) / signalPrior.sd
        value += 0.5 * zs * zs; grad[d] += zs / signalPrior.sd
        let zn = (theta[d + 1] - noisePrior.mean) / noisePrior.sd
        value += 0.5 * zn * zn; grad[d + 1] += zn / noisePrior.sd
        for i in 0..<(d + 2) { grad[i] += wallGrad[i] }
        return (value + wall, grad)
    }

    /// Fits θ by minimizing `objective` with BFGS from each start; the best end point wins.
    /// `converged`: BFGS's gradient test passed at the winner; `atBound`: some θ ended at its box.
    static func fit(inputs: [Double], targets: [Double], dimension d: Int, noiseFloor: Double,
                    starts: [[Double]], initialStep: Double = 0.5) -> (theta: [Double], value: Double, converged: Bool, atBound: Bool) {
        var best: (value: Double, theta: [Double], converged: Bool)? = nil
        for s in starts {
            let r = try? minimizeBFGS(start: s, initialStep: initialStep, lineSearchTolerance: 0.1,
                                      gradientTolerance: 1e-2, maxIterations: 50) { th in
                objective(theta: th, inputs: inputs, targets: targets, dimension: d, noiseFloor: noiseFloor)
            }
            guard let r, r.value.isFinite else { continue }
            if best == nil || r.value < best!.value { best = (r.value, clampTheta(r.x, dimension: d), r.converged) }
        }
        guard let best else { return (starts[0], .infinity, false, false) }
        let b = bounds(dimension: d)
        // The noise's lower bound is a legitimate optimum for deterministic objectives.
        let atBound = (0..<(d + 1)).contains { best.theta[$0] <= b[$0].0 + 1e-6 || best.theta[$0] >= b[$0].1 - 1e-6 }
        return (best.theta, best.value, best.converged, atBound)
    }

    /// Posterior mean and standard deviation of the latent function at m points (row-major m × d).
    func predict(_ points: [Double], count m: Int) throws -> (mean: [Double], sd: [Double]) {
        let n = count, d = dimension
        var ks = Matrix(rows: n, cols: m)   // K(X, X*)
        let inv = inverseLengthScales
        var mean = [Double](repeating: 0, count: m)
        inputs.withUnsafeBufferPointer { x in
            points.withUnsafeBufferPointer { z in
            inv.withUnsafeBufferPointer { inv in
            alpha.withUnsafeBufferPointer { al in
            mean.withUnsafeMutableBufferPointer { mb in
                ks.storage.withUnsafeMutableBufferPointer { kb in
                    for a in 0..<n {
                        for c in 0..<m {
                            var r2 = 0.0
                            for j in 0..<d { let t = (x[a * d + j] - z[c * d + j]) * inv[j]; r2 += t * t }
                            kb[a * m + c] = signalVariance * Self.matern52(r2: r2)
                        }
                    }
                    for a in 0..<n { let al = al[a]; for c in 0..<m { mb[c] += kb[a * m + c] * al } }
                }
            }}}}
        }
        try cholesky.solveLower(inPlace: &ks)  // L⁻¹K(X, X*), all columns in one dtrsm
        var variance = [Double](repeating: signalVariance, count: m)
        ks.storage.withUnsafeBufferPointer { vb in
            variance.withUnsafeMutableBufferPointer { vr in
                for a in 0..<n { for c in 0..<m { let t = vb[a * m + c]; vr[c] -= t * t } }
            }
        }
        return (mean, variance.map { max($0, 1e-12 * signalVariance).squareRoot() })
    }
}

/// log EI for maximization, computed stably (Ament et al., "Unexpected Improvements to Expected
/// Improvement for Bayesian Optimization", NeurIPS 2023, eq. 9): EI = σ·h(z), z = (μ − f*)/σ,
/// h(z) = φ(z) + zΦ(z).
func logExpectedImprovement(mean: Double, sd: Double, best: Double) -> Double {
    let z = (mean - best) / sd
    return logH(z) + log(sd)
}

/// log h(z), h(z) = φ(z) + zΦ(z), accurate for very negative z.
func logH(_ z: Double) -> Double {
    if z > -1 { return log(StandardNormal.pdf(z) + z * StandardNormal.cdf(z)) }
    let logPhi = -0.5 * z * z - 0.5 * log(2 * Double.pi)
    if z < -40 {
        // Far tail: 1 − |z|Φ(z)/φ(z) = z⁻²(1 − 3z⁻² + 15z⁻⁴ − 105z⁻⁶ + 945z⁻⁸ − …), the
        // asymptotic series of the Mills ratio; at |z| ≥ 40 five terms are exact to ~1e-12.
        let u = 1 / (z * z)
        let series = 1 - u * (3 - u * (15 - u * (105 - u * 945)))
        return logPhi + log(u) + log(series)
    }
    // h(z) = φ(z)·(1 − |z|·Φ(z)/φ(z)); the Mills-ratio term comes from log Φ (log erfc).
    let a = log(-z) + StandardNormal.logCDF(z) - logPhi   // log(|z|Φ(z)/φ(z)) < 0
    let log1mexp = a > -log(2.0) ? log(-expm1(a)) : log1p(-exp(a))
    return logPhi + log1mexp
}

