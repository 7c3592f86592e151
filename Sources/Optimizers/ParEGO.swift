import Foundation
import MergetuneNumerics

/// An optimizer that can be told a *vector* outcome: one value per metric of a multi-objective
/// study, every metric maximized. The same ask/adopt protocol as `Optimizer`; a run tells either
/// scalars or vectors, never both (a scalar tell counts as a one-metric vector). A run's vectors
/// all have the same length; a vector with a non-finite entry counts as a failed trial.
public protocol MultiObjectiveOptimizer: Optimizer {
    /// The metric vector of pending trial `id`; nil = failed evaluation.
    func tell(_ id: Int, values: [Double]?) throws
    /// A point evaluated outside the optimizer, with its metric vector (before the first ask).
    func warmStart(_ point: [Double], values: [Double]?) throws
}

/// Random and Sobol ask the same points whatever they are told, so a vector is only checked.
extension ScoreFreeSearch: MultiObjectiveOptimizer {
    public func tell(_ id: Int, values: [Double]?) throws { try tell(id, try MetricVectors.first(values)) }
    public func warmStart(_ point: [Double], values: [Double]?) throws { try warmStart(point, try MetricVectors.first(values)) }
}

/// Checks shared by the multi-objective optimizers.
enum MetricVectors {
    /// A told vector: nil stays nil (failure), an empty vector is a protocol violation, one with a
    /// non-finite entry is a failure.
    static func checked(_ values: [Double]?) throws -> [Double]? {
        guard let values else { return nil }
        guard !values.isEmpty else { throw OptimizerError.protocolViolation("told an empty metric vector") }
        return values.allSatisfy(\.isFinite) ? values : nil
    }

    static func first(_ values: [Double]?) throws -> Double? { try checked(values)?.first }
}

/// Settings of ParEGO: GP-BO's (initial design, candidates, polish, hyperparameter starts, pending
/// points) plus the augmentation weight ρ of the Chebyshev scalarization (`rho`).
public struct ParEGOSettings: Sendable, Equatable {
    public var gp: GPBOSettings
    public var rho = 0.05
    /// ParEGO keeps GP-BO's generation-2 noise floor: the 1e-8 of generation 3 was measured on
    /// single-objective runs only (Benchmarks/sample-efficiency.md).
    public init(dimension: Int) { gp = GPBOSettings(dimension: dimension); gp.noiseFloor = 1e-6 }
}

/// ParEGO (Knowles, "ParEGO: a hybrid algorithm with on-line landscape approximation for
/// expensive multiobjective optimization problems", IEEE TEC 10(1), 2006): each ask turns the
/// told metric vectors into one score by a random augmented Chebyshev scalarization, and runs
/// GP-BO's model and acquisition on that score.
///
/// - Design: GP-BO's seeded scrambled-Sobol initial design (warm starts replace design points).
/// - Ask k: a weight vector λ drawn uniformly from the simplex, seeded from (seed, k); each metric
///   normalized to [0, 1] by its observed range over the told successes, turned into a shortfall
///   c_j = 1 − normalized value (0 at the best observed), and scalarized as
///   s = −(max_j λ_j c_j + ρ Σ_j λ_j c_j) (higher is better); failures count as the worst s.
/// - Model and acquisition: GP-BO's `GaussianProcess` fitted (MAP) on the standardized s from
///   GP-BO's fixed hyperparameter starts, log EI maximized by GP-BO's candidates + Nelder-Mead,
///   pending points entered as GP-BO's lies (`pending`, default kriging believer).
///
/// Determinism: λ and every random choice of ask k are seeded from (seed, k), and the fit starts
/// from fixed points only (no state carried between asks), so an ask is a function of seed +
/// event sequence and a replayed run continues exactly.
public final class ParEGO: MultiObjectiveOptimizer {
    public let dimension: Int
    public let settings: ParEGOSettings
    private let seed: UInt64
    private var book: TrialBook
    /// Metric vectors in the order of `book.history` (warm starts, then tells); nil: failed.
    private var vectors: [[Double]?] = []
    private var metricCount: Int?

    public init(dimension: Int, seed: UInt64, settings: ParEGOSettings) {
        self.dimension = dimension; self.seed = seed; self.settings = settings
        book = TrialBook(dimension: dimension)
    }

