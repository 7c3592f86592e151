import Foundation
import XCTest
@testable import Fusion
import SafeTensors
import TestSupport

func fixture(_ name: String) -> String {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures/mergekit/\(name)").path
}

func tmpPath(_ name: String = "out") -> String {
    Scratch.path("mergetune-fusion-\(name)")
}

/// Deterministic pseudo-random values for tests.
func randomFloats(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    (0..<n).map { (counterUniform(key: seed, index: UInt64($0)) - 0.5) * 2 * scale }
}

struct Case: Decodable {
    let name: String
    let method: String
    let vl_weight: Double
    let exp_weight: Double
    let density: Double
    let normalize: Bool?
    let expert: String?
}

/// TIES positions whose top-k choice is not unique: |τ| equals the k-th largest magnitude
/// of τ_V or τ_R and more entries share it than are admitted. There our stable choice (the
/// earliest ties) and torch's unspecified argsort order may differ; nowhere else.
func tiedPositions(base: [Float], vlm: [Float], expert: [Float], density: Double) -> [Bool] {
    let n = base.count, k = max(1, Int(density * Double(n)))
    var tied = [Bool](repeating: false, count: n)
    for theta in [vlm, expert] {
        let a = zip(theta, base).map { abs($0 - $1) }
        let thr = a.sorted(by: >)[k - 1]
        let above = a.filter { $0 > thr }.count, at = a.filter { $0 == thr }.count
        if above + at > k { for i in 0..<n where a[i] == thr { tied[i] = true } }
    }
    return tied
}

final class MergekitParityTests: XCTestCase {
    func cases() throws -> [Case] {
        struct File: Decodable { let cases: [Case] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: fixture("cases.json")))).cases
    }

    /// Our merge equals mergekit's output (fp32) for every committed case, for the plain
    /// LLaMA-layout VLM and for the LLaVA-style wrapped, sharded VLM with extra vocabulary.
    func testMatchesMergekit() throws {
        let base = try Checkpoint(path: fixture("base"))
        let plainVLM = try Checkpoint(path: fixture("vlm"))
        let all = try cases()
        XCTAssertEqual(Set(all.map(\.name)), ["task_arithmetic", "ties", "ties_nonorm", "linear", "ties_ulp"])
        var tiedTotal = 0
        for c in all {
            let expert = try Checkpoint(path: fixture(c.expert ?? "expert"))
            let reference = try Checkpoint(path: fixture("mergekit_\(c.name).safetensors"))
            for vlmName in ["vlm", "vlm_wrapped"] {
                let vlm = try Checkpoint(path: fixture(vlmName))
                let spec = MergeSpec(method: MergeMethod(rawValue: c.method)!, vlWeight: c.vl_weight, expWeight: c.exp_weight,
                                     density: c.density, normalize: c.normalize)
                for chunk in [4 << 20, 100] {  // whole tensors, and chunked streaming
                    let out = tmpPath()
                    _ = try merge(base: base, vlm: vlm, expert: expert, spec: spec, to: out,
                                  options: MergeOptions(threads: 2, chunkElements: chunk))
                    let ours = try Checkpoint(path: out)
                    var worst: Float = 0
                    for name in reference.names {
                        let ref = try reference.tensor(name).floats()
                        let key = vlmName == "vlm" ? name : "language_model." + name
                        let got = Array(try ours.tensor(key).floats().prefix(ref.count))
                        XCTAssertEqual(got.count, ref.count)
                        // TIES: only the tied positions may differ (see tiedPositions).
                        let tied = c.method == "ties"
                            ? tiedPositions(base: try base.tensor(name).floats(), vlm: try plainVLM.tensor(name).floats(),
                                            expert: try expert.tensor(name).floats(), density: c.density)
                            : [Bool](repeating: false, count: ref.count)
                        if chunk == 100 && vlmName == "vlm" { tiedTotal += tied.filter { $0 }.count }
                        for (i, (a, b)) in zip(got, ref).enumerated() where !tied[i] { worst = max(worst, abs(a - b)) }
                    }
                    XCTAssertLessThanOrEqual(worst, 1e-6, "\(c.name) on \(vlmName), chunk \(chunk)")
                    try? FileManager.default.removeItem(atPath: out)
                }
            }
        }
        // The committed ulp case has ties (114 positions, by the script); the others none.
        XCTAssertEqual(tiedTotal, 114)
    }

    /// The other side of the TIES normalize convention: the two references differ, so the
    /// flag matters and each side is matched only by its own setting.
    func testTiesNormalizeConventionMatters() throws {
        let a = try Checkpoint(path: fixture("mergekit_ties.safetensors"))
        let b = try Checkpoint(path: fixture("mergekit_ties_nonorm.safetensors"))
        let name = "model.layers.0.mlp.up_proj.weight"
        XCTAssertNotEqual(try a.tensor(name).floats(), try b.tensor(name).floats())
    }
}

final class LayoutTests: XCTestCase {
    func testCanonicalNames() {
        let cases: [(String, CanonicalName?)] = [
            ("model.layers.3.mlp.up_proj.weight", .language("model.layers.3.mlp.up_proj.weight")),
            ("language_model.model.layers.3.mlp.up_proj.weight", .language("model.layers.3.mlp.up_proj.weight")),
            ("language_model.lm_head.weight", .language("lm_head.weight")),
            ("model.language_model.layers.0.self_attn.q_proj.weight", .language("model.layers.0.self_attn.q_proj.weight")),
            ("model.language_model.embed_tokens.weight", .language("model.embed_tokens.weight")),
            ("model.text_model.layers.1.input_layernorm.weight", .language("model.layers.1.input_layernorm.weight")),
            ("language_model.layers.2.mlp.down_proj.weight", .language("model.layers.2.mlp.down_proj.weight")),
            ("lm_head.weight", .language("lm_head.weight")),
            ("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight", .vision),
            ("model.vision_tower.encoder.layers.0.mlp.fc1.weight", .vision),
            ("multi_modal_projector.linear_1.weight", .vision),
            ("model.multi_modal_projector.linear_1.weight", .vision),
            ("visual.blocks.0.attn.qkv.weight", .vision),
            ("model.visual.blocks.0.attn.qkv.weight", .vision),
            ("model.connector.modality_projection.proj.weight", .vision),
            ("some_unknown.weight", nil),
        ]
        for (name, expected) in cases { XCTAssertEqual(NameLayout.canonical(name), expected, name) }
        XCTAssertEqual(NameLayout.layerIndex("model.layers.12.mlp.up_proj.weight"), 12)
        XCTAssertNil(NameLayout.layerIndex("model.norm.weight"))
    }

