import Foundation
import Testing
@testable import Optimizers

@Suite struct ScalableTestFunctionTests {
    /// Minimum 0 at the published minimizer, and a closed-form value elsewhere.
    @Test(arguments: [2, 8, 16, 20])
    func knownValuesHold(_ d: Int) throws {
        let r = try #require(TestFunction.named("rosenbrock_\(d)"))
        let a = try #require(TestFunction.named("ackley_\(d)"))
        let l = try #require(TestFunction.named("levy_\(d)"))
        #expect(r.space.dimension == d && a.space.dimension == d && l.space.dimension == d)
        for f in [r, a, l] { #expect(abs(f(f.knownMinimizers[0]) - f.knownMinimum) < 1e-12, "\(f.name)") }
        // Rosenbrock at 0: d − 1 terms of (0 − 1)².
        #expect(r(Array(repeating: 0, count: d)) == Double(d - 1))
        // Ackley at (1, …, 1): 20 − 20·e^(−0.2) (cos 2π = 1).
        #expect(abs(a(Array(repeating: 1, count: d)) - (20 - 20 * exp(-0.2))) < 1e-12)
        // Levy at (−3, …): w = 0, sin²(0) = 0, each middle term 1·(1 + 10 sin²(1)), last 1.
        let s1 = sin(1.0) * sin(1.0)
        #expect(abs(l(Array(repeating: -3, count: d)) - (Double(d - 1) * (1 + 10 * s1) + 1)) < 1e-9)
        #expect(TestFunction.named("levy_1") == nil && TestFunction.named("sphere_8") == nil)
    }
}

@Suite struct HighDimensionOptimizerTests {
    /// Every optimizer asks points inside the unit box at 20 dimensions (per_layer spaces of a
    /// 10-layer model), and Sobol supports the dimension.
    @Test(arguments: OptimizerFactory.kinds)
    func everyOptimizerRunsAt20Dimensions(_ kind: String) throws {
        let f = TestFunction.levy(dimension: 20)
        let o = try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: 20, budget: 46, seed: 3)
        var best = Double.infinity
        for i in 0..<46 {
            let u = try o.ask()
            #expect(u.count == 20 && u.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(kind) asked \(u)")
            let v = f(f.space.fromUnit(u))
            best = min(best, v)
            try o.tell(i, -v)
        }
        #expect(best.isFinite)
    }
}
