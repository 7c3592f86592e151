import Foundation
import MergetuneNumerics
import Optimizers
import Executors

/// What a study evaluates. Scores are maximized. Each kind (ObjectiveKinds.swift) parses its
/// spec table and builds one of these.
public protocol Objective: Sendable {
    var name: String { get }
    var kind: String { get }
    /// The box searched, in parameter coordinates.
    var space: SearchSpace { get }
    /// The score at `x` (parameter coordinates); throwing marks the trial FAIL.
    func evaluate(_ x: [Double]) throws -> Double
    /// Global minimum and maximum of the score over the box (normalized regret divides by
    /// their difference). Called once, when the study is created.
    func extrema() throws -> (minimum: Double, maximum: Double)
    /// Reference points the objective itself carries (e.g. measured in a landscape file).
    var builtInReferences: [ReferenceSpec] { get }
    /// The score and sub-scores recorded with it in the trial's `extras` (nil: none). The
    /// runner calls this; the default is `evaluate` without extras.
    func evaluateWithExtras(_ x: [Double]) throws -> (value: Double, extras: [String: Double]?)
    /// Simulated cost of a trial in milliseconds (`delay_ms`): slept before each *trial*, never
    /// in the launch-time extrema and sum-to-one searches.
    var trialDelayMs: Int { get }
    /// One attempt of a trial, or of a reference measured when the study is created
    /// (`context.reference`). The default evaluates in this process (`TrialWorker.evaluate`);
    /// an objective that runs something of its own (the `command` kind) overrides it.
    func evaluateAttempt(_ x: [Double], context: AttemptContext) -> AttemptOutcome
    /// References that are measured once, through `evaluateAttempt`, when the study is created
    /// and never again (the command kind's closed forms and parents); `builtInReferences` are
    /// known (or cheap) without a measurement. Default: none.
    var referencesToMeasure: [ReferenceSpec] { get }
    /// Whether a trial needs its own attempt directory even in-process (it writes files there).
    var needsAttemptDirectory: Bool { get }
}

/// Where and for what one attempt runs: handed to `Objective.evaluateAttempt`, and written into
/// `trial.json` for a worker process.
public struct AttemptContext: Codable, Sendable, Equatable {
    public var study: String
    public var run: Int64
    public var trial: Int
    public var attempt: Int
    public var seed: Int
    /// The attempt's own directory (absolute; fresh for every attempt); "" when none.
    public var directory: String
    /// Where the trial's merged checkpoint goes (command objectives with a merge table).
    public var checkpoint: String?
    /// Set when the attempt measures a reference (its name) instead of a searched point.
    public var reference: String?
    /// The value of the fidelity to evaluate at (objectives with fidelities); nil: full fidelity.
    public var fidelity: Int? = nil

    public init(study: String, run: Int64, trial: Int, attempt: Int, seed: Int, directory: String,
                checkpoint: String? = nil, reference: String? = nil, fidelity: Int? = nil) {
        self.study = study; self.run = run; self.trial = trial; self.attempt = attempt; self.seed = seed
        self.directory = directory; self.checkpoint = checkpoint; self.reference = reference; self.fidelity = fidelity
    }
}

extension Objective {
    public var trialDelayMs: Int { 0 }
    public var referencesToMeasure: [ReferenceSpec] { [] }
    public var needsAttemptDirectory: Bool { false }

    public func evaluateAttempt(_ x: [Double], context: AttemptContext) -> AttemptOutcome {
        TrialWorker.evaluate(self, x)
    }

    public func evaluateWithExtras(_ x: [Double]) throws -> (value: Double, extras: [String: Double]?) {
        (try evaluate(x), nil)
    }
}

public enum ObjectiveError: Error, CustomStringConvertible {
    case nonFinite(Double)
    case failed(String)
    public var description: String {
        switch self {
        case .nonFinite(let x): return "the objective returned \(x)"
        case .failed(let why): return why
        }
    }
}

/// An analytic test function; score = −f(x), so the known minimum of f is the best score.
public struct AnalyticObjective: Objective {
    public let name: String
    public var kind: String { "analytic" }
    public let function: TestFunction
    public let space: SearchSpace
    /// Milliseconds slept per trial, to simulate an expensive objective.
    public let delayMs: Int
    public var trialDelayMs: Int { delayMs }
    public var builtInReferences: [ReferenceSpec] { [] }

    public init(name: String, function: TestFunction, space: SearchSpace? = nil, delayMs: Int = 0) {
        self.name = name; self.function = function; self.space = space ?? function.space; self.delayMs = delayMs
    }

    public func evaluate(_ x: [Double]) throws -> Double {
        -function(x)
    }

