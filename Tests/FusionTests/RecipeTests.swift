import Foundation
import XCTest
@testable import Fusion
import SafeTensors

/// Values for the parameters a method requires (layer_range's range), so its defaults can run.
private func requiredValues(_ m: MergeMethod) -> [String: RecipeValue] {
    switch m {
    case .layerRange: return [RecipeKey.layerStart: .number(0), RecipeKey.layerEnd: .number(0)]
    case .subspace: return [RecipeKey.bands: .list([1]), RecipeKey.gates: .list([1, 0.5])]  // one band of rank 1, half the residual
    default: return [:]
    }
}

/// The merged language-model tensors of the small fixture triple (2 decoder layers) under a
/// spec, through the same path as the testbed: coefficients, then `mergeTensor` per tensor.
private final class FixtureTriple {
    let pairing: TensorPairing
    let stats: TaskVectorStats
    var inputs: [String: ([Float], [Float], [Float])] = [:]
    init() throws {
        pairing = try TensorPairing(base: Checkpoint(path: fixture("base")), vlm: Checkpoint(path: fixture("vlm")),
                                    expert: Checkpoint(path: fixture("expert")))
        stats = try computeTaskVectorStats(pairing, threads: 1)
        for t in pairing.tensors {
            guard case let .merge(b, v, e, _) = t.action, let c = t.canonical else { continue }
            inputs[c] = (try b.floats(), try v.floats(), try e.floats())
        }
    }
    func merged(_ spec: MergeSpec) throws -> [String: [Float]] {
        if let config = spec.subspace {
            let factors = try SubspaceFactors.compute(pairing, rank: config.rank, base: { self.inputs[$0]!.0 }, expert: { self.inputs[$0]!.2 })
            var out: [String: [Float]] = [:]
            for t in pairing.tensors {
                guard let c = t.canonical, let (b, v, e) = inputs[c] else { continue }
                out[c] = subspaceMergeTensor(base: b, vlm: v, expert: e, factor: factors.factors[c], config: config, layer: t.layer,
                                             lambda: spec.expWeight)
            }
            return out
        }
        let coefficients = try ClosedForm.coefficients(for: spec, layerCount: pairing.layerCount, stats: stats)
        var out: [String: [Float]] = [:]
        for t in pairing.tensors {
            guard let c = t.canonical, let (b, v, e) = inputs[c] else { continue }
            let p = coefficients.lookup(canonical: c, layer: t.layer)
            out[c] = mergeTensor(base: b, vlm: v, expert: e, config: spec.config, vlWeight: p.vl, expWeight: p.exp,
                                 density: spec.density, seed: spec.seed, tensor: c)
        }
        return out
    }
}

/// The registry's conformance suite: runs over every method, so a method added to
/// `MergeMethod` without its registry entry (or with a parameter that does nothing) fails here.
final class RecipeConformanceTests: XCTestCase {
    func testRegistryHasEveryMethodOnce() {
        XCTAssertEqual(MergeMethodRegistry.all.map(\.method).sorted { $0.rawValue < $1.rawValue },
                       MergeMethod.allCases.sorted { $0.rawValue < $1.rawValue })
        for m in MergeMethod.allCases {
            let info = MergeMethodRegistry.info(m)
            XCTAssertEqual(info.method, m)
            XCTAssertEqual(Set(info.parameters.map(\.name)).count, info.parameters.count, "\(m): a parameter twice")
            // mergekit names: the five generalized task-arithmetic methods, under mergetune's own names.
            XCTAssertEqual(info.mergekitName, [.linear, .taskArithmetic, .ties, .dareLinear, .dareTies].contains(m) ? m.rawValue : nil)
            for p in info.parameters {
                XCTAssertFalse(p.help.isEmpty, "\(m).\(p.name)")
                XCTAssertEqual(p.searchable, p.defaultBounds != nil, "\(m).\(p.name): searchable parameters have default bounds")
                if p.searchable { XCTAssertEqual(p.kind, .number) }
            }
        }
        XCTAssertEqual(MergeMethodRegistry.method(mergekitName: "dare_ties"), .dareTies)
        XCTAssertNil(MergeMethodRegistry.method(mergekitName: "slerp"))
    }

    /// The defaults of every method give a valid spec, and that spec is `MergeSpec`'s own
    /// default for the method (the recipe adds no hidden values).
    func testDefaultsGiveTheMethodsDefaultSpec() throws {
        for m in MergeMethod.allCases {
            let spec = try MergeRecipe(method: m, parameters: requiredValues(m)).spec()
            var expected = MergeSpec(method: m)
            if m == .layerRange { expected.layerRange = 0...0 }
            if m == .subspace { expected.subspace = SubspaceConfig(bands: [1], gates: [1, 0.5]) }
            XCTAssertEqual(spec, expected, "\(m)")
            try spec.validate()
        }
    }

