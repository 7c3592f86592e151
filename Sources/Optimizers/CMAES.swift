import Foundation
import MergetuneNumerics

/// The CMA-ES strategy parameters, written out in the order of N. Hansen, "The CMA Evolution
/// Strategy: A Tutorial" (arXiv:1604.00772, 2016), Table 1 / Appendix A (the layout follows
/// pycma's `purecma`, but the forms are the tutorial's: d_σ as in Table 1, and h_σ, in the
/// update below, as ‖p_σ‖/√(1 − (1 − c_σ)^(2g)) < (1.4 + 2/(n+1))·χ_n, where purecma uses
/// its squared variant). n is the dimension, λ the population size.
struct CMAParameters {
    let n: Int
    /// λ = 4 + ⌊3 ln n⌋ unless given (IPOP doubles it at each restart).
    let lambda: Int
    /// μ = ⌊λ/2⌋ parents.
    let mu: Int
    /// w_i ∝ ln((λ+1)/2) − ln i, i = 1..μ, normalized to sum 1 (positive recombination weights).
    let weights: [Double]
    /// μ_eff = (Σ w_i)² / Σ w_i².
    let muEff: Double
    /// c_σ = (μ_eff + 2) / (n + μ_eff + 5).
    let cSigma: Double
    /// d_σ = 1 + 2·max(0, √((μ_eff − 1)/(n + 1)) − 1) + c_σ.
    let dSigma: Double
    /// c_c = (4 + μ_eff/n) / (n + 4 + 2μ_eff/n).
    let cC: Double
    /// c_1 = 2 / ((n + 1.3)² + μ_eff).
    let c1: Double
    /// c_μ = min(1 − c_1, 2(μ_eff − 2 + 1/μ_eff) / ((n + 2)² + μ_eff)).
    let cMu: Double
    /// χ_n = E‖N(0, I)‖ ≈ √n (1 − 1/(4n) + 1/(21n²)).
    let chiN: Double

    init(dimension n: Int, lambda: Int? = nil) {
        let nd = Double(n)
        self.n = n
        let lam = max(2, lambda ?? 4 + Int(3 * log(nd)))
        self.lambda = lam
        mu = lam / 2
        let raw = (1...(lam / 2)).map { log(Double(lam + 1) / 2) - log(Double($0)) }
        let sum = raw.reduce(0, +)
        let w = raw.map { $0 / sum }
        weights = w
        let muEff = 1 / w.reduce(0) { $0 + $1 * $1 }
        self.muEff = muEff
        cSigma = (muEff + 2) / (nd + muEff + 5)
        dSigma = 1 + 2 * max(0, ((muEff - 1) / (nd + 1)).squareRoot() - 1) + cSigma
        cC = (4 + muEff / nd) / (nd + 4 + 2 * muEff / nd)
        c1 = 2 / ((nd + 1.3) * (nd + 1.3) + muEff)
        cMu = min(1 - c1, 2 * (muEff - 2 + 1 / muEff) / ((nd + 2) * (nd + 2) + muEff))
        chiN = nd.squareRoot() * (1 - 1 / (4 * nd) + 1 / (21 * nd * nd))
    }
}

/// CMA-ES (Hansen & Ostermeier 2001; the tutorial above) in the unit box, as a local search for
/// the multi-start driver. Restarts are IPOP (Auger & Hansen, CEC 2005): restart k runs with
/// population λ₀·2^k.
///
/// Bounds: a candidate outside the box is resampled (up to `maxResamples` draws, then clipped),
/// so every evaluated point is a genuine draw from the search distribution truncated to the box
/// and no evaluation is spent on a penalty. Stops (convergence) when σ·max√C_ii < `tolX`, when
/// a generation's scores are all equal, or when C's condition number exceeds 1e14.
///
/// Pending trials: a generation's λ points are handed out as they are asked, without waiting;
/// the update happens once all λ are told (further asks meanwhile get the driver's fillers).
struct CMAESSearch: LocalSearch {
    var honoursRecordedPoints: Bool { true }
    var sigma0 = 0.25
    var popsize: Int? = nil
    var tolX = 1e-3
    var maxResamples = 100
    var ipop = true