    /// The maximum score is −(published minimum) when the box is the function's own; otherwise
    /// (and for the minimum score, which the literature does not give) a dense grid search.
    public func extrema() throws -> (minimum: Double, maximum: Double) {
        let grid = denseExtrema(space: space) { -function($0) }
        let maximum = space == function.space ? max(-function.knownMinimum, grid.maximum) : grid.maximum
        return (grid.minimum, maximum)
    }
}

/// Extremes of f over a box: a regular grid (corners included), then a shrinking local grid
/// around the best and worst points. Deterministic; up to 6 parameters (11^6 grid points). From
/// 7 parameters a grid would not finish (11^16 points at 16-D, an overflow from 19-D), so
/// `sampledExtrema` takes over.
func denseExtrema(space: SearchSpace, levels: Int? = nil, _ f: ([Double]) -> Double) -> (minimum: Double, maximum: Double) {
    let d = space.dimension
    if levels == nil && d > 6 { return sampledExtrema(space: space, f) }
    let n = levels ?? (d <= 2 ? 201 : d == 3 ? 41 : 11)
    var lo = Double.infinity, hi = -Double.infinity
    var argLo = [Double](repeating: 0.5, count: d), argHi = argLo
    var index = [Int](repeating: 0, count: d)
    var count = 1
    for _ in 0..<d { count *= n }
    for _ in 0..<count {
        let u = index.map { Double($0) / Double(n - 1) }
        let v = f(space.fromUnit(u))
        if v < lo { lo = v; argLo = u }
        if v > hi { hi = v; argHi = u }
        for k in 0..<d { index[k] += 1; if index[k] < n { break }; index[k] = 0 }
    }
    // Refine: 5^d grids around the incumbents, halving the step each round.
    var step = 1.0 / Double(n - 1)
    for _ in 0..<30 {
        for sign in [1.0, -1.0] {
            var best = sign > 0 ? hi : lo
            var arg = sign > 0 ? argHi : argLo
            var offsets = [Int](repeating: -2, count: d)
            let center = arg
            for _ in 0..<Int(pow(5.0, Double(d))) {
                let u = zip(center, offsets).map { min(1, max(0, $0 + Double($1) * step / 2)) }
                let v = f(space.fromUnit(u))
                if sign * v > sign * best { best = v; arg = u }
                for k in 0..<d { offsets[k] += 1; if offsets[k] <= 2 { break }; offsets[k] = -2 }
            }
            if sign > 0 { hi = best; argHi = arg } else { lo = best; argLo = arg }
        }
        step /= 2
    }
    return (lo, hi)
}

/// FNV-1a 64 of a file's bytes, as hex: detects a landscape edited after a study started.
func checksum(of url: URL) throws -> String { landscapeChecksum(try Data(contentsOf: url)) }

/// The checksum a study records for a landscape's bytes (reports compare the file against it).
public func landscapeChecksum(_ data: Data) -> String { String(fnv1a64(data), radix: 16) }

/// Extremes of f over a box of many parameters: the box's centre, 2^16 points of an unshifted
/// Sobol sequence (uniform points beyond its dimensions, fixed seed), then coordinate search from
/// the best and the worst point, halving the step 30 times (at most 50 sweeps per step). Deterministic; 65,536 + up to
/// 2 · 30 · 50 · 2d evaluations, so it ends in seconds for cheap functions at any dimension.
func sampledExtrema(space: SearchSpace, _ f: ([Double]) -> Double) -> (minimum: Double, maximum: Double) {
    let d = space.dimension
    var argLo = [Double](repeating: 0.5, count: d), argHi = argLo
    var lo = f(space.fromUnit(argLo)), hi = lo
    let sobol = try? SobolSequence(dimension: min(d, SobolSequence.maxDimension), shiftSeed: nil)
    let rng = RandomGenerator(seed: 0x4558_5452_454D_4121)
    for _ in 0..<65_536 {
        var u = sobol?.next() ?? []
        if u.count < d { u += rng.uniformPoint(dimension: d - u.count) }
        let v = f(space.fromUnit(u))
        if v < lo { lo = v; argLo = u }
        if v > hi { hi = v; argHi = u }
    }
    for sign in [1.0, -1.0] {
        var arg = sign > 0 ? argHi : argLo
        var best = sign > 0 ? hi : lo
        var step = 1.0 / 16
        for _ in 0..<30 {
            var improved = true, sweeps = 0
            while improved && sweeps < 50 {
                improved = false; sweeps += 1
                for k in 0..<d {
                    for delta in [step, -step] {
                        var u = arg
                        u[k] = min(1, max(0, u[k] + delta))
                        let v = f(space.fromUnit(u))
                        if sign * v > sign * best { best = v; arg = u; improved = true }
                    }
                }
            }
            step /= 2
        }
        if sign > 0 { hi = best } else { lo = best }
    }
    return (lo, hi)
}
