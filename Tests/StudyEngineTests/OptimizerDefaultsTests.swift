import Foundation
import Testing
import Optimizers
@testable import StudyEngine

/// `optimizer_defaults` (docs/studies.md, "Optimizer defaults"): a new spec runs today's
/// generation, a study recorded before generations existed runs generation 1, and the
/// generation is not part of a study's identity.
@Suite struct OptimizerDefaultsTests {
    static func spec(_ extra: String) throws -> StudySpec {
        try StudySpec.parse("""
            name = "g"
            \(extra)
            [[optimizers]]
            kind = "gp"
            [[objectives]]
            kind = "analytic"
            function = "branin"
            """, file: "g.toml", baseDirectory: URL(fileURLWithPath: "/"))
    }

    @Test func newSpecsRunTodaysGeneration() throws {
        let s = try Self.spec("")
        #expect(s.optimizerDefaults == OptimizerFactory.defaultsGeneration)
        #expect(s.optimizerConfig(s.optimizers[0]) == OptimizerConfig(kind: "gp"))
        let old = try Self.spec("optimizer_defaults = 1")
        #expect(old.optimizerConfig(old.optimizers[0]).options == ["explore": .number(0), "noise_floor": .number(1e-6)])
        #expect(old.sameStudy(as: s))
    }

    @Test func badGenerationsAreRefused() throws {
        for bad in ["optimizer_defaults = 0", "optimizer_defaults = \(OptimizerFactory.defaultsGeneration + 1)", "optimizer_defaults = \"new\""] {
            let e = #expect(throws: SpecError.self) { try Self.spec(bad) }
            #expect(e?.description.contains("optimizer_defaults") == true, "\(String(describing: e))")
        }
    }

    /// A spec stored before generations were recorded (no key in its JSON) is generation 1.
    @Test func storedSpecsWithoutAGenerationAreGenerationOne() throws {
        var s = try Self.spec("")
        s.optimizerDefaults = nil
        let json = try s.canonicalJSON()
        #expect(!json.contains("optimizerDefaults"))
        let back = try StudySpec.fromJSON(json)
        #expect(back.optimizerDefaults == nil && back.optimizerDefaultsGeneration == 1)
        #expect(back.optimizerConfig(back.optimizers[0]).options == ["explore": .number(0), "noise_floor": .number(1e-6)])
    }
}

/// Analytic objectives' extremes at many parameters: a grid would not finish (11^16 points at
/// 16-D) or overflow (from 19-D); the sampled search ends and finds Levy's known maximum score 0.
@Suite struct HighDimensionExtremaTests {
    @Test(arguments: [7, 20, 40])
    func analyticExtremaEndAtAnyDimension(_ d: Int) throws {
        let f = try #require(TestFunction.scalable("levy_\(d)"))
        let (lo, hi) = try AnalyticObjective(name: "levy_\(d)", function: f).extrema()
        #expect(hi == -f.knownMinimum && lo.isFinite && lo < hi - 1, "levy_\(d): [\(lo), \(hi)]")
        // The sampled search itself (not the published minimum) gets near Levy's optimum.
        let s = sampledExtrema(space: f.space) { -f($0) }
        #expect(s.maximum > -1e-3 * (s.maximum - s.minimum), "levy_\(d) sampled maximum \(s.maximum), minimum \(s.minimum)")
    }
}