    func testWrappedVLMOutputKeepsVisionExtraRowsAndFiles() throws {
        let vlm = try Checkpoint(path: fixture("vlm_wrapped"))
        let out = tmpPath()
        let r = try merge(base: try Checkpoint(path: fixture("base")), vlm: vlm, expert: try Checkpoint(path: fixture("expert")),
                          spec: MergeSpec(method: .taskArithmetic, vlWeight: 0.5, expWeight: 0.5), to: out,
                          options: MergeOptions(threads: 2, maxShardBytes: 10_000))
        let ck = try Checkpoint(path: out)
        XCTAssertEqual(Set(ck.names), Set(vlm.names), "output uses the VLM's names")
        XCTAssertGreaterThan(ck.shards.count, 1, "sharded output with an index")
        XCTAssertEqual(r.copiedTensors, 4)
        for name in vlm.names where NameLayout.canonical(name) == .vision {
            XCTAssertEqual(try ck.tensor(name).floats(), try vlm.tensor(name).floats(), name)
        }
        // Rows 32..35 of the embedding and head are the VLM's added tokens: kept as they were.
        for name in ["language_model.model.embed_tokens.weight", "language_model.lm_head.weight"] {
            let got = try ck.tensor(name).floats(), v = try vlm.tensor(name).floats()
            XCTAssertEqual(try ck.tensor(name).shape, [36, 16])
            XCTAssertEqual(Array(got[(32 * 16)...]), Array(v[(32 * 16)...]))
            XCTAssertNotEqual(Array(got[..<(32 * 16)]), Array(v[..<(32 * 16)]))
        }
        for f in ["config.json", "tokenizer_config.json", "generation_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f)
        }
        XCTAssertEqual(r.copiedFiles, ["config.json", "generation_config.json", "tokenizer_config.json"])
        XCTAssertEqual(ck.shards[0].metadata["mergetune.method"], "task_arithmetic")
        // The inputs' absolute paths, as JSON that reads back to the same strings.
        let inputs = try JSONDecoder().decode([String: String].self, from: Data(try XCTUnwrap(ck.shards[0].metadata["mergetune.inputs"]).utf8))
        let abs = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.path }
        XCTAssertEqual(inputs, ["base": abs(fixture("base")), "vlm": abs(fixture("vlm_wrapped")), "expert": abs(fixture("expert"))])
        XCTAssertEqual(ck.shards[0].metadata["format"], "pt")
    }

    /// An expert with an extra tensor and a VLM tensor of an unknown layout cannot be paired:
    /// the error lists both; with the flag they are passed through / ignored.
    func testUnpairedTensorsAreListed() throws {
        let dir = tmpPath("unpaired")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let s = TensorSpec(name: "model.layers.0.mlp.up_proj.weight", dtype: .f32, shape: [2])
        try writeSafeTensorsFile(path: dir + "/base.safetensors", tensors: [(s, [0, 0])])
        try writeSafeTensorsFile(path: dir + "/expert.safetensors", tensors: [(s, [1, 1]), (TensorSpec(name: "model.layers.0.extra.weight", dtype: .f32, shape: [1]), [3])])
        try writeSafeTensorsFile(path: dir + "/vlm.safetensors", tensors: [(s, [2, 2]), (TensorSpec(name: "mystery.weight", dtype: .f32, shape: [1]), [4])])
        let b = try Checkpoint(path: dir + "/base.safetensors"), e = try Checkpoint(path: dir + "/expert.safetensors"), v = try Checkpoint(path: dir + "/vlm.safetensors")
        XCTAssertThrowsError(try TensorPairing(base: b, vlm: v, expert: e)) { err in
            let m = "\(err)"
            XCTAssertTrue(m.contains("mystery.weight"), m)
            XCTAssertTrue(m.contains("model.layers.0.extra.weight"), m)
        }
        let p = try TensorPairing(base: b, vlm: v, expert: e, passThroughUnpaired: true)
        XCTAssertEqual(p.passedThrough, ["mystery.weight"])
        XCTAssertEqual(p.ignored, ["expert: model.layers.0.extra.weight"])
    }

    func testShapeMismatchNamesTensorAndFiles() throws {
        let dir = tmpPath("shape")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let name = "model.layers.0.mlp.up_proj.weight"
        try writeSafeTensorsFile(path: dir + "/base.safetensors", tensors: [(TensorSpec(name: name, dtype: .f32, shape: [2, 2]), [0, 0, 0, 0])])
        try writeSafeTensorsFile(path: dir + "/vlm.safetensors", tensors: [(TensorSpec(name: name, dtype: .f32, shape: [2, 3]), [0, 0, 0, 0, 0, 0])])
        let b = try Checkpoint(path: dir + "/base.safetensors"), v = try Checkpoint(path: dir + "/vlm.safetensors")
        XCTAssertThrowsError(try TensorPairing(base: b, vlm: v, expert: b)) { err in
            XCTAssertTrue("\(err)".contains(name) && "\(err)".contains("vlm.safetensors"), "\(err)")
        }
    }
}

final class KernelTests: XCTestCase {
    let n = 10_000
    lazy var base = randomFloats(n, seed: 1)
    lazy var vlm = zip(base, randomFloats(n, seed: 2, scale: 0.1)).map { $0 + $1 }
    lazy var expert = zip(base, randomFloats(n, seed: 3, scale: 0.1)).map { $0 + $1 }