    /// Every searchable parameter of every method changes the merged output of the fixture
    /// triple between the ends of its default bounds.
    func testEverySearchableParameterChangesTheMerge() throws {
        let triple = try FixtureTriple()
        XCTAssertEqual(triple.pairing.layerCount, 2)
        var checked = 0
        for info in MergeMethodRegistry.all {
            let fixed = requiredValues(info.method).merging(info.method == .layerRange ? [RecipeKey.layerEnd: .number(1)] : [:]) { $1 }
            let recipe = MergeRecipe(method: info.method, parameters: fixed)
            for p in info.searchable {
                let b = p.defaultBounds!
                // The other searchable parameters sit at their middles (away from degenerate ends).
                var at: [String: Double] = [:]
                for q in info.searchable where q.name != p.name { at[q.name] = (q.defaultBounds!.lowerBound + q.defaultBounds!.upperBound) / 2 }
                let lo = try triple.merged(recipe.spec(searched: at.merging([p.name: b.lowerBound]) { $1 }))
                let hi = try triple.merged(recipe.spec(searched: at.merging([p.name: b.upperBound]) { $1 }))
                XCTAssertEqual(Set(lo.keys), Set(hi.keys))
                let changed = lo.keys.filter { lo[$0]! != hi[$0]! }.count
                XCTAssertGreaterThan(changed, 0, "\(info.method.rawValue).\(p.name) changes nothing between \(b.lowerBound) and \(b.upperBound)")
                checked += 1
            }
        }
        // vl/exp for 5 methods, density for 3, alpha, decay, subspace's exp_weight.
        XCTAssertEqual(checked, 16)
    }

    /// Errors name the parameter and say what is wrong, for every kind of mistake.
    func testErrorsNameTheParameter() {
        func error(_ r: MergeRecipe, _ searched: [String: Double] = [:]) -> RecipeError? {
            do { _ = try r.spec(searched: searched); return nil } catch { return error as? RecipeError }
        }
        let cases: [(MergeRecipe, [String: Double], RecipeError.Kind, String?)] = [
            (MergeRecipe(method: .ties, parameters: ["bogus": .number(1)]), [:], .unknown, "bogus"),
            (MergeRecipe(method: .taskArithmetic), ["density": 0.5], .unknown, "density"),
            (MergeRecipe(method: .ties, parameters: ["density": .string("half")]), [:], .wrongType, "density"),
            (MergeRecipe(method: .ties, parameters: ["density": .list([0.5, 1])]), [:], .wrongType, "density"),
            (MergeRecipe(method: .ties, parameters: ["normalize": .number(1)]), [:], .wrongType, "normalize"),
            (MergeRecipe(method: .ties), ["density": 1.5], .outOfRange, "density"),
            (MergeRecipe(method: .ties), ["density": 0], .outOfRange, "density"),
            (MergeRecipe(method: .ties), ["vl_weight": .infinity], .outOfRange, "vl_weight"),
            (MergeRecipe(method: .dareTies, parameters: ["seed": .number(1.5)]), [:], .outOfRange, "seed"),
            (MergeRecipe(method: .ties, parameters: ["rescale": .string("l2")]), [:], .outOfRange, "rescale"),
            (MergeRecipe(method: .ties, parameters: ["vl_weight": .number(1)]), ["vl_weight": 2], .searchedAndFixed, "vl_weight"),
            (MergeRecipe(method: .dareTies), ["seed": 1], .notSearchable, "seed"),
            (MergeRecipe(method: .layerRange, parameters: [RecipeKey.layerEnd: .number(3)]), [:], .missing, "layer_start"),
            (MergeRecipe(method: .layerRange, parameters: [RecipeKey.layerStart: .number(3), RecipeKey.layerEnd: .number(1)]), [:], .outOfRange, "layer_end"),
            (MergeRecipe(method: .layerRange, parameters: requiredValues(.layerRange).merging(["normalize": .bool(true)]) { $1 }), [:], .outOfRange, "normalize"),
            (MergeRecipe(method: .frank, parameters: ["attention": .list([0.5, 0.2])]), ["decay": 0.1], .invalid, "decay"),
            (MergeRecipe(method: .frank, parameters: ["attention": .string("/nonexistent/att.csv")]), [:], .invalid, "attention"),
            (MergeRecipe(method: .frank, parameters: ["granularity": .string("block")]), [:], .outOfRange, "granularity"),
            (MergeRecipe(method: .linear), ["vl_weight": 1, "exp_weight": -1], .outOfRange, "vl_weight"),
        ]
        for (recipe, searched, kind, name) in cases {
            guard let e = error(recipe, searched) else { XCTFail("accepted: \(recipe) \(searched)"); continue }
            XCTAssertEqual(e.kind, kind, "\(e)")
            XCTAssertEqual(e.parameter, name, "\(e)")
            if let name { XCTAssertTrue(e.description.hasPrefix("parameter '\(name)': "), e.description) }
        }
        // check() does not read the attention file; spec() does.
        XCTAssertNoThrow(try MergeRecipe(method: .frank, parameters: ["attention": .string("/nonexistent/att.csv")]).check())
    }

