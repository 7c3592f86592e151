import Foundation
import XCTest
@testable import Fusion
import MergetuneNumerics
import SafeTensors
import TestSupport

/// The subspace (FRISM) merge on a small two-layer checkpoint triple: a 12×8 matrix (rank 5 +
/// oversampling reaches 8, so its SVD is GSL's exact one), a 40×30 matrix (the randomized
/// range finder), a norm, embeddings and a head (not decomposed: all residual).
final class SubspaceMergeTests: XCTestCase {
    static let shapes: [(String, [Int])] = [
        ("model.embed_tokens.weight", [10, 8]),
        ("model.layers.0.self_attn.q_proj.weight", [12, 8]),
        ("model.layers.0.input_layernorm.weight", [8]),
        ("model.layers.1.mlp.down_proj.weight", [40, 30]),
        ("lm_head.weight", [10, 8]),
    ]
    static let q = "model.layers.0.self_attn.q_proj.weight"
    static let bands = [2, 5]

    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
        func add(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    }

    var root = ""
    var values: [String: [String: [Float]]] = [:]

    override func setUpWithError() throws {
        root = tmpPath("subspace")
        for (m, seed) in [("base", 1), ("vlm", 2), ("expert", 3)] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(m)", withIntermediateDirectories: true)
            var tensors: [(spec: TensorSpec, values: [Float])] = []
            for (i, (name, shape)) in Self.shapes.enumerated() {
                let n = shape.reduce(1, *)
                // Task vectors: small noise; the expert's matrices add a decaying low-rank part (a realistic τ_R).
                var x = randomFloats(n, seed: UInt64(seed * 100 + i), scale: m == "base" ? 1 : 0.02)
                if m == "expert" && shape.count == 2 {
                    // Six strong directions with weights 3 … 0.5 over the noise.
                    for (k, w) in [3.0, 2, 1.5, 1, 0.7, 0.5].enumerated() {
                        let a = randomFloats(shape[0], seed: UInt64(1000 + 10 * i + k)), c = randomFloats(shape[1], seed: UInt64(2000 + 10 * i + k))
                        for r in 0..<shape[0] { for col in 0..<shape[1] { x[r * shape[1] + col] += Float(w) * a[r] * c[col] / Float(shape[0]).squareRoot() } }
                    }
                }
                let v = m == "base" ? x : zip(values["base"]![name]!, x).map { $0 + $1 }
                values[m, default: [:]][name] = v
                tensors.append((TensorSpec(name: name, dtype: .f32, shape: shape), v))
            }
            try writeSafeTensorsFile(path: "\(root)/\(m)/model.safetensors", tensors: tensors)
        }
    }

    func checkpoints() throws -> (Checkpoint, Checkpoint, Checkpoint) {
        (try Checkpoint(path: "\(root)/base"), try Checkpoint(path: "\(root)/vlm"), try Checkpoint(path: "\(root)/expert"))
    }

    func merged(_ gates: [Double], lambda: Double = 0.7, cache: String? = nil, log: Log? = nil) throws -> [String: [Float]] {
        let (b, v, e) = try checkpoints()
        var options = MergeOptions(threads: 1)
        options.subspaceCache = cache ?? "\(root)/cache"
        let spec = MergeSpec(method: .subspace, expWeight: lambda, subspace: SubspaceConfig(bands: Self.bands, gates: gates))
        let out = tmpPath("subspace-out")
        let sink = log ?? Log()
        let logger: @Sendable (String) -> Void = { sink.add($0) }
        _ = try merge(base: b, vlm: v, expert: e, spec: spec, to: out, options: options, log: logger)
        let ck = try Checkpoint(path: out)
        return Dictionary(uniqueKeysWithValues: Self.shapes.map { ($0.0, try! ck.tensor($0.0).floats()) })
    }

    func testAllGatesOneIsTaskArithmetic() throws {
        let got = try merged([1, 1, 1], lambda: 0.7)
        let (b, v, e) = try checkpoints()
        let out = tmpPath("ta-out")
        _ = try merge(base: b, vlm: v, expert: e, spec: MergeSpec(method: .taskArithmetic, vlWeight: 1, expWeight: 0.7), to: out,
                      options: MergeOptions(threads: 1))
        let ta = try Checkpoint(path: out)
        for (name, _) in Self.shapes {
            let want = try ta.tensor(name).floats()
            for (x, y) in zip(got[name]!, want) { XCTAssertEqual(x, y, accuracy: 1e-5 * (1 + abs(y)), name) }
        }
    }

    func testAllGatesZeroIsTheVLM() throws {
        let got = try merged([0, 0, 0])
        for (name, _) in Self.shapes { XCTAssertEqual(got[name]!, values["vlm"]![name]!, name) }
    }

    /// Gate 1 on band 1 (directions 3–5) only: θ_V + λ·Σ_{j=3..5} s_j u_j v_jᵀ with the
    /// singular triplets from GSL's full SVD of τ; everything else (residual gate 0) is the VLM.
    func testOneBandIsolatesItsDirections() throws {
        let lambda = 0.7
        let got = try merged([0, 1, 0], lambda: lambda)
        let (rows, cols) = (12, 8)
        let tau = zip(values["expert"]![Self.q]!, values["base"]![Self.q]!).map { Double($0) - Double($1) }
        let svd = try SVD(Matrix(rows: rows, cols: cols, storage: tau))
        for i in 0..<rows {
            for j in 0..<cols {
                var d = 0.0
                for k in 2..<5 { d += svd.u[i, k] * svd.singularValues[k] * svd.v[j, k] }
                let want = Double(values["vlm"]![Self.q]![i * cols + j]) + lambda * d
                XCTAssertEqual(Double(got[Self.q]![i * cols + j]), want, accuracy: 1e-5)
            }
        }
        for (name, _) in Self.shapes where name != Self.q && name != "model.layers.1.mlp.down_proj.weight" {
            XCTAssertEqual(got[name]!, values["vlm"]![name]!, name)
        }
        // The randomized factors of the 40×30 matrix: the same isolation against the factors themselves.
        let (b, _, _) = try checkpoints()
        let (factors, hit) = try SubspaceCache(directory: "\(root)/cache").factors(
            try TensorPairing(base: b, vlm: try Checkpoint(path: "\(root)/vlm"), expert: try Checkpoint(path: "\(root)/expert")),
            base: b, vlm: try Checkpoint(path: "\(root)/vlm"), expert: try Checkpoint(path: "\(root)/expert"), rank: 5)
        XCTAssertTrue(hit)
        let f = factors.factors["model.layers.1.mlp.down_proj.weight"]!
        XCTAssertEqual(f.rank, 5)
        let down = "model.layers.1.mlp.down_proj.weight"
        for i in 0..<40 {
            for j in 0..<30 {
                var d = 0.0
                for k in 2..<5 { d += Double(f.u[i * 5 + k]) * Double(f.s[k]) * Double(f.v[j * 5 + k]) }
                XCTAssertEqual(Double(got[down]![i * 30 + j]), Double(values["vlm"]![down]![i * 30 + j]) + lambda * d, accuracy: 1e-5)
            }
        }
        // The randomized top singular values agree with GSL's full SVD (the spectrum decays: 1e-3 of σ_1).
        let tauDown = zip(values["expert"]![down]!, values["base"]![down]!).map { Double($0) - Double($1) }
        let full = try SVD(Matrix(rows: 40, cols: 30, storage: tauDown))
        for k in 0..<5 { XCTAssertEqual(Double(f.s[k]), full.singularValues[k], accuracy: 1e-3 * full.singularValues[0]) }
    }

    func testCacheHitIsBitIdenticalAndBadCachesAreRecomputed() throws {
        let cache = "\(root)/cache-hit"
        let first = Log(), second = Log(), third = Log()
        let a = try merged([0.3, 0.8, 0.5], cache: cache, log: first)
        XCTAssertTrue(first.lines.contains { $0.contains("computed and cached") }, "\(first.lines)")
        let b = try merged([0.3, 0.8, 0.5], cache: cache, log: second)
        XCTAssertTrue(second.lines.contains { $0.contains("read from the cache") }, "\(second.lines)")
        XCTAssertEqual(a, b)
        // Nothing was written next to the inputs.
        for m in ["base", "vlm", "expert"] {
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(m)"), ["model.safetensors"])
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: cache)
        XCTAssertEqual(files.count, 1)
        // A corrupt file is recomputed with a note, and the merge is the same.
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: "\(cache)/\(files[0])"))
        let c = try merged([0.3, 0.8, 0.5], cache: cache, log: third)
        XCTAssertTrue(third.lines.contains { $0.contains("unusable") && $0.contains("recomputing") }, "\(third.lines)")
        XCTAssertEqual(a, c)
        // A cache inside an input folder is refused.
        XCTAssertThrowsError(try merged([1, 1, 1], cache: "\(root)/expert/svd")) { e in
            XCTAssertTrue("\(e)".contains("inside the input checkpoint folder"), "\(e)")
        }
    }

    /// The spectral magnitude: 1 with every gate open, 0 closed, and a band's share alone.
    func testSpectralMagnitude() throws {
        let (b, v, e) = try checkpoints()
        let pairing = try TensorPairing(base: b, vlm: v, expert: e)
        let (f, _) = try SubspaceCache(directory: "\(root)/cache-spectral").factors(pairing, base: b, vlm: v, expert: e, rank: 5)
        func spectral(_ g: [Double]) -> Double { f.spectral(SubspaceConfig(bands: Self.bands, gates: g), pairing: pairing) }
        XCTAssertEqual(spectral([1, 1, 1]), 1, accuracy: 1e-12)
        XCTAssertEqual(spectral([0, 0, 0]), 0)
        var band0 = 0.0, total = 0.0
        for (name, shape) in Self.shapes where shape.count == 2 && name.hasPrefix("model.layers.") {
            let tau = zip(values["expert"]![name]!, values["base"]![name]!).map { Double($0) - Double($1) }
            total += tau.reduce(0) { $0 + $1 * $1 }
            band0 += f.factors[name]!.s.prefix(2).reduce(0) { $0 + Double($1) * Double($1) }
        }
        XCTAssertEqual(spectral([0.5, 0, 0]), 0.25 * band0 / total, accuracy: 1e-9)
    }

    func testRecipeChecksBandsAndGates() throws {
        XCTAssertThrowsError(try MergeRecipe(method: .subspace, parameters: ["gates": .list([1, 1])]).spec()) { e in
            XCTAssertEqual((e as? RecipeError)?.parameter, "bands")
        }
        XCTAssertThrowsError(try MergeRecipe(method: .subspace, parameters: ["bands": .list([4, 2]), "gates": .list([1, 1, 1])]).spec()) { e in
            XCTAssertEqual((e as? RecipeError)?.parameter, "bands")
        }
        XCTAssertThrowsError(try MergeRecipe(method: .subspace, parameters: ["bands": .list([2, 4]), "gates": .list([1, 1])]).spec()) { e in
            XCTAssertEqual((e as? RecipeError)?.parameter, "gates")
        }
        let spec = try MergeRecipe(method: .subspace, parameters: ["bands": .list([2, 4]), "gates": .list([1, 0.5, 0]), "exp_weight": .number(0.4)]).spec()
        XCTAssertEqual(spec.subspace, SubspaceConfig(bands: [2, 4], gates: [1, 0.5, 0]))
        XCTAssertEqual(spec.expWeight, 0.4)
        // The recipe round-trips through its spec.
        XCTAssertEqual(try MergeRecipe(spec: spec).spec(), spec)
        // Two gate groups on a two-layer merge need 2 × 3 gates.
        let grouped = MergeSpec(method: .subspace, subspace: SubspaceConfig(bands: [2, 4], gates: [1, 1, 1], layerGroup: 1))
        XCTAssertThrowsError(try grouped.subspace!.validate(layers: 2))
    }
}
