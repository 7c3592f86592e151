import Foundation
import Testing
import MergetuneNumerics
@testable import Optimizers

/// What a correct implementation must reach on the analytic test functions (10 seeds each;
/// the full table, with medians, is Benchmarks/optimizers-test-functions.md).
@Suite struct QualityTests {
    static let braninRange = TestFunctionRun.range(of: .branin)
    static let camelRange = TestFunctionRun.range(of: .sixHumpCamel)

    static func hits(_ f: TestFunction, _ range: (min: Double, max: Double), _ config: OptimizerConfig,
                     budget: Int, threshold: Double, seeds: ClosedRange<Int> = 1...10) throws -> (Int, [Double]) {
        var regrets: [Double] = []
        for s in seeds { regrets.append(try TestFunctionRun.run(f, config: config, budget: budget, seed: UInt64(s), range: range).regret) }
        return (regrets.filter { $0 <= threshold }.count, regrets)
    }

    /// GP-BO reaches Branin's optimum within 1e-3 normalized regret (stricter than the 1e-2)
    /// on at least 8 of 10 seeds with N = 40.
    @Test func gpOnBranin() throws {
        let (k, r) = try Self.hits(.branin, Self.braninRange, OptimizerConfig(kind: "gp"), budget: 40, threshold: 1e-3)
        #expect(k >= 8, "regrets \(r)")
    }

    /// GP-BO on six-hump camel: within 1e-2 on at least 8 of 10 seeds.
    @Test func gpOnSixHumpCamel() throws {
        let (k, r) = try Self.hits(.sixHumpCamel, Self.camelRange, OptimizerConfig(kind: "gp"), budget: 40, threshold: 1e-2)
        #expect(k >= 8, "regrets \(r)")
    }

    /// GP-BO on Hartmann-3 (3-D, N = 60): within 1e-2 on at least 3 of 4 seeds (4 seeds keep the
    /// debug-build suite short; the 10-seed result, 10/10, is in Benchmarks/).
    @Test func gpOnHartmann3() throws {
        let (k, r) = try Self.hits(.hartmann3, TestFunctionRun.range(of: .hartmann3), OptimizerConfig(kind: "gp"), budget: 60,
                                   threshold: 1e-2, seeds: 1...4)
        #expect(k >= 3, "regrets \(r)")
    }

    /// The local searches with their defaults find Branin's and the camel's optimum within 1e-2
    /// on at least 8 of 10 seeds, and beat random search's median regret on both.
    @Test(arguments: ["cmaes", "pattern", "powell"])
    func localSearchesOn2D(_ kind: String) throws {
        for (f, range) in [(TestFunction.branin, Self.braninRange), (.sixHumpCamel, Self.camelRange)] {
            let (k, r) = try Self.hits(f, range, OptimizerConfig(kind: kind), budget: 40, threshold: 1e-2)
            #expect(k >= 8, "\(kind) on \(f.name): \(r)")
            let (_, random) = try Self.hits(f, range, OptimizerConfig(kind: "random"), budget: 40, threshold: 1e-2)
            if kind != "cmaes" { #expect(median(r) < median(random), "\(kind) on \(f.name): \(median(r)) vs random \(median(random))") }
        }
    }

    /// Powell's line searches are exact enough: a 3-D quadratic with an interior minimum is solved
    /// to 1e-5 in 60 evaluations.
    @Test func powellSolvesAQuadratic() throws {
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: "powell"), dimension: 3, budget: 60, seed: 1)
        let c = [0.3, 0.6, 0.45]
        var best = -Double.infinity
        for i in 0..<60 {
            let x = try opt.ask()
            let v = -zip(x, c).enumerated().reduce(0) { $0 + Double($1.offset + 1) * ($1.element.0 - $1.element.1) * ($1.element.0 - $1.element.1) }
            best = max(best, v); try opt.tell(i, v)
        }
        #expect(best > -1e-5, "best \(best)")
    }

    /// CMA-ES shrinks onto the optimum of a sphere: 3-D, 200 evaluations, no restarts.
    @Test func cmaesConvergesOnASphere() throws {
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: "cmaes", options: ["tolx": .number(1e-9)]), dimension: 3, budget: 200, seed: 2)
        var best = -Double.infinity
        for i in 0..<200 {
            let x = try opt.ask()
            let v = -x.reduce(0) { $0 + ($1 - 0.4) * ($1 - 0.4) }
            best = max(best, v); try opt.tell(i, v)
        }
        #expect(best > -1e-5, "best \(best)")
    }

    /// A string `local_budget` is read as a decimal number: "0.25" is N/4, a hex float is refused.
    @Test func localBudgetStringsAreDecimalOnly() throws {
        let quarter = try OptimizerFactory.make(OptimizerConfig(kind: "pattern", options: ["local_budget": .string("0.25")]),
                                                dimension: 2, budget: 40, seed: 3)
        for i in 0..<40 { let x = try quarter.ask(); try quarter.tell(i, -abs(x[0] - 0.5) - abs(x[1] - 0.5)) }
        #expect((quarter as? MultiStartReporting)?.localRuns == 4)
        for text in ["0x1p-2", "nan", "inf"] {
            #expect(throws: OptimizerError.self, "\(text)") {
                _ = try OptimizerFactory.make(OptimizerConfig(kind: "pattern", options: ["local_budget": .string(text)]),
                                              dimension: 2, budget: 40, seed: 3)
            }
        }
    }

    /// Compass search's restarts: with a local budget of N/4 a 40-trial run makes four local runs.
    @Test func localBudgetForcesRestarts() throws {
        for (option, runs) in [(OptionValue.number(0.25), 4), (.number(10), 4), (.string("none"), 1)] {
            let opt = try OptimizerFactory.make(OptimizerConfig(kind: "pattern", options: ["local_budget": option, "step_tolerance": .number(1e-9)]),
                                                dimension: 2, budget: 40, seed: 3)
            for i in 0..<40 { let x = try opt.ask(); try opt.tell(i, -abs(x[0] - 0.5) - abs(x[1] - 0.5)) }
            #expect((opt as? MultiStartReporting)?.localRuns == runs, "\(option)")
        }
    }
}