    func testTaskArithmeticKnownValues() {
        let out = mergeTensor(base: [1, 2], vlm: [2, 2], expert: [1, 5], config: .defaults(for: .taskArithmetic), vlWeight: 0.5, expWeight: 2)
        XCTAssertEqual(out, [1.5, 8])
        let lin = mergeTensor(base: [0, 0], vlm: [2, 4], expert: [4, 8], config: .defaults(for: .linear), vlWeight: 1, expWeight: 3)
        XCTAssertEqual(lin, [3.5, 7])
    }

    func testTiesKnownValues() {
        // τ_V = [3, -1, 0.5, -4], τ_R = [-1, -2, 0.25, 5]; density 0.5 keeps k = 2 per vector:
        // V keeps 3, -4; R keeps -2, 5. Weighted (1, 1): sums [3, -2, 0, 1] → signs +, -, +, +.
        // Entry 0: V only (+3). Entry 1: R only (-2). Entry 2: none → 0. Entry 3: R (+5) agrees, V (-4) not.
        let base: [Float] = [0, 0, 0, 0]
        let out = mergeTensor(base: base, vlm: [3, -1, 0.5, -4], expert: [-1, -2, 0.25, 5], config: .defaults(for: .ties),
                              vlWeight: 1, expWeight: 1, density: 0.5)
        XCTAssertEqual(out, [3, -2, 0, 5])
        var noNorm = TaskArithmeticConfig.defaults(for: .ties)
        noNorm.normalize = false
        let out2 = mergeTensor(base: base, vlm: [3, -1, 0.5, -4], expert: [-1, -2, 0.25, 5], config: noNorm,
                               vlWeight: 0.5, expWeight: 2, density: 0.5)
        // Weighted: V [1.5, 0, 0, -2], R [0, -4, 0, 10]; normalized would divide by 0.5 / 2.
        XCTAssertEqual(out2, [1.5, -4, 0, 10])
        let out3 = mergeTensor(base: base, vlm: [3, -1, 0.5, -4], expert: [-1, -2, 0.25, 5], config: .defaults(for: .ties),
                               vlWeight: 0.5, expWeight: 2, density: 0.5)
        XCTAssertEqual(out3, [3, -2, 0, 5])
    }

    /// The radix-select top-k keeps exactly the k largest magnitudes (no ties in random data).
    func testTopKMatchesSort() {
        for density in [0.01, 0.1, 0.37, 0.9] {
            let k = max(1, Int(density * Double(n)))
            var config = TaskArithmeticConfig.defaults(for: .ties)
            config.signConsensus = false
            config.normalize = false
            let out = mergeTensor(base: base, vlm: vlm, expert: base, config: config, vlWeight: 1, expWeight: 1, density: density)
            let tau = zip(vlm, base).map { $0 - $1 }
            let threshold = tau.map(abs).sorted(by: >)[k - 1]
            var kept = 0
            for i in 0..<n {
                if abs(tau[i]) >= threshold {
                    XCTAssertEqual(out[i], base[i] + tau[i])
                    kept += 1
                } else {
                    XCTAssertEqual(out[i], base[i])
                }
            }
            XCTAssertEqual(kept, k)
        }
    }

