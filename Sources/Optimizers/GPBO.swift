import Foundation
import MergetuneNumerics

/// Settings of GP-BO (option names in parentheses; defaults in docs/optimizers.md).
public struct GPBOSettings: Sendable, Equatable {
    /// Scrambled-Sobol initial design size (`initial_points`): 2d + 1.
    public var initialPoints: Int
    /// Sobol candidates scored by log EI each ask (`candidates`).
    public var candidates = 512
    /// Best candidates polished by Nelder-Mead (`polish_starts`).
    public var polishStarts = 2
    /// Fixed hyperparameter starts besides the warm start (`hyper_starts`).
    public var hyperStarts = 2
    /// Noise variance floor, in standardized score units (`noise_floor`). The objectives are
    /// deterministic, so the floor only keeps the covariance factorable; at 1e-6 (generations 1
    /// and 2) the model blurred the top of a basin, so that its polish stalled and it kept
    /// returning to its best point (Benchmarks/sample-efficiency.md).
    public var noiseFloor = 1e-8
    /// How pending trials enter the model (`pending`).
    public var pending = PendingStrategy.defaultStrategy
    /// Share of model asks that explore instead of maximizing log EI (`explore`): such an ask
    /// takes a random point of the candidates' Pareto set of (posterior mean, posterior sd).
    /// GP-BO's own asks only (ParEGO's random scalarizations explore already). The default was
    /// chosen on the sample-efficiency suite (Benchmarks/sample-efficiency.md).
    public var exploration = 0.3

    public init(dimension: Int) { initialPoints = 2 * dimension + 1 }
}

/// How GP-BO accounts for trials handed out but not told yet, so that a batch of asks does not
/// collapse onto one point (Ginsbourger, Le Riche & Carraro, "Kriging is well-suited to
/// parallelize optimization", 2010). Each pending point enters the model as a fake observation
/// (a lie) with the hyperparameters fitted on the real data only. Lies are in score units (higher
/// is better): `cl_min` lies with the lowest real score (pessimistic: pushes the next point
/// furthest away), `cl_mean` with the mean, `cl_max` with the highest (optimistic); `kb`
/// (kriging believer) with the model's posterior mean at the point.
public enum PendingStrategy: String, Sendable, CaseIterable {
    case clMin = "cl_min", clMean = "cl_mean", clMax = "cl_max", kb
    /// The default, chosen by `mergetune-bench batch-gp` (Benchmarks/batch-gp.md).
    public static let defaultStrategy = PendingStrategy.kb
}

/// Bayesian optimization with a Gaussian process and log expected improvement.
///
/// - Initial design: the first `initialPoints` points of a seeded scrambled Sobol sequence.
/// - Model: `GaussianProcess` on the told points, scores standardized (mean 0, sd 1); failed
///   trials count as the worst successful score of the run.
/// - Hyperparameters: maximum a posteriori (marginal likelihood × weak log-normal priors),
///   BFGS from the previous ask's optimum (warm start) and `hyperStarts` fixed starts.
/// - Acquisition: log EI over `candidates` scrambled-Sobol points plus Gaussian perturbations
///   of the best observed points; the best `polishStarts` are polished by Nelder-Mead on the
///   box-clamped log EI.
///
/// - Pending trials: lies (`PendingStrategy`) conditioned on with the real data's θ.
/// - Warm starts: data (first in the data sequence); each replaces one design point, down to
///   d + 1 design points.
///
/// Determinism: the data sequence is warm starts then told trials in tell order; the fit on its
/// first n entries is warm-started from the fit on n − 1 (computed on demand, e.g. after a
/// replay), and the random choices of trial k's ask are seeded from (seed, k). So an ask is a
/// function of seed + event sequence, and with strictly sequential use (k = n) it is exactly the
/// sequential optimizer's ask.
public final class GPBO: Optimizer {
    public let dimension: Int
    public let settings: GPBOSettings
    private let seed: UInt64
    private var book: TrialBook
    private var history: TrialHistory { book.history }
    private var fits: [Int: [Double]] = [:]

    public init(dimension: Int, seed: UInt64, settings: GPBOSettings) {
        self.dimension = dimension; self.seed = seed; self.settings = settings
        book = TrialBook(dimension: dimension)
    }

    public func ask() throws -> [Double] {
        let x = try nextPoint()
        try book.handOut(x)
        return x
    }

    public func adopt(_ point: [Double]) throws { try book.handOut(point) }
    public func tell(_ id: Int, _ value: Double?) throws { try book.tell(id, value) }
    public func warmStart(_ point: [Double], _ value: Double?) throws { try book.warmStart(point, value) }