@Suite struct ComponentTests {
    /// Hansen's constants for n = 2 (λ = 6, μ = 3), computed by hand from the tutorial's formulas.
    @Test func cmaConstants() {
        let p = CMAParameters(dimension: 2)
        #expect(p.lambda == 6 && p.mu == 3)
        #expect(abs(p.weights.reduce(0, +) - 1) < 1e-12)
        #expect(abs(p.muEff - 2.0286) < 1e-3)
        #expect(abs(p.cSigma - 0.44621) < 1e-4)
        #expect(abs(p.c1 - 0.15482) < 1e-4)
        #expect(abs(p.cC - (4 + p.muEff / 2) / (6 + p.muEff)) < 1e-12)
        #expect(abs(p.dSigma - (1 + p.cSigma)) < 1e-12)   // μ_eff − 1 < n + 1: no extra damping
        #expect(abs(p.chiN - 2.0.squareRoot() * (1 - 1.0 / 8 + 1.0 / 84)) < 1e-12)
        #expect(CMAParameters(dimension: 3).lambda == 7)
        #expect(CMAParameters(dimension: 10).lambda == 10)
    }

    /// log h(z) matches the direct formula where that is accurate, and stays finite and increasing
    /// far into the tail where EI itself underflows.
    @Test func logEIIsStable() {
        for z in stride(from: -39.0, through: 5.0, by: 0.25) where z > -5 || z == z.rounded() {
            // Direct where it is accurate; below −5 the exact Mills-ratio route against the series.
            let direct = z > -5 ? log(StandardNormal.pdf(z) + z * StandardNormal.cdf(z)) : logH(z)
            #expect(abs(logH(z) - direct) < 1e-8 * max(1, abs(direct)), "z = \(z)")
        }
        var previous = -Double.infinity
        for z in [-1e7, -1e5, -1e3, -100, -40, -38, -20, -5] {
            let v = logH(z)
            #expect(v.isFinite && v > previous, "z = \(z): \(v)")
            previous = v
        }
        // The series branch (z < −40) continues the exact branch at the switch.
        // (d log h/dz ≈ |z| there, so the two sides differ by about 40 · 2e-7.)
        #expect(abs(logH(-39.9999999) - logH(-40.0000001) - 40 * 2e-7) < 1e-7)
        // Asymptote h(z) ≈ φ(z)/z² for z → −∞.
        let z = -60.0
        #expect(abs(logH(z) - (-0.5 * z * z - 0.5 * log(2 * Double.pi) - 2 * log(-z))) < 1e-3)
    }