    func testDareStatisticsAndRescale() {
        let density = 0.3
        var config = TaskArithmeticConfig.defaults(for: .dareLinear)
        config.rescale = .inverseDensity
        let out = mergeTensor(base: base, vlm: vlm, expert: base, config: config, vlWeight: 1, expWeight: 0, density: density, seed: 7, tensor: "t")
        var kept = 0
        for i in 0..<n where out[i] != base[i] {
            kept += 1
            // Kept entries are rescaled by exactly 1/density.
            let expected = base[i] + (vlm[i] - base[i]) * (1 / Float(density))
            XCTAssertEqual(out[i], expected, accuracy: 1e-6)
        }
        // Binomial(10000, 0.3): sd ≈ 46; 5 sd bounds.
        XCTAssertEqual(Double(kept), density * Double(n), accuracy: 230)

        // mergekit default: L1 rescale keeps Σ|τ| exactly (up to float rounding).
        let l1 = mergeTensor(base: base, vlm: vlm, expert: base, config: .defaults(for: .dareLinear), vlWeight: 1, expWeight: 0,
                             density: density, seed: 7, tensor: "t")
        let before = zip(vlm, base).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) }
        let after = zip(l1, base).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) }
        XCTAssertEqual(after, before, accuracy: before * 1e-4)
        // Same mask as the inverse-density variant: the same entries are kept.
        XCTAssertEqual(zip(l1, base).map { $0 != $1 }, zip(out, base).map { $0 != $1 })
    }

    func testDareDeterministicAndSeeded() {
        let a = mergeTensor(base: base, vlm: vlm, expert: expert, config: .defaults(for: .dareTies), vlWeight: 1, expWeight: 1, density: 0.5, seed: 1, tensor: "x")
        let b = mergeTensor(base: base, vlm: vlm, expert: expert, config: .defaults(for: .dareTies), vlWeight: 1, expWeight: 1, density: 0.5, seed: 1, tensor: "x")
        let c = mergeTensor(base: base, vlm: vlm, expert: expert, config: .defaults(for: .dareTies), vlWeight: 1, expWeight: 1, density: 0.5, seed: 2, tensor: "x")
        let d = mergeTensor(base: base, vlm: vlm, expert: expert, config: .defaults(for: .dareTies), vlWeight: 1, expWeight: 1, density: 0.5, seed: 1, tensor: "y")
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertNotEqual(a, d)
    }

    /// Checkpoint merges are independent of thread count and chunking (DARE and TIES).
    func testMergePipelineDeterministicAcrossThreadsAndChunks() throws {
        let base = try Checkpoint(path: fixture("base")), vlm = try Checkpoint(path: fixture("vlm_wrapped")), expert = try Checkpoint(path: fixture("expert"))
        for method in [MergeMethod.dareTies, .ties, .dareLinear] {
            let spec = MergeSpec(method: method, vlWeight: 0.7, expWeight: 0.9, density: 0.3, seed: 42)
            var outputs: [[String: [Float]]] = []
            for (threads, chunk) in [(1, 4 << 20), (2, 37), (3, 256)] {
                let out = tmpPath()
                _ = try merge(base: base, vlm: vlm, expert: expert, spec: spec, to: out, options: MergeOptions(threads: threads, chunkElements: chunk))
                let ck = try Checkpoint(path: out)
                outputs.append(Dictionary(uniqueKeysWithValues: try ck.names.map { ($0, try ck.tensor($0).floats()) }))
            }
            XCTAssertEqual(outputs[0], outputs[1], method.rawValue)
            XCTAssertEqual(outputs[0], outputs[2], method.rawValue)
        }
    }

    /// bf16 in, bf16 out: the streaming merge equals the in-memory kernel rounded to bf16.
    func testBF16CheckpointMatchesInMemoryKernel() throws {
        let dir = tmpPath("bf16")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let name = "model.layers.0.mlp.up_proj.weight"
        let spec = TensorSpec(name: name, dtype: .bf16, shape: [100, 100])
        let round = { (x: [Float]) in x.map { bf16ToFloat(floatToBF16($0)) } }
        let (b, v, e) = (round(base), round(vlm), round(expert))
        try writeSafeTensorsFile(path: dir + "/b.safetensors", tensors: [(spec, b)])
        try writeSafeTensorsFile(path: dir + "/v.safetensors", tensors: [(spec, v)])
        try writeSafeTensorsFile(path: dir + "/e.safetensors", tensors: [(spec, e)])
        let mspec = MergeSpec(method: .ties, vlWeight: 0.6, expWeight: 0.8, density: 0.2)
        let out = tmpPath()
        _ = try merge(base: try Checkpoint(path: dir + "/b.safetensors"), vlm: try Checkpoint(path: dir + "/v.safetensors"),
                      expert: try Checkpoint(path: dir + "/e.safetensors"), spec: mspec, to: out, options: MergeOptions(chunkElements: 999))
        let got = try Checkpoint(path: out).tensor(name)
        XCTAssertEqual(got.dtype, .bf16)
        XCTAssertEqual(got.floats(), round(mergeTensor(base: b, vlm: v, expert: e, spec: mspec, tensor: name)))
        // Output dtype override.
        let out32 = tmpPath()
        _ = try merge(base: try Checkpoint(path: dir + "/b.safetensors"), vlm: try Checkpoint(path: dir + "/v.safetensors"),
                      expert: try Checkpoint(path: dir + "/e.safetensors"), spec: mspec, to: out32, options: MergeOptions(outputDType: .f32))
        XCTAssertEqual(try Checkpoint(path: out32).tensor(name).floats(), mergeTensor(base: b, vlm: v, expert: e, spec: mspec, tensor: name))
    }
}

final class ClosedFormTests: XCTestCase {
    func stats(_ layers: [(Double, Double)], other: (Double, Double) = (1, 1)) -> TaskVectorStats {
        func s(_ p: (Double, Double)) -> NormStats { var x = NormStats(); x.sqV = p.0; x.sqR = p.1; x.sqThetaV = p.0 * 4; x.sqThetaR = p.1 * 9; return x }
        return TaskVectorStats(perTensor: [:], tensorLayer: [:], layers: layers.map(s), other: s(other))
    }

    func testFrankWithoutPrior() throws {
        let c = try ClosedForm.frank(stats([(1, 3), (4, 1), (0, 0)]), prior: .none, schedule: .paper, granularity: .layer)
        XCTAssertEqual(c.layers[0], CoefficientPair(0.25, 0.75))
        XCTAssertEqual(c.layers[1], CoefficientPair(0.8, 0.2))
        XCTAssertEqual(c.layers[2], CoefficientPair(0.5, 0.5))  // both zero: equal halves
        let m = try ClosedForm.metagpt(stats([(1, 3), (4, 1)], other: (5, 6)))
        XCTAssertEqual(m.layers[0].vl, 10.0 / 20.0, accuracy: 1e-12)  // (1+4+5) / (1+4+5 + 3+1+6)
        XCTAssertEqual(m.other, m.layers[1])
    }

