import Foundation
import Testing
@testable import Optimizers

/// GP-BO's noise floor (`noise_floor`, docs/optimizers.md "GP-BO"): generation 3 lowered it from
/// 1e-6 to 1e-8 in standardized units, because on deterministic objectives the higher floor
/// blurred the top of a basin and the polish stalled (Benchmarks/sample-efficiency.md).
@Suite struct NoiseFloorTests {
    /// Final regret of GP-BO minimizing f (minimum `minimum`) on the unit box, per seed.
    static func regrets(_ f: ([Double]) -> Double, minimum: Double, dimension: Int, budget: Int, seeds: ClosedRange<Int>,
                        options: [String: OptionValue]) throws -> [Double] {
        try seeds.map { seed in
            let opt = try OptimizerFactory.make(OptimizerConfig(kind: "gp", options: options), dimension: dimension,
                                                budget: budget, seed: UInt64(seed))
            var best = Double.infinity
            for i in 0..<budget {
                let x = try opt.ask()
                let v = f(x)
                best = min(best, v)
                try opt.tell(i, -v)
            }
            return best - minimum
        }
    }

    /// The sample-efficiency suite's rotated ellipse in 2-D (axes 0.25 and 0.9, turned by 0.6 rad,
    /// minimum 0 at (0.62, 0.37)).
    static func ellipse(_ x: [Double]) -> Double {
        let u0 = x[0] - 0.62, u1 = x[1] - 0.37, c = cos(0.6), s = sin(0.6)
        let a = c * u0 - s * u1, b = s * u0 + c * u1
        return (a / 0.25) * (a / 0.25) + (b / 0.9) * (b / 0.9)
    }

    static func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return 0.5 * (s[(s.count - 1) / 2] + s[s.count / 2]) }

    @Test func theFloorIsAnOption() throws {
        let gp = try #require(try OptimizerFactory.make(OptimizerConfig(kind: "gp", options: ["noise_floor": .number(1e-4)]),
                                                        dimension: 2, budget: 20, seed: 1) as? GPBO)
        #expect(gp.settings.noiseFloor == 1e-4)
        #expect(GPBOSettings(dimension: 2).noiseFloor == 1e-8)
        #expect(ParEGOSettings(dimension: 2).gp.noiseFloor == 1e-6)
        for bad: OptionValue in [.number(0), .number(-1e-8), .number(2), .string("small")] {
            #expect(throws: OptimizerError.self) {
                try OptimizerFactory.make(OptimizerConfig(kind: "gp", options: ["noise_floor": bad]), dimension: 2, budget: 20, seed: 1)
            }
        }
    }

    /// The rotated ellipse, budget 40, seeds 1–8: the median final regret with the 1e-8 floor is
    /// far under the 1e-6 floor's (measured: 3.0e-8 against 6.4e-7; on Branin 1.1e-4 against
    /// 1.8e-4–2.9e-4, too close to assert, as BLAS's threads change the last bits). The test asks
    /// for a factor of 4, so it fails on the generation-2 default.
    @Test func theLowerFloorPolishesFurther() throws {
        let old = Self.median(try Self.regrets(Self.ellipse, minimum: 0, dimension: 2, budget: 40, seeds: 1...8, options: ["noise_floor": .number(1e-6)]))
        let new = Self.median(try Self.regrets(Self.ellipse, minimum: 0, dimension: 2, budget: 40, seeds: 1...8, options: [:]))
        print("ellipse: median final regret, noise floor 1e-6 \(old), 1e-8 \(new)")
        #expect(new * 4 < old, "\(new) against \(old)")
    }
}
