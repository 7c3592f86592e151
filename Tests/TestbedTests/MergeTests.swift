import Foundation
import Fusion
import Surrogate
import Testing
@testable import Testbed

@Suite struct MergeTests {
    @Test func taskArithmeticEndpointsAreTheParents() throws {
        let f = Shared.family
        let vlmLike = try f.mergedDecoder(scenario: .language, spec: MergeSpec(method: .taskArithmetic, vlWeight: 1, expWeight: 0),
                                          coefficients: .constant(CoefficientPair(1, 0), layers: 4))
        let expertLike = try f.mergedDecoder(scenario: .language, spec: MergeSpec(method: .taskArithmetic, vlWeight: 0, expWeight: 1),
                                             coefficients: .constant(CoefficientPair(0, 1), layers: 4))
        #expect(vlmLike.count == f.vlm.count)
        #expect(Set(vlmLike.keys) == Set(f.vlm.keys))
        let expert = f.experts[.language]!
        var dV: Float = 0, dE: Float = 0
        for (name, v) in f.vlm {
            let m = vlmLike[name]!, e = expertLike[name]!
            #expect(m.count == v.count)
            for i in v.indices { dV = max(dV, abs(m[i] - v[i])) }
            let shared = expert[name]!.count
            for i in 0..<shared { dE = max(dE, abs(e[i] - expert[name]![i])) }
            // Rows beyond the base vocabulary (<img>) keep the VLM's values, bit for bit.
            for i in shared..<v.count { #expect(e[i] == v[i], "\(name)[\(i)] must keep the VLM's value") }
        }
        #expect(dV < 1e-6)
        #expect(dE < 1e-6)
        let imgRows = f.vlm["model.embed_tokens.weight"]!.count - expert["model.embed_tokens.weight"]!.count
        #expect(imgRows == f.vlmConfig.hiddenSize, "the VLM has exactly one extra vocabulary row")
    }

    /// Values from Testbed/merge_reference.py (PyTorch task arithmetic of the same f16 files, first 20 validation examples).
    @Test(arguments: [
        (Scenario.language, 1.5, 1.0, 0.4, -1.3448923299709956, -1.3983978753288588, -0.8218723242481548),
        (Scenario.language, 0.5, 2.0, 0.05, -1.7895692765712738, -9.153885618845623, -0.9467867766817409),
        (Scenario.reasoning, 1.5, 1.0, 0.15, -3.621034879545914, -0.8120095273324599, -0.9595098959602183),
    ])
    func inMemoryTaskArithmeticMatchesPyTorch(_ c: (Scenario, Double, Double, Double, Double, Double, Double)) throws {
        let ev = try TestbedEvaluator(directory: Shared.directory, scenario: c.0, limit: 20)
        let s = try ev.evaluate(method: .taskArithmetic, vlWeight: c.1, expWeight: c.2)
        #expect(abs(s.targetExact - c.3) < 1e-9)
        #expect(abs(s.targetLogprob - c.4) < 1e-4, "target \(s.targetLogprob) vs \(c.4)")
        #expect(abs(s.perceptionLogprob - c.5) < 1e-4, "perception \(s.perceptionLogprob) vs \(c.5)")
        #expect(abs(s.skillLogprob - c.6) < 1e-4, "skill \(s.skillLogprob) vs \(c.6)")
        #expect(s.value == s.targetLogprob)
        #expect(s.valueInterval.low <= s.value && s.value <= s.valueInterval.high)
    }

    @Test func unmergedVLMScoresEqualTheReference() throws {
        let ev = try TestbedEvaluator(directory: Shared.directory, scenario: .language, objective: .retention)
        let s = try ev.evaluate(decoder: Shared.family.vlm)
        let ref = Shared.reference.models["vlm"]!.validation_scores
        #expect(abs(s.targetLogprob - ref["see_w"]!.mean_logprob) < 1e-4)
        #expect(abs(s.perceptionLogprob - ref["see"]!.mean_logprob) < 1e-4)
        #expect(abs(s.skillLogprob - ref["copy_w"]!.mean_logprob) < 1e-4)
        #expect(abs(s.value - (s.perceptionLogprob + s.skillLogprob) / 2) < 1e-12, "retention = mean of perception and skill")
    }

    @Test func sparseMethodsAndClosedFormsRun() throws {
        let ev = try TestbedEvaluator(directory: Shared.directory, scenario: .language, metric: .exactMatch, limit: 10)
        let ties = try ev.evaluate(method: .ties, vlWeight: 1, expWeight: 1, density: 0.5)
        let dare1 = try ev.evaluate(method: .dareTies, vlWeight: 1, expWeight: 1, density: 0.5, seed: 1)
        let dare1b = try ev.evaluate(method: .dareTies, vlWeight: 1, expWeight: 1, density: 0.5, seed: 1)
        #expect(dare1 == dare1b, "same seed, same merge")
        #expect(ties.value == ties.targetExact)
        let frank = try ev.coefficients(for: MergeSpec(method: .frank))
        #expect(frank.layers.count == 4)
        for p in frank.layers { #expect(p.vl > 0 && p.exp > 0 && abs(p.vl + p.exp - 1) < 1e-12) }
        let shares = try AttentionProbe.shares(model: try Shared.family.parent("vlm"),
                                               examples: Array(try TaskData.load(task: "see", directory: Shared.directory).validation.prefix(10)))
        let paper = try ev.coefficients(for: MergeSpec(method: .frank, prior: .attention(shares), schedule: .paper))
        // The testbed's attention does not decay (α̂ < 0), so the max schedule would give w_V > 1:
        // refused, not clamped (docs/fusion.md).
        #expect(paper.decay.map { $0 < 0 } == true)
        #expect(throws: (any Error).self) {
            _ = try ev.coefficients(for: MergeSpec(method: .frank, prior: .attention(shares), schedule: .maxNormalized))
        }
        let maxN = try ev.coefficients(for: MergeSpec(method: .frank, prior: .decay(0.3), schedule: .maxNormalized))
        #expect(paper.layers != maxN.layers)
        _ = try ev.evaluate(spec: MergeSpec(method: .frank, prior: .decay(0.3), schedule: .maxNormalized))
        _ = try ev.evaluate(spec: MergeSpec(method: .metagpt))
        _ = try ev.evaluate(spec: MergeSpec(method: .nan))
        #expect(throws: (any Error).self) { try ev.evaluate(method: .ties, vlWeight: 1, expWeight: 1, density: 0) }
    }
}

@Suite struct ProbeAndGridTests {
    @Test func probeSharesAreProbabilitiesAndRoundTripThroughTheAttentionFile() throws {
        let see = try TaskData.load(task: "see", directory: Shared.directory)
        let shares = try AttentionProbe.shares(model: try Shared.family.parent("vlm"), examples: Array(see.validation.prefix(20)))
        #expect(shares.count == 4)
        for s in shares { #expect(s > 0 && s < 1) }
        let path = NSTemporaryDirectory() + "testbed-attention-\(UUID().uuidString).csv"
        try AttentionProbe.csv(shares: shares, provenance: ["test"]).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let read = try readAttentionShares(path: path)
        #expect(read.count == 4)
        for (a, b) in zip(read, shares) { #expect(abs(a - b) < 1e-7 * max(1, b)) }
        // Text-only inputs have no visual tokens to attend to.
        #expect(throws: TestbedError.self) { try AttentionProbe.shares(model: try Shared.family.parent("vlm"), examples: Array(try TaskData.load(task: "copy", directory: Shared.directory).validation.prefix(3))) }
    }

    @Test func gridsHaveThePaperLevelsAndWriteParsableLandscapes() throws {
        let ta = TestbedGrid.paper(method: .taskArithmetic)
        #expect(ta.points.count == 25)
        #expect(ta.vlLevels == [0, 0.5, 1, 1.5, 2])
        let ties = TestbedGrid.paper(method: .ties, vlRange: 0...3)
        #expect(ties.points.count == 100)
        #expect(ties.vlLevels == [0, 0.75, 1.5, 2.25, 3])
        #expect(ties.boundsLine == "#@bounds vl_weight=0:3 exp_weight=0:2 density=0.25:1")

        let ev = try TestbedEvaluator(directory: Shared.directory, scenario: .reasoning, limit: 5)
        let small = TestbedGrid(method: .taskArithmetic, vlLevels: [0, 1], expLevels: [0, 1], densityLevels: nil)
        let rows = try small.points.map { ($0, try ev.evaluate(spec: small.spec($0))) }
        let vlm = try ev.evaluate(decoder: Shared.family.vlm)
        let refs = [GridReference(name: "vlm", params: [1, 0], score: vlm, note: "the VLM"),
                    GridReference(name: "frank", params: nil, score: try ev.evaluate(spec: MergeSpec(method: .frank)), note: "{}")]
        let csv = landscapeCSV(grid: small, rows: rows, references: refs, provenance: ["unit test"])
        let path = NSTemporaryDirectory() + "testbed-grid-\(UUID().uuidString).csv"
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let landscape = try Landscape.load(URL(fileURLWithPath: path))
        #expect(landscape.points.count == 4)
        #expect(landscape.references.count == 2)
        #expect(landscape.references[0].params == [1, 0])
        #expect(abs(landscape.references[0].score - vlm.value) < 1e-6)
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(sha256Hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func locateRejectsADirectoryWithoutModels() {
        #expect(throws: TestbedError.self) { try TestbedFamily.locate(NSTemporaryDirectory()) }
    }
}

@Suite struct BootstrapTests {
    @Test func intervalIsSeededAndBracketsTheMean() {
        let xs = (0..<50).map { Double($0 % 7) - 3 }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let a = Bootstrap.interval([xs], seed: 3), b = Bootstrap.interval([xs], seed: 3)
        #expect(a == b)
        #expect(a.low < mean && mean < a.high)
        let constant = Bootstrap.interval([[2, 2, 2]], seed: 1)
        #expect(constant.low == 2 && constant.high == 2)
        // Standard error of the mean ≈ sd/√n: the 95% half-width is near 1.96·SE.
        let sd = (xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)).squareRoot()
        let half = (a.high - a.low) / 2
        #expect(abs(half - 1.96 * sd / Double(xs.count).squareRoot()) < 0.25 * half)
    }
}