    func testDecayFitAndPriorSchedules() throws {
        let alpha = 0.3
        let shares = (1...8).map { 2 * exp(-alpha * Double($0)) }
        XCTAssertEqual(try ClosedForm.fitDecay(shares: shares), alpha, accuracy: 1e-12)
        let paper = ClosedForm.priorWeights(decay: alpha, layers: 8, schedule: .paper)
        XCTAssertEqual(paper.reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertEqual(paper[0] / paper[1], exp(alpha), accuracy: 1e-12)
        let maxN = ClosedForm.priorWeights(decay: alpha, layers: 8, schedule: .maxNormalized)
        XCTAssertEqual(maxN[0], exp(-alpha), accuracy: 1e-12)  // e^(−α̂l): below 1 at layer 1
        XCTAssertEqual(maxN[2], exp(-3 * alpha), accuracy: 1e-12)

        // eq. 15 with w_V = 0.25, w_R = 0.75 on ‖τ_V‖² = 2, ‖τ_R‖² = 1: λ_V = 0.5 / 1.25.
        let L = 2
        let a = log(3.0)  // paper schedule on 2 layers: w_V(1) = e^-a / (e^-a + e^-2a) = 1 / (1 + e^-a) = 0.75
        let c = try ClosedForm.frank(stats(Array(repeating: (2, 1), count: L)), prior: .decay(a), schedule: .paper, granularity: .layer)
        XCTAssertEqual(c.priorV![0], 0.75, accuracy: 1e-12)
        XCTAssertEqual(c.layers[1].vl, 0.25 * 2 / (0.25 * 2 + 0.75 * 1), accuracy: 1e-12)
        XCTAssertEqual(c.layers[0].vl, 0.75 * 2 / (0.75 * 2 + 0.25 * 1), accuracy: 1e-12)
        XCTAssertEqual(c.decay, a)
        XCTAssertThrowsError(try ClosedForm.frank(stats([(1, 1), (1, 1)]), prior: .attention([0.5, 0.4, 0.3]), schedule: .paper, granularity: .layer))
        XCTAssertThrowsError(try ClosedForm.frank(stats([(1, 1), (1, 1)]), prior: .decay(0.1), schedule: .paper, granularity: .model))
    }

    func testNaNInverseNorm() {
        // ‖θ_V‖² = 4·sqV, ‖θ_R‖² = 9·sqR → with sqV = sqR = 1: ‖θ_V‖ = 2, ‖θ_R‖ = 3 → λ = (1/2, 1/3) / (5/6) = (0.6, 0.4).
        let c = ClosedForm.nan(stats([(1, 1)], other: (1, 1)), granularity: .layer)
        XCTAssertEqual(c.layers[0].vl, 0.6, accuracy: 1e-12)
        XCTAssertEqual(c.layers[0].exp, 0.4, accuracy: 1e-12)
    }

    func testLayerRangeCoefficients() throws {
        let c = try ClosedForm.coefficients(for: MergeSpec(method: .layerRange, expWeight: 0.7, layerRange: 1...2), layerCount: 4, stats: nil)
        XCTAssertEqual(c.layers, [CoefficientPair(1, 0), CoefficientPair(1, 0.7), CoefficientPair(1, 0.7), CoefficientPair(1, 0)])
        XCTAssertEqual(c.other, CoefficientPair(1, 0))
        XCTAssertThrowsError(try ClosedForm.coefficients(for: MergeSpec(method: .layerRange, layerRange: 1...4), layerCount: 4, stats: nil))
    }

    /// Statistics over the fixture equal a direct computation, and a FRANK merge applies
    /// per-layer coefficients: layer l's output = base + λ_V τ_V + λ_R τ_R.
    func testStatsAndFrankMergeOnFixture() throws {
        let base = try Checkpoint(path: fixture("base")), vlm = try Checkpoint(path: fixture("vlm_wrapped")), expert = try Checkpoint(path: fixture("expert"))
        let pairing = try TensorPairing(base: base, vlm: vlm, expert: expert)
        XCTAssertEqual(pairing.layerCount, 2)
        let st = try computeTaskVectorStats(pairing, threads: 2, chunkElements: 50)
        var sqV = 0.0, sqR = 0.0, dot = 0.0
        for name in base.names where name.hasPrefix("model.layers.1.") {
            let b = try base.tensor(name).floats(), v = try vlm.tensor("language_model." + name).floats(), e = try expert.tensor(name).floats()
            for i in 0..<b.count {
                let tv = Double(v[i] - b[i]), tr = Double(e[i] - b[i])
                sqV += tv * tv; sqR += tr * tr; dot += tv * tr
            }
        }
        XCTAssertEqual(st.layers[1].sqV, sqV, accuracy: sqV * 1e-5)
        XCTAssertEqual(st.layers[1].sqR, sqR, accuracy: sqR * 1e-5)
        XCTAssertEqual(st.layers[1].dot, dot, accuracy: abs(dot) * 1e-3 + 1e-6)
        // Expert noise 0.03 vs VLM 0.02: FRANK favours the expert, ≈ 9 / 13.
        let out = tmpPath()
        let r = try merge(base: base, vlm: vlm, expert: expert, spec: MergeSpec(method: .frank), to: out)
        XCTAssertEqual(r.coefficients.layers[1].exp, sqR / (sqV + sqR), accuracy: 1e-5)
        XCTAssertEqual(r.coefficients.layers[1].exp, 9.0 / 13.0, accuracy: 0.05)
        let ck = try Checkpoint(path: out)
        let name = "model.layers.1.self_attn.q_proj.weight"
        let b = try base.tensor(name).floats(), v = try vlm.tensor("language_model." + name).floats(), e = try expert.tensor(name).floats()
        let got = try ck.tensor("language_model." + name).floats()
        let lam = r.coefficients.layers[1]
        for i in 0..<b.count {
            XCTAssertEqual(got[i], b[i] + Float(lam.vl) * (v[i] - b[i]) + Float(lam.exp) * (e[i] - b[i]), accuracy: 1e-6)
        }
        // Layer by layer, the provenance header is rewritten with the final coefficients.
        let meta = try JSONSerialization.jsonObject(with: Data(ck.shards[0].metadata["mergetune.coefficients"]!.utf8)) as! [String: Any]
        let layers = meta["layers"] as! [[Double]]
        XCTAssertEqual(layers[1][1], lam.exp, accuracy: 1e-8)
        XCTAssertEqual((meta["other"] as! [Double])[0], r.coefficients.other.vl, accuracy: 1e-8)
        // Tensor granularity end to end: per-tensor ratios recorded and applied.
        let outT = tmpPath()
        let rt = try merge(base: base, vlm: vlm, expert: expert, spec: MergeSpec(method: .frank, granularity: .tensor), to: outT,
                           options: MergeOptions(threads: 2, chunkElements: 64))
        let pt = rt.coefficients.perTensor[name]!
        let ts = st.perTensor[name]!
        XCTAssertEqual(pt.exp, ts.sqR / (ts.sqV + ts.sqR), accuracy: 1e-9)
        let gotT = try Checkpoint(path: outT).tensor("language_model." + name).floats()
        XCTAssertEqual(gotT[5], b[5] + Float(pt.vl) * (v[5] - b[5]) + Float(pt.exp) * (e[5] - b[5]), accuracy: 1e-6)
        let metaT = try Checkpoint(path: outT).shards[0].metadata["mergetune.coefficients"]!
        XCTAssertTrue(metaT.contains(name), "per-tensor coefficients in the provenance")
    }

    func testTensorGranularityUsesEachTensorsNorms() throws {
        var a = NormStats(); a.sqV = 1; a.sqR = 3
        var b = NormStats(); b.sqV = 3; b.sqR = 1
        var layer = a; layer.add(b)
        let st = TaskVectorStats(perTensor: ["model.layers.0.x": a, "model.layers.0.y": b],
                                 tensorLayer: ["model.layers.0.x": 0, "model.layers.0.y": 0], layers: [layer], other: NormStats())
        let c = try ClosedForm.frank(st, prior: .none, schedule: .paper, granularity: .tensor)
        XCTAssertEqual(c.lookup(canonical: "model.layers.0.x", layer: 0), CoefficientPair(0.25, 0.75))
        XCTAssertEqual(c.lookup(canonical: "model.layers.0.y", layer: 0), CoefficientPair(0.75, 0.25))
        XCTAssertEqual(c.lookup(canonical: "model.layers.0.z", layer: 0), CoefficientPair(0.5, 0.5))  // layer value
        // With a prior, each tensor takes its layer's w: w_V = e^(−0.5) (max schedule, layer 1).
        let p = try ClosedForm.frank(st, prior: .decay(0.5), schedule: .maxNormalized, granularity: .tensor)
        let w = exp(-0.5)
        XCTAssertEqual(p.lookup(canonical: "model.layers.0.x", layer: 0).vl, w * 1 / (w * 1 + (1 - w) * 3), accuracy: 1e-12)
    }

    func testAttentionFile() throws {
        let p = tmpPath("att.csv")
        try "layer,share\n0,0.5\n1,0.25\n\n2,0.125\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertEqual(try readAttentionShares(path: p), [0.5, 0.25, 0.125])
        XCTAssertEqual(try ClosedForm.fitDecay(shares: try readAttentionShares(path: p)), log(2.0), accuracy: 1e-12)
        try "0.5\n-1\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try readAttentionShares(path: p))
        // Decimal numbers only (Double("0x1p-1") would read 0.5): the error names file and line.
        try "layer,share\n0,0.5\n1,0x1p-1\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try readAttentionShares(path: p)) {
            XCTAssertTrue("\($0)".contains("line 3: `0x1p-1` is not a decimal number"), "\($0)")
        }
    }
}