    public func ask() throws -> [Double] {
        let x = try nextPoint()
        try book.handOut(x)
        return x
    }

    public func adopt(_ point: [Double]) throws { try book.handOut(point) }
    public func tell(_ id: Int, _ value: Double?) throws { try tell(id, values: value.map { [$0] }) }
    public func warmStart(_ point: [Double], _ value: Double?) throws { try warmStart(point, values: value.map { [$0] }) }

    public func tell(_ id: Int, values: [Double]?) throws {
        let v = try checkCount(MetricVectors.checked(values))
        try book.tell(id, v?.first)
        record(v)
    }

    public func warmStart(_ point: [Double], values: [Double]?) throws {
        let v = try checkCount(MetricVectors.checked(values))
        try book.warmStart(point, v?.first)
        record(v)
    }

    private func checkCount(_ v: [Double]?) throws -> [Double]? {
        if let v, let m = metricCount, v.count != m {
            throw OptimizerError.protocolViolation("told a vector of \(v.count) metrics, earlier ones had \(m)")
        }
        return v
    }

    private func record(_ v: [Double]?) {
        vectors.append(v)
        if let v { metricCount = v.count }
    }

    var designSize: Int {
        let s = settings.gp
        return max(min(s.initialPoints, dimension + 1), s.initialPoints - book.warmStarts)
    }

    /// The weight vector of ask `k`: uniform on the simplex (normalized exponentials).
    public static func weights(seed: UInt64, ask k: Int, metrics m: Int) -> [Double] {
        let rng = RandomGenerator(seed: mixSeed(mixSeed(seed, UInt64(k)), 0x5041_5245_474f))
        let e = (0..<m).map { _ in -log(1 - rng.uniform()) }
        let total = e.reduce(0, +)
        return e.map { $0 / total }
    }

    /// The augmented Chebyshev scalarization of shortfalls `c` (each in [0, 1], 0 = best):
    /// −(max_j λ_j c_j + ρ Σ_j λ_j c_j), higher is better.
    public static func scalarize(shortfalls c: [Double], weights w: [Double], rho: Double) -> Double {
        let terms = zip(w, c).map { $0 * $1 }
        return -(terms.max()! + rho * terms.reduce(0, +))
    }

    /// Scores of the told trials under ask k's weights (failures: the worst score); nil with
    /// fewer than two successes.
    func scalarized(ask k: Int) -> [Double]? {
        let ok = vectors.compactMap { $0 }
        guard ok.count >= 2, let m = metricCount else { return nil }
        let lo = (0..<m).map { j in ok.map { $0[j] }.min()! }
        let hi = (0..<m).map { j in ok.map { $0[j] }.max()! }
        let w = ParEGO.weights(seed: seed, ask: k, metrics: m)
        let scores = vectors.map { v in
            v.map { v in
                ParEGO.scalarize(shortfalls: (0..<m).map { j in hi[j] > lo[j] ? (hi[j] - v[j]) / (hi[j] - lo[j]) : 0 },
                                 weights: w, rho: settings.rho)
            }
        }
        let worst = scores.compactMap { $0 }.min()!
        return scores.map { $0 ?? worst }
    }

    private func nextPoint() throws -> [Double] {
        let k = book.count, d = dimension, s = settings.gp
        let trials = book.history.trials
        guard k >= designSize, trials.count >= book.warmStarts + designSize, let raw = scalarized(ask: k) else {
            return try GPBO.designPoint(k, dimension: d, seed: seed)
        }
        let y = GPBO.standardized(raw)
        let x = trials.flatMap(\.point)
        let theta = GaussianProcess.fit(inputs: x, targets: y, dimension: d, noiseFloor: s.noiseFloor,
                                        starts: GPBO.fixedStarts(dimension: d, hyperStarts: s.hyperStarts)).theta
        guard let real = try? GaussianProcess(inputs: x, targets: y, dimension: d, theta: theta, noiseFloor: s.noiseFloor) else {
            return RandomGenerator(seed: mixSeed(seed, UInt64(k))).uniformPoint(dimension: d)
        }
        return try GPBO.maximizeLogEI(real, inputs: x, targets: y, best: y.max()!, pending: book.pendingIDs.map { book.points[$0] },
                                      settings: s, rng: RandomGenerator(seed: mixSeed(seed, UInt64(k))))
    }
}