    /// recipe → spec and spec → recipe → spec agree; JSON round trips the recipe.
    func testSpecRecipeRoundTrip() throws {
        let specs = [
            MergeSpec(method: .ties, vlWeight: 0.6, expWeight: 0.8, density: 0.4, normalize: false),
            MergeSpec(method: .dareTies, vlWeight: 0.6, expWeight: 0.8, density: 0.4, seed: 9, rescale: .inverseDensity),
            MergeSpec(method: .taskArithmetic, vlWeight: 0, expWeight: 1, vlWeightGradient: [0, 1, 0.5], expWeightGradient: [1, 0]),
            MergeSpec(method: .linear, vlWeight: 0.3, expWeight: 0.7),
            MergeSpec(method: .layerRange, expWeight: 0.9, layerRange: 1...1),
            MergeSpec(method: .frank, prior: .decay(0.2), schedule: .maxNormalized, granularity: .tensor),
            MergeSpec(method: .frank, prior: .attention([0.5, 0.3])),
            MergeSpec(method: .metagpt, granularity: .layer),
            MergeSpec(method: .nan),
        ]
        for s in specs {
            let r = MergeRecipe(spec: s, models: [.base: "/b", .vlm: "/v", .expert: "/e"])
            XCTAssertEqual(try r.spec(), s, "\(r)")
            let back = try JSONDecoder().decode(MergeRecipe.self, from: Data(r.json().utf8))
            XCTAssertEqual(back, r)
        }
        // The JSON is an object keyed by role and parameter name.
        let json = MergeRecipe(method: .ties, models: [.vlm: "/v"], parameters: ["density": .number(0.5), "normalize": .bool(true)]).json()
        XCTAssertEqual(json, #"{"method":"ties","models":{"vlm":"/v"},"parameters":{"density":0.5,"normalize":true}}"#)
    }

    /// Searching: the searched names are exactly the searchable ones not fixed.
    func testSearchableExcludesFixed() throws {
        let r = MergeRecipe(method: .dareTies, parameters: [RecipeKey.density: .number(0.5), RecipeKey.seed: .number(2)])
        XCTAssertEqual(r.searchable.map(\.name), [RecipeKey.vlWeight, RecipeKey.expWeight])
        let s = try r.spec(searched: [RecipeKey.vlWeight: 0.25, RecipeKey.expWeight: 1.75])
        XCTAssertEqual(s, MergeSpec(method: .dareTies, vlWeight: 0.25, expWeight: 1.75, density: 0.5, seed: 2))
        XCTAssertEqual(MergeRecipe(method: .ties).searchable.map { $0.defaultBounds! }, [0...2, 0...2, 0.25...1])
    }

    /// Gradients reach the coefficients; the provenance records the recipe and the version.
    func testGradientMergeAndProvenance() throws {
        let spec = try MergeRecipe(method: .taskArithmetic, parameters: [RecipeKey.vlWeight: .list([0, 2]), RecipeKey.expWeight: .number(0.5)]).spec()
        let out = tmpPath("gradient")
        var options = MergeOptions(threads: 1)
        options.writerVersion = "9.9.9"
        options.extraFiles = [("mergekit_config.yml", "merge_method: task_arithmetic\n")]
        let r = try merge(base: Checkpoint(path: fixture("base")), vlm: Checkpoint(path: fixture("vlm")), expert: Checkpoint(path: fixture("expert")),
                          spec: spec, to: out, options: options)
        XCTAssertEqual(r.coefficients.layers, [CoefficientPair(0, 0.5), CoefficientPair(2, 0.5)])
        XCTAssertEqual(r.coefficients.other, CoefficientPair(0, 0.5))
        let ck = try Checkpoint(path: out)
        let meta = ck.shards[0].metadata
        XCTAssertEqual(meta["mergetune.version"], "9.9.9")
        let recipe = try JSONDecoder().decode(MergeRecipe.self, from: Data(meta["mergetune.recipe"]!.utf8))
        XCTAssertEqual(recipe.parameters[RecipeKey.vlWeight], .list([0, 2]))
        XCTAssertEqual(recipe.models[.vlm], URL(fileURLWithPath: fixture("vlm")).standardizedFileURL.path)
        XCTAssertEqual(try String(contentsOfFile: out + "/mergekit_config.yml", encoding: .utf8), "merge_method: task_arithmetic\n")
        // Layer 0 at λ_V = 0 is θ_0 + 0.5 τ_R exactly where the kernel computes it so.
        let name = "model.layers.0.mlp.up_proj.weight"
        let b = try Checkpoint(path: fixture("base")).tensor(name).floats(), e = try Checkpoint(path: fixture("expert")).tensor(name).floats()
        let v = try Checkpoint(path: fixture("vlm")).tensor(name).floats()
        let expected = mergeTensor(base: b, vlm: v, expert: e, config: spec.config, vlWeight: 0, expWeight: 0.5)
        XCTAssertEqual(try ck.tensor(name).floats(), expected)
    }
}