/// The hardening issue's fusion items: exact top-k on ties, non-finite values, FRANK's prior,
/// layer_range's formula, NaN's granularity.
final class HardeningTests: XCTestCase {
    var plainTopK: TaskArithmeticConfig {
        var c = TaskArithmeticConfig.defaults(for: .ties)
        c.signConsensus = false
        c.normalize = false
        return c
    }

    /// Magnitude ties at the threshold: exactly k = ⌊density·n⌋ entries are kept, the
    /// earliest tied ones (a stable descending sort's choice), for V and R separately.
    func testTiesKeepsExactlyKOnTiedMagnitudes() {
        let base = [Float](repeating: 0, count: 10)
        // |τ_V| = 2 once, then 1 everywhere: k = 4 keeps the 2 and the first three 1s.
        let v: [Float] = [1, -1, 2, 1, -1, 1, 1, 1, 1, 1]
        let e: [Float] = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
        let out = mergeTensor(base: base, vlm: v, expert: base, config: plainTopK, vlWeight: 1, expWeight: 1, density: 0.4)
        XCTAssertEqual(out, [1, -1, 2, 1, 0, 0, 0, 0, 0, 0])
        let outR = mergeTensor(base: base, vlm: base, expert: e, config: plainTopK, vlWeight: 1, expWeight: 1, density: 0.35)
        XCTAssertEqual(outR, [0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0])  // k = 3
        // TIES defaults (sign election, normalize) on experts a few ulps from the base.
        let b0: [Float] = (0..<64).map { Float($0) * 0.25 + 1 }
        let ulp = b0.map { $0.nextUp }
        let ties = mergeTensor(base: b0, vlm: ulp, expert: b0, config: .defaults(for: .ties), vlWeight: 1, expWeight: 1, density: 0.25)
        XCTAssertEqual(zip(ties, b0).filter { $0 != $1 }.count, 16)
    }

    /// The L1 rescale uses the same exactly-k mask: all |τ| = 1, k = 2 of 8 → scale 8 / 2.
    func testTiesL1RescaleCountsExactlyK() {
        var c = plainTopK
        c.rescale = .l1
        let out = mergeTensor(base: [Float](repeating: 0, count: 8), vlm: [Float](repeating: 1, count: 8), expert: [Float](repeating: 0, count: 8),
                              config: c, vlWeight: 1, expWeight: 1, density: 0.25)
        XCTAssertEqual(out, [4, 4, 0, 0, 0, 0, 0, 0])
    }