    func run(start: [Double], restart: Int, rng: RandomGenerator, oracle: ReplayOracle) throws {
        let n = start.count
        let base = CMAParameters(dimension: n, lambda: popsize)
        let p = ipop && restart > 0 ? CMAParameters(dimension: n, lambda: base.lambda << min(restart, 10)) : base
        var mean = clampUnit(start)
        var sigma = sigma0
        var pSigma = [Double](repeating: 0, count: n), pC = [Double](repeating: 0, count: n)
        var C = Matrix.identity(n)
        var B = Matrix.identity(n)
        var D = [Double](repeating: 1, count: n)
        var generation = 0
        while true {
            generation += 1
            // Sample λ candidates x_k = m + σ·B·D·z_k inside the box.
            var xs: [[Double]] = [], ys: [[Double]] = []
            for _ in 0..<p.lambda {
                var x = mean, y = mean
                for attempt in 0..<maxResamples {
                    let z = (0..<n).map { _ in rng.normal() }
                    let dz = zip(D, z).map { $0 * $1 }
                    y = B * dz
                    x = zip(mean, y).map { $0 + sigma * $1 }
                    if x.allSatisfy({ $0 >= 0 && $0 <= 1 }) { break }
                    if attempt == maxResamples - 1 {
                        x = clampUnit(x)
                        y = zip(x, mean).map { ($0 - $1) / sigma }
                    }
                }
                xs.append(x); ys.append(y)
            }
            // Evaluate: the whole generation is handed out (one trial per ask), and the update
            // waits until every one is told. A trial adopted at another point than sampled (a
            // ledger from a machine that rounds differently) enters the update at its recorded
            // point, with y recomputed from it.
            let answers = try oracle.batch(xs)
            let scores = answers.map(\.value)
            for k in xs.indices where answers[k].point != xs[k] {
                xs[k] = answers[k].point
                ys[k] = zip(xs[k], mean).map { ($0 - $1) / sigma }
            }
            // Rank by score, best first.
            let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }

            // Recombination: m ← m + σ·Σ w_i y_{i:λ}.
            var yW = [Double](repeating: 0, count: n)
            for i in 0..<p.mu { for j in 0..<n { yW[j] += p.weights[i] * ys[order[i]][j] } }
            mean = zip(mean, yW).map { $0 + sigma * $1 }

            // Step-size path: p_σ ← (1 − c_σ)p_σ + √(c_σ(2 − c_σ)μ_eff)·C^{-1/2}·y_w.
            let bt = B.transposed * yW
            let cInvHalfY = B * zip(bt, D).map { $0 / $1 }
            let cs = p.cSigma
            for j in 0..<n { pSigma[j] = (1 - cs) * pSigma[j] + (cs * (2 - cs) * p.muEff).squareRoot() * cInvHalfY[j] }
            let psNorm = pSigma.reduce(0) { $0 + $1 * $1 }.squareRoot()
            // h_σ stalls the p_c update when ‖p_σ‖ is large.
            let hSigma: Double = psNorm / (1 - pow(1 - cs, 2 * Double(generation))).squareRoot() / p.chiN
                < 1.4 + 2 / Double(n + 1) ? 1 : 0
            // Covariance path: p_c ← (1 − c_c)p_c + h_σ√(c_c(2 − c_c)μ_eff)·y_w.
            for j in 0..<n { pC[j] = (1 - p.cC) * pC[j] + hSigma * (p.cC * (2 - p.cC) * p.muEff).squareRoot() * yW[j] }
            // C ← (1 − c_1 − c_μ + (1 − h_σ)c_1c_c(2 − c_c))·C + c_1·p_c p_cᵀ + c_μ·Σ w_i y_i y_iᵀ.
            let keep = 1 - p.c1 - p.cMu + (1 - hSigma) * p.c1 * p.cC * (2 - p.cC)
            for r in 0..<n {
                for c in 0...r {
                    var rankMu = 0.0
                    for i in 0..<p.mu { rankMu += p.weights[i] * ys[order[i]][r] * ys[order[i]][c] }
                    let v = keep * C[r, c] + p.c1 * pC[r] * pC[c] + p.cMu * rankMu
                    C[r, c] = v; C[c, r] = v
                }
            }
            // σ ← σ·exp((c_σ/d_σ)(‖p_σ‖/χ_n − 1)).
            sigma *= exp(min(1, (cs / p.dSigma) * (psNorm / p.chiN - 1)))

            // C = B·diag(D²)·Bᵀ.
            let eigen = try SymmetricEigen(C)
            B = eigen.vectors
            D = eigen.values.map { max($0, 1e-300).squareRoot() }

            // Convergence.
            let maxStd = (0..<n).map { C[$0, $0].squareRoot() }.max() ?? 0
            if sigma * maxStd < tolX { return }
            if let lo = scores.min(), let hi = scores.max(), lo == hi { return }
            if let dMax = D.max(), let dMin = D.min(), dMin <= 0 || (dMax / dMin) * (dMax / dMin) > 1e14 { return }
        }
    }
}