    /// Sobol design points before the model (initial_points less one per warm start, at least d + 1).
    var designSize: Int {
        max(min(settings.initialPoints, dimension + 1), settings.initialPoints - book.warmStarts)
    }

    /// The hyperparameters fitted last (for tests and diagnostics).
    public var lastTheta: [Double]? { fits[history.count] }

    private func designPoint(_ index: Int) throws -> [Double] { try GPBO.designPoint(index, dimension: dimension, seed: seed) }

    /// Point `index` of the seeded scrambled-Sobol initial design (shared with ParEGO).
    static func designPoint(_ index: Int, dimension: Int, seed: UInt64) throws -> [Double] {
        let sobol = try SobolSequence(dimension: min(dimension, SobolSequence.maxDimension), shiftSeed: seed)
        var x = sobol.next()
        for _ in 0..<index { x = sobol.next() }
        if dimension > SobolSequence.maxDimension {
            let rng = RandomGenerator(seed: mixSeed(seed, UInt64(index)))
            x += rng.uniformPoint(dimension: dimension - SobolSequence.maxDimension)
        }
        return x
    }

    /// Inputs and standardized targets of the first `prefix` trials (nil if fewer than 2 successes).
    private func data(prefix: Int) -> (inputs: [Double], targets: [Double], best: Double)? {
        let trials = history.trials[0..<prefix]
        let ok = trials.compactMap(\.value)
        guard ok.count >= 2 else { return nil }
        let worst = ok.min()!
        let y = GPBO.standardized(trials.map { $0.value ?? worst })
        return (trials.flatMap(\.point), y, y.max()!)
    }

    /// Scores standardized to mean 0, sd 1 (sd 1 when they are all equal).
    static func standardized(_ raw: [Double]) -> [Double] {
        let mean = raw.reduce(0, +) / Double(raw.count)
        var sd = (raw.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(raw.count)).squareRoot()
        if !(sd > 1e-12 * max(1, abs(mean))) { sd = 1 }
        return raw.map { ($0 - mean) / sd }
    }

    /// The model is used once the warm starts and the design's worth of trials are told.
    private func usesModel(prefix: Int) -> Bool {
        prefix >= book.warmStarts + designSize && data(prefix: prefix) != nil
    }

    private func fixedStarts() -> [[Double]] { GPBO.fixedStarts(dimension: dimension, hyperStarts: settings.hyperStarts) }

    /// The fixed hyperparameter starts (log length scales, log signal variance, log noise).
    static func fixedStarts(dimension d: Int, hyperStarts: Int) -> [[Double]] {
        let all: [[Double]] = [
            Array(repeating: log(0.5), count: d) + [0, -9],
            Array(repeating: log(0.15), count: d) + [0, -9],
            Array(repeating: log(2.0), count: d) + [0, -6],
            Array(repeating: log(0.3), count: d) + [0, -3],
        ]
        return Array(all.prefix(max(1, hyperStarts)))
    }

    /// θ fitted on the first `prefix` trials, warm-started from the fit on prefix − 1.
    private func theta(prefix: Int) -> [Double] {
        if let t = fits[prefix] { return t }
        var first = prefix
        while first > 0, fits[first - 1] == nil, usesModel(prefix: first - 1) { first -= 1 }
        for k in first...prefix {
            guard let (x, y, _) = data(prefix: k) else { continue }
            // Steady state: BFGS from the warm start only. The fixed starts run too when there is no
            // warm start, while the data set is small (n ≤ 3·initialPoints, where fits are cheap and
            // modes move most), and whenever the warm fit did not converge or hit a bound.
            let fixed = fixedStarts()
            if let warm = fits[k - 1], k > 3 * settings.initialPoints {
                let r = GaussianProcess.fit(inputs: x, targets: y, dimension: dimension,
                                            noiseFloor: settings.noiseFloor, starts: [warm], initialStep: 0.1)
                if r.converged && !r.atBound {
                    fits[k] = r.theta
                } else {
                    let again = GaussianProcess.fit(inputs: x, targets: y, dimension: dimension,
                                                    noiseFloor: settings.noiseFloor, starts: fixed)
                    fits[k] = again.value < r.value ? again.theta : r.theta
                }
            } else {
                let starts = (fits[k - 1].map { [$0] } ?? []) + fixed
                fits[k] = GaussianProcess.fit(inputs: x, targets: y, dimension: dimension,
                                              noiseFloor: settings.noiseFloor, starts: starts).theta
            }
        }
        return fits[prefix] ?? fixedStarts()[0]
    }