    /// Streaming in chunks (ties spanning chunk borders) keeps the same k entries as the in-memory kernel.
    func testTiesExactKAcrossChunksAndThreads() throws {
        let dir = tmpPath("ties-chunks")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let name = "model.layers.0.mlp.up_proj.weight"
        let n = 1000
        let spec = TensorSpec(name: name, dtype: .f32, shape: [n])
        let b = randomFloats(n, seed: 5)
        // A third of the entries tie (one ulp up), the rest differ by more or less.
        let v = b.enumerated().map { i, x in i % 3 == 0 ? x.nextUp : x + (i % 3 == 1 ? 0.5 : 1e-9) }
        let e = b.enumerated().map { i, x in i % 2 == 0 ? x.nextDown : x }
        try writeSafeTensorsFile(path: dir + "/b.safetensors", tensors: [(spec, b)])
        try writeSafeTensorsFile(path: dir + "/v.safetensors", tensors: [(spec, v)])
        try writeSafeTensorsFile(path: dir + "/e.safetensors", tensors: [(spec, e)])
        let mspec = MergeSpec(method: .ties, vlWeight: 0.6, expWeight: 0.8, density: 0.5)
        let expected = mergeTensor(base: b, vlm: v, expert: e, spec: mspec, tensor: name)
        for chunk in [4 << 20, 37] {
            let out = tmpPath()
            _ = try merge(base: try Checkpoint(path: dir + "/b.safetensors"), vlm: try Checkpoint(path: dir + "/v.safetensors"),
                          expert: try Checkpoint(path: dir + "/e.safetensors"), spec: mspec, to: out,
                          options: MergeOptions(threads: 2, chunkElements: chunk))
            XCTAssertEqual(try Checkpoint(path: out).tensor(name).floats(), expected, "chunk \(chunk)")
        }
        // Without sign election the kept set is visible: exactly k = 500 of V's entries.
        let kept = mergeTensor(base: b, vlm: v, expert: b, config: plainTopK, vlWeight: 1, expWeight: 1, density: 0.5)
        XCTAssertEqual(zip(kept, b).filter { $0 != $1 }.count, 500)
    }

    func triple(_ dir: String, vlm: [Float], expert: [Float], base: [Float]? = nil, name: String = "model.layers.0.mlp.up_proj.weight") throws -> (Checkpoint, Checkpoint, Checkpoint) {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let spec = TensorSpec(name: name, dtype: .f32, shape: [vlm.count])
        try writeSafeTensorsFile(path: dir + "/b.safetensors", tensors: [(spec, base ?? [Float](repeating: 0.5, count: vlm.count))])
        try writeSafeTensorsFile(path: dir + "/v.safetensors", tensors: [(spec, vlm)])
        try writeSafeTensorsFile(path: dir + "/e.safetensors", tensors: [(spec, expert)])
        return (try Checkpoint(path: dir + "/b.safetensors"), try Checkpoint(path: dir + "/v.safetensors"), try Checkpoint(path: dir + "/e.safetensors"))
    }