    /// The marginal-likelihood gradient matches central finite differences.
    @Test func gpGradientMatchesFiniteDifferences() {
        let rng = RandomGenerator(seed: 7)
        let d = 3, n = 15
        let x = (0..<(n * d)).map { _ in rng.uniform() }
        var y = (0..<n).map { i in sin(5 * x[i * d]) + x[i * d + 1] * x[i * d + 2] }
        let m = y.reduce(0, +) / Double(n); y = y.map { $0 - m }
        let theta = [log(0.4), log(0.7), log(0.25), 0.2, -5]
        let g = GaussianProcess.objective(theta: theta, inputs: x, targets: y, dimension: d, noiseFloor: 1e-6).gradient
        for i in theta.indices {
            var a = theta, b = theta; a[i] += 1e-5; b[i] -= 1e-5
            let fd = (GaussianProcess.objective(theta: a, inputs: x, targets: y, dimension: d, noiseFloor: 1e-6).value
                      - GaussianProcess.objective(theta: b, inputs: x, targets: y, dimension: d, noiseFloor: 1e-6).value) / 2e-5
            #expect(abs(fd - g[i]) < 1e-4 * max(1, abs(fd)), "θ[\(i)]: analytic \(g[i]) vs \(fd)")
        }
    }

    /// The GP interpolates its (noise-free) data and is uncertain far from it.
    @Test func gpInterpolates() throws {
        let x = [0.1, 0.4, 0.5, 0.9], y = [-1.0, 0.5, 1.0, -0.5]
        let gp = try GaussianProcess(inputs: x, targets: y, dimension: 1, theta: [log(0.2), 0, -20], noiseFloor: 1e-8)
        let p = try gp.predict(x, count: 4)
        for i in 0..<4 { #expect(abs(p.mean[i] - y[i]) < 1e-3); #expect(p.sd[i] < 1e-2) }
        #expect(try gp.predict([0.7], count: 1).sd[0] > 0.1)
    }

    @Test func localBudgetParsing() throws {
        #expect(try LocalBudget.parse(.number(0), kind: "k") == .unlimited)
        #expect(try LocalBudget.parse(.string("none"), kind: "k") == .unlimited)
        #expect(try LocalBudget.parse(.number(0.25), kind: "k") == .fraction(0.25))
        #expect(try LocalBudget.parse(.number(12), kind: "k") == .count(12))
        #expect(LocalBudget.fraction(0.25).limit(totalBudget: 40) == 10)
        #expect(LocalBudget.fraction(0.125).limit(totalBudget: 60) == 8)
        #expect(throws: OptimizerError.self) { try LocalBudget.parse(.number(1.5), kind: "k") }
        #expect(throws: OptimizerError.self) { try LocalBudget.parse(.bool(true), kind: "k") }
    }

    /// A failed trial counts as the worst score seen before it; before any success, as a large
    /// finite penalty.
    @Test func failedTrialsTakeTheWorstScoreSoFar() throws {
        var h = TrialHistory(dimension: 1)
        try h.append([0.1], nil)
        try h.append([0.2], 3)
        try h.append([0.3], 1)
        try h.append([0.4], nil)
        try h.append([0.5], .nan)
        #expect(h.effective == [TrialHistory.failurePenaltyFloor, 3, 1, 1, 1])
    }

    @Test func optionsAreValidated() {
        #expect(throws: OptimizerError.badOption(kind: "cmaes", option: "sigma0", reason: "expected a number > 0.0, got -1.0")) {
            try OptimizerFactory.make(OptimizerConfig(kind: "cmaes", options: ["sigma0": .number(-1)]), dimension: 2, budget: 40, seed: 1)
        }
        #expect(throws: OptimizerError.self) {
            try OptimizerFactory.make(OptimizerConfig(kind: "sobol", options: ["scramble": .number(1)]), dimension: 2, budget: 40, seed: 1)
        }
        #expect(throws: OptimizerError.self) {
            try OptimizerFactory.make(OptimizerConfig(kind: "gp", options: ["candidates": .number(2.5)]), dimension: 2, budget: 40, seed: 1)
        }
        #expect(OptimizerFactory.kinds.allSatisfy { OptimizerFactory.options[$0] != nil })
    }

    /// Unscrambled Sobol asks the same points for every seed; scrambled ones differ.
    @Test func sobolScrambleOption() throws {
        let a = try OptimizerFactory.make(OptimizerConfig(kind: "sobol", options: ["scramble": .bool(false)]), dimension: 2, budget: 4, seed: 1)
        let b = try OptimizerFactory.make(OptimizerConfig(kind: "sobol", options: ["scramble": .bool(false)]), dimension: 2, budget: 4, seed: 2)
        #expect(try a.ask() == [0.5, 0.5])
        #expect(try b.ask() == [0.5, 0.5])
    }
}

fileprivate func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}
