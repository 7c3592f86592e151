import Foundation
import Optimizers

/// What a study evaluates. Scores are maximized. New kinds (testbed models, external commands)
/// conform to this protocol and add a case where `ObjectiveFactory` builds objectives.
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
}

extension Objective {
    public var trialDelayMs: Int { 0 }

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
/// around the best and worst points. Deterministic and cheap enough for d ≤ 3.
func denseExtrema(space: SearchSpace, levels: Int? = nil, _ f: ([Double]) -> Double) -> (minimum: Double, maximum: Double) {
    let d = space.dimension
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

/// Builds the runtime objective of a spec. `file` is named in errors.
public enum ObjectiveFactory {
    public static func make(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective {
        switch spec.kind {
        case "analytic":
            let function = TestFunction.named(spec.function ?? "")!
            var space = function.space
            if let bounds = spec.bounds {
                let names = function.space.names
                guard Set(bounds.map(\.name)) == Set(names) else {
                    throw SpecError(file: file, key: "\(key).bounds", "function '\(function.name)' has parameters \(names.joined(separator: ", ")); bounds name \(bounds.map(\.name).sorted().joined(separator: ", "))")
                }
                space = try SearchSpace(names.map { n in
                    let b = bounds.first { $0.name == n }!
                    return Parameter(name: n, lower: b.lower, upper: b.upper)
                })
            }
            return AnalyticObjective(name: spec.name, function: function, space: space, delayMs: spec.delayMs)
        case "surrogate":
            return try SurrogateSupport.makeObjective(spec, file: file, key: key)
        case "testbed":
            return try TestbedSupport.makeObjective(spec, file: file, key: key)
        default:
            throw SpecError(file: file, key: "\(key).kind", "unknown objective kind '\(spec.kind)'")
        }
    }
}

/// FNV-1a 64 of a file's bytes, as hex: detects a landscape edited after a study started.
func checksum(of url: URL) throws -> String {
    let data = try Data(contentsOf: url)
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in data { h ^= UInt64(byte); h = h &* 0x0000_0100_0000_01b3 }
    return String(h, radix: 16)
}