    /// Weights that overflow Float make the merged tensor infinite: the merge fails naming
    /// the tensor and leaves no output.
    func testOverflowingWeightsFailNamingTheTensor() throws {
        let (b, v, e) = try triple(tmpPath("inf"), vlm: randomFloats(64, seed: 1), expert: randomFloats(64, seed: 2))
        let out = tmpPath()
        XCTAssertThrowsError(try merge(base: b, vlm: v, expert: e, spec: MergeSpec(method: .taskArithmetic, vlWeight: 1e308), to: out)) { err in
            let m = "\(err)"
            XCTAssertTrue(m.contains("model.layers.0.mlp.up_proj.weight") && m.contains("not finite") && m.contains("overflow"), m)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// A NaN in an input that reaches the output fails naming the input file; one that DARE
    /// drops lets the merge finish with a warning naming the file and the tensor.
    func testNonFiniteInputsFailOrWarnNamingFileAndTensor() throws {
        let name = "model.layers.0.mlp.up_proj.weight"
        var e = randomFloats(64, seed: 2)
        e[7] = .nan
        let (b, v, ex) = try triple(tmpPath("nan-in"), vlm: randomFloats(64, seed: 1), expert: e)
        XCTAssertThrowsError(try merge(base: b, vlm: v, expert: ex, spec: MergeSpec(method: .taskArithmetic), to: tmpPath())) { err in
            XCTAssertTrue("\(err)".contains("e.safetensors") && "\(err)".contains(name), "\(err)")
        }
        // Put the NaN where DARE (seed 3, density 0.5) drops the expert's entry.
        let key = dareKey(seed: 3, tensor: name, model: 0)
        let dropped = (0..<64).first { !dareKeeps(key: key, index: $0, density: 0.5).1 }!
        var e2 = randomFloats(64, seed: 2)
        e2[dropped] = .infinity
        let (b2, v2, ex2) = try triple(tmpPath("nan-dropped"), vlm: randomFloats(64, seed: 1), expert: e2)
        let r = try merge(base: b2, vlm: v2, expert: ex2,
                          spec: MergeSpec(method: .dareLinear, density: 0.5, seed: 3, rescale: .inverseDensity), to: tmpPath())
        XCTAssertEqual(r.warnings.count, 1, "\(r.warnings)")
        XCTAssertTrue(r.warnings[0].contains("e.safetensors") && r.warnings[0].contains(name) && r.warnings[0].contains("expert"), r.warnings[0])
        XCTAssertTrue(try Checkpoint(path: r.output).tensor(name).floats().allSatisfy(\.isFinite))
    }

    /// The kernel's non-finite flags: each input and the output, exact on inf and NaN.
    func testKernelNonFiniteFlags() {
        let f = TensorKernel(config: .defaults(for: .taskArithmetic), count: 3, wV: 1, wR: 1, density: 1, seed: 0, tensor: "t")
        func flags(_ b: [Float], _ v: [Float], _ e: [Float], _ k: TensorKernel) -> NonFinite {
            var out = [Float](repeating: 0, count: b.count)
            return k.apply(base: b, vlm: v, expert: e, offset: 0, n: b.count, out: &out)
        }
        XCTAssertEqual(flags([0, 1, 2], [1, 2, 3], [3, 4, 5], f), [])
        XCTAssertEqual(flags([0, 1, 2], [1, .nan, 3], [3, 4, 5], f), [.output])
        XCTAssertEqual(flags([0, -.infinity, 2], [1, 2, 3], [3, 4, 5], f), [.output])
        XCTAssertEqual(flags([0, 1, 2], [1, 2, 3], [3, 4, .greatestFiniteMagnitude], f), [])
        let big = TensorKernel(config: .defaults(for: .taskArithmetic), count: 3, wV: 1e30, wR: 1e30, density: 1, seed: 0, tensor: "t")
        XCTAssertEqual(flags([0, 1, 2], [1e10, 2, 3], [3, 4, 5], big), [.output])
        // TIES ranks NaN/inf above every finite magnitude and keeps them: the output shows it.
        let ties = TensorKernel(config: .defaults(for: .ties), count: 4, wV: 1, wR: 0, density: 0.25, seed: 0, tensor: "t")
        var tk = ties
        let tb: [Float] = [0, 0, 0, 0], tv: [Float] = [5, .nan, 1, 2]
        for pass in tk.passes where tk.needs(pass) { tk.begin(pass); tk.accumulate(pass, base: tb, vlm: tv, expert: tb, offset: 0, n: 4); tk.end(pass) }
        XCTAssertEqual(flags(tb, tv, tb, tk), [.output])
        // DARE can drop an entry, so it reports its inputs itself.
        let dare = TensorKernel(config: .defaults(for: .dareLinear), count: 3, wV: 1, wR: 1, density: 1e-5, seed: 0, tensor: "t")
        XCTAssertEqual(flags([0, 1, 2], [1, 2, 3], [3, .infinity, 5], dare), [.expert])
    }

    /// FRANK's prior must give 0 < w_V, w_R at every layer: a negative decay with the max
    /// schedule is refused (it gave coefficients outside [0, 1]); a decay ≤ 0 warns.
    func testFrankPriorRefusesInvalidWeightsAndWarnsOnNonPositiveDecay() throws {
        var s = NormStats(); s.sqV = 1; s.sqR = 2
        let st = TaskVectorStats(perTensor: [:], tensorLayer: [:], layers: [s, s, s], other: s)
        XCTAssertThrowsError(try ClosedForm.frank(st, prior: .decay(-0.5), schedule: .maxNormalized, granularity: .layer)) { err in
            XCTAssertTrue("\(err)".contains("w_R") && "\(err)".contains("layer 1"), "\(err)")
        }
        XCTAssertThrowsError(try ClosedForm.frank(st, prior: .decay(0), schedule: .maxNormalized, granularity: .layer))
        // One layer with the paper schedule: w_V = 1, w_R = 0 → refused.
        let one = TaskVectorStats(perTensor: [:], tensorLayer: [:], layers: [s], other: s)
        XCTAssertThrowsError(try ClosedForm.frank(one, prior: .decay(0.3), schedule: .paper, granularity: .layer))
        // The paper schedule keeps weights in (0, 1) for a negative decay, but warns.
        final class Box: @unchecked Sendable { var m: [String] = [] }
        let box = Box()
        let c = try ClosedForm.frank(st, prior: .decay(-0.2), schedule: .paper, granularity: .layer) { box.m.append($0) }
        XCTAssertEqual(box.m.count, 1)
        XCTAssertTrue(box.m[0].contains("-0.2") && box.m[0].contains("not positive"), box.m[0])
        for p in c.layers { XCTAssertTrue(p.vl > 0 && p.vl < 1 && p.exp > 0 && p.exp < 1, "\(p)") }
        let ok = try ClosedForm.frank(st, prior: .decay(0.2), schedule: .maxNormalized, granularity: .layer) { box.m.append($0) }
        XCTAssertEqual(box.m.count, 1, "no warning for a positive decay")
        XCTAssertEqual(ok.priorV![0], exp(-0.2), accuracy: 1e-12)
    }

    /// The attention file's layer column places each share (rows in any order).
    func testAttentionFileUsesLayerColumn() throws {
        let p = tmpPath("att-order.csv")
        try "layer,share\n2,0.125\n0,0.5\n1,0.25\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertEqual(try readAttentionShares(path: p), [0.5, 0.25, 0.125])
        try "layer,share\n0,0.5\n0,0.25\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try readAttentionShares(path: p)) { XCTAssertTrue("\($0)".contains("twice"), "\($0)") }
        // 1-based (the paper's l, as the testbed's probe writes it), in any order.
        try "layer,share\n# probe\n2,0.25\n1,0.5\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertEqual(try readAttentionShares(path: p), [0.5, 0.25])
        try "layer,share\n1,0.5\n3,0.25\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try readAttentionShares(path: p)) { XCTAssertTrue("\($0)".contains("out of range"), "\($0)") }
    }

    func testLayerRangeRefusesNormalize() {
        XCTAssertThrowsError(try MergeSpec(method: .layerRange, normalize: true, layerRange: 0...1).validate()) { err in
            XCTAssertTrue("\(err)".contains("normalize"), "\(err)")
        }
        XCTAssertNoThrow(try MergeSpec(method: .layerRange, normalize: false, layerRange: 0...1).validate())
    }

    /// NaN at layer granularity: each layer's λ from that layer's ‖θ_V‖, ‖θ_R‖, end to end.
    func testNaNPerLayerGranularityEndToEnd() throws {
        let base = try Checkpoint(path: fixture("base")), vlm = try Checkpoint(path: fixture("vlm_wrapped")), expert = try Checkpoint(path: fixture("expert"))
        let r = try merge(base: base, vlm: vlm, expert: expert, spec: MergeSpec(method: .nan, granularity: .layer), to: tmpPath())
        for l in 0..<2 {
            var sv = 0.0, se = 0.0
            for name in base.names where name.hasPrefix("model.layers.\(l).") {
                sv += try vlm.tensor("language_model." + name).floats().reduce(0) { $0 + Double($1) * Double($1) }
                se += try expert.tensor(name).floats().reduce(0) { $0 + Double($1) * Double($1) }
            }
            let iv = 1 / sv.squareRoot(), ie = 1 / se.squareRoot()
            XCTAssertEqual(r.coefficients.layers[l].vl, iv / (iv + ie), accuracy: 1e-9)
        }
        XCTAssertNotEqual(r.coefficients.layers[0], r.coefficients.layers[1])
        let m = try merge(base: base, vlm: vlm, expert: expert, spec: MergeSpec(method: .nan), to: tmpPath())
        XCTAssertEqual(m.coefficients.layers[0], m.coefficients.layers[1], "model granularity: one pair")
    }
}