    /// Trial k's point: design point k until the model is in use (while design results are
    /// pending, further Sobol points), then the model's.
    private func nextPoint() throws -> [Double] {
        let k = book.count, n = history.count, d = dimension
        guard k >= designSize, usesModel(prefix: n), let (x, y, best) = data(prefix: n) else { return try designPoint(k) }
        let th = theta(prefix: n)
        guard let real = try? GaussianProcess(inputs: x, targets: y, dimension: d, theta: th, noiseFloor: settings.noiseFloor) else {
            return RandomGenerator(seed: mixSeed(seed, UInt64(k))).uniformPoint(dimension: d)
        }
        let pending = book.pendingIDs.map { book.points[$0] }
        // Trial k's exploration stream, from its start: the coin, then the exploring ask's draws.
        func stream() -> RandomGenerator { RandomGenerator(seed: mixSeed(mixSeed(seed, UInt64(k)), GPBO.explorationStream)) }
        func explore(_ rng: RandomGenerator) throws -> [Double] {
            try GPBO.exploreParetoSet(real, inputs: x, targets: y, pending: pending, settings: settings, rng: rng)
        }
        if settings.exploration > 0 {
            let coin = stream()
            if coin.uniform() < settings.exploration { return try explore(coin) }
        }
        let point = try GPBO.maximizeLogEI(real, inputs: x, targets: y, best: best, pending: pending,
                                           settings: settings, rng: RandomGenerator(seed: mixSeed(seed, UInt64(k))))
        // A batch never repeats a pending trial: a kriging believer's log EI can peak again next
        // to one (its lie leaves the mean there at the top), and then the ask explores instead.
        let nearPending = pending.contains { p in zip(p, point).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } < 1e-6 }
        return nearPending ? try explore(stream()) : point
    }

    /// The stream of the exploration coin (and of an exploring ask's draws), apart from the ask's own.
    static let explorationStream: UInt64 = 0x4558_504C_4F52_4521

    /// An exploring ask (ε-PF of De Ath, Everson, Rahat & Fieldsend, "Greed is good: exploration
    /// and exploitation trade-offs in Bayesian optimisation", ACM TELO 2021): a point drawn
    /// uniformly from the scrambled-Sobol candidates that no other candidate beats in both
    /// posterior mean and posterior sd. That set runs from the model's best guess to its least
    /// known region, so an exploring ask can land in a basin the design missed, which log EI,
    /// once the model has seen one basin only, does not pay to visit (Benchmarks/sample-efficiency.md).
    static func exploreParetoSet(_ real: GaussianProcess, inputs x: [Double], targets y: [Double], pending: [[Double]],
                                 settings: GPBOSettings, rng: RandomGenerator) throws -> [Double] {
        let d = real.dimension
        let gp = withLies(real, inputs: x, targets: y, pending: pending, settings: settings) ?? real
        let cands = try sobolCandidates(dimension: d, count: settings.candidates, rng: rng)
        let m = cands.count / d
        let (mu, sigma) = try gp.predict(cands, count: m)
        // Candidates the model already knows (sd under 0.1 % of the prior's: next to a told or
        // pending point) teach nothing; without this a batch could repeat a pending point.
        let floor = 1e-3 * gp.signalVariance.squareRoot()
        var open = (0..<m).filter { sigma[$0] > floor }
        if open.isEmpty { open = Array(0..<m) }
        let front = paretoSet(mean: open.map { mu[$0] }, sd: open.map { sigma[$0] }).map { open[$0] }
        let pick = front[rng.integer(below: front.count)]
        return Array(cands[(pick * d)..<(pick * d + d)])
    }

    /// Indices of the points no other point beats in both mean and sd (both maximized), in order
    /// of decreasing mean; of points equal in both, the first. Non-finite values never qualify
    /// unless nothing else does (then: index 0).
    static func paretoSet(mean mu: [Double], sd sigma: [Double]) -> [Int] {
        let ok = mu.indices.filter { mu[$0].isFinite && sigma[$0].isFinite }
        guard !ok.isEmpty else { return [0] }
        // Decreasing mean (ties: decreasing sd, then index); keep each point whose sd exceeds every sd before it.
        let order = ok.sorted { mu[$0] > mu[$1] || (mu[$0] == mu[$1] && (sigma[$0] > sigma[$1] || (sigma[$0] == sigma[$1] && $0 < $1))) }
        var front: [Int] = []
        var topSD = -Double.infinity
        for i in order where sigma[i] > topSD { front.append(i); topSD = sigma[i] }
        return front
    }

    /// `count` candidates, row-major: a scrambled Sobol sequence seeded from `rng` (uniform points
    /// beyond Sobol's dimensions).
    static func sobolCandidates(dimension d: Int, count: Int, rng: RandomGenerator) throws -> [Double] {
        var cands: [Double] = []
        cands.reserveCapacity(count * d)
        if d <= SobolSequence.maxDimension {
            let sobol = try SobolSequence(dimension: d, shiftSeed: rng.nextSeed())
            for _ in 0..<count { cands += sobol.next() }
        } else {
            for _ in 0..<count { cands += rng.uniformPoint(dimension: d) }
        }
        return cands
    }

    /// The acquisition step shared by GP-BO and ParEGO: the model `real` (on `inputs`, standardized
    /// `targets`, best target `best`) plus one lie per pending point, log EI over scrambled-Sobol
    /// candidates and perturbations of the best points, the best few polished by Nelder-Mead.
    static func maximizeLogEI(_ real: GaussianProcess, inputs x: [Double], targets y: [Double], best: Double,
                              pending: [[Double]], settings: GPBOSettings, rng: RandomGenerator) throws -> [Double] {
        let d = real.dimension
        let gp = withLies(real, inputs: x, targets: y, pending: pending, settings: settings) ?? real

        // Candidates: scrambled Sobol + perturbations of the best observed points.
        var cands = try sobolCandidates(dimension: d, count: settings.candidates, rng: rng)
        let ranked = y.indices.sorted { y[$0] > y[$1] }
        let local = min(max(settings.candidates / 8, 16), 64)
        for k in 0..<local {
            let i = ranked[k % min(3, ranked.count)]
            let sd = k % 2 == 0 ? 0.05 : 0.005
            for j in 0..<d { cands.append(min(1, max(0, x[i * d + j] + rng.normal(sd: sd)))) }
        }
        let m = cands.count / d
        let (mu, sigma) = try gp.predict(cands, count: m)
        var scores = (0..<m).map { logExpectedImprovement(mean: mu[$0], sd: sigma[$0], best: best) }
        for i in 0..<m where !scores[i].isFinite { scores[i] = -.infinity }
        let order = (0..<m).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var bestPoint = Array(cands[(order[0] * d)..<(order[0] * d + d)])
        var bestScore = scores[order[0]]

        // Polish the best few with Nelder-Mead on the clamped log EI.
        func acquisition(_ z: [Double]) -> Double {
            let c = clampUnit(z)
            guard let p = try? gp.predict(c, count: 1) else { return 1e10 }
            let v = logExpectedImprovement(mean: p.mean[0], sd: p.sd[0], best: best)
            let out = zip(z, c).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            return v.isFinite ? -v + 1e3 * out : 1e10
        }
        for k in 0..<min(settings.polishStarts, m) {
            let start = Array(cands[(order[k] * d)..<(order[k] * d + d)])
            guard let r = try? minimizeNelderMead(start: start, stepSizes: Array(repeating: 0.02, count: d),
                                                  sizeTolerance: 1e-4, maxIterations: 25 * d, acquisition) else { continue }
            let c = clampUnit(r.x)
            let v = -acquisition(c)
            if v > bestScore { bestScore = v; bestPoint = c }
        }
        return clampUnit(bestPoint)
    }

    /// The model on the real data plus one lie per pending trial, with the real data's θ (nil
    /// when nothing is pending or the extended covariance does not factor).
    static func withLies(_ real: GaussianProcess, inputs x: [Double], targets y: [Double], pending: [[Double]],
                         settings: GPBOSettings) -> GaussianProcess? {
        let pendingIDs = pending.indices
        guard !pendingIDs.isEmpty else { return nil }
        let points = pending.flatMap { $0 }
        let lies: [Double]
        switch settings.pending {
        case .clMin: lies = Array(repeating: y.min()!, count: pendingIDs.count)
        case .clMean: lies = Array(repeating: y.reduce(0, +) / Double(y.count), count: pendingIDs.count)
        case .clMax: lies = Array(repeating: y.max()!, count: pendingIDs.count)
        case .kb:
            // Conditioning on the posterior mean leaves the mean elsewhere unchanged, so believing
            // all pending points at once equals believing them one by one.
            guard let p = try? real.predict(points, count: pendingIDs.count) else { return nil }
            lies = p.mean
        }
        return try? GaussianProcess(inputs: x + points, targets: y + lies, dimension: real.dimension,
                                    theta: real.theta, noiseFloor: settings.noiseFloor)
    }
}
