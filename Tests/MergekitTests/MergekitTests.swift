import Foundation
import Testing
import Fusion
import Mergekit
import SafeTensors
import TestSupport

private func fixture(_ name: String) -> String {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name)").path
}

private func text(_ name: String) throws -> String { try String(contentsOfFile: fixture(name), encoding: .utf8) }

/// The recipe of a fixture config with its relative model paths placed in the fixture folder.
private func fixtureRecipe(_ name: String) throws -> MergeRecipe {
    var r = try MergekitConfig.parse(yaml: try text(name), file: name)
    r.models = r.models.mapValues { fixture($0) }
    return r
}

/// The error a config raises (nil if none).
private func failure(_ yaml: String) -> MergekitError? {
    do { _ = try MergekitConfig.parse(yaml: yaml, file: "t.yml"); return nil } catch let e as MergekitError { return e } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

@Suite struct MergekitGradientTests {
    /// mergetune's interpolation equals mergekit's `evaluate_setting` at t = i/(L−1), bit for
    /// bit, for every committed gradient and layer count (values recorded by mergekit 0.1.5).
    @Test func interpolationEqualsMergekit() throws {
        struct Case: Decodable { let gradient: [Double]; let layers: Int; let values: [Double] }
        struct File: Decodable { let mergekit_version: String; let cases: [Case] }
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: fixture("gradients.json"))))
        #expect(file.mergekit_version == "0.1.5")
        #expect(file.cases.count == 35)
        for c in file.cases {
            for (i, v) in c.values.enumerated() {
                let ours = mergekitGradient(c.gradient, layer: i, layers: c.layers)
                #expect(ours.bitPattern == v.bitPattern, "\(c.gradient) layer \(i) of \(c.layers): \(ours) vs \(v)")
            }
        }
        #expect(mergekitGradient([0.2, 1.0, 0.4], layer: 1, layers: 5) == 0.6)
        #expect(mergekitGradient([3], layer: 0, layers: 1) == 3)
    }

    /// A gradient config's coefficients: decoder layers interpolated, the embeddings, final
    /// norm and head (the other group) at the first anchor, as mergekit's output shows.
    @Test func coefficientsFromGradientConfig() throws {
        let recipe = try fixtureRecipe("ta_gradient.yml")
        #expect(recipe.parameters[RecipeKey.vlWeight] == .list([0.2, 1.0, 0.4]))
        #expect(recipe.parameters[RecipeKey.expWeight] == .list([1, 0]))
        let spec = try recipe.spec()
        let c = try ClosedForm.coefficients(for: spec, layerCount: 5, stats: nil)
        #expect(c.layers.map(\.vl) == [0.2, 0.6, 1.0, 0.7, 0.4])
        #expect(c.layers.map(\.exp) == [1, 0.75, 0.5, 0.25, 0])
        #expect(c.other == CoefficientPair(0.2, 1))
    }

    /// `merge` of the gradient configs equals mergekit's merge of the same YAML (fp32) on
    /// every tensor, the embeddings and head included.
    @Test(arguments: ["ta_gradient", "ties_gradient", "linear_gradient"])
    func mergeEqualsMergekit(_ name: String) throws {
        let recipe = try fixtureRecipe("\(name).yml")
        let out = Scratch.path("mergekit-\(name)")
        _ = try merge(base: try Checkpoint(path: recipe.models[.base]!), vlm: try Checkpoint(path: recipe.models[.vlm]!),
                      expert: try Checkpoint(path: recipe.models[.expert]!), spec: try recipe.spec(), to: out,
                      options: MergeOptions(threads: 2))
        let ours = try Checkpoint(path: out), ref = try Checkpoint(path: fixture("mergekit_\(name).safetensors"))
        #expect(Set(ours.names) == Set(ref.names))
        var worst: Float = 0
        var layersSeen = Set<String>()
        for n in ref.names {
            let a = try ours.tensor(n).floats(), b = try ref.tensor(n).floats()
            #expect(a.count == b.count)
            for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
            if let l = n.split(separator: ".").dropFirst(2).first, n.hasPrefix("model.layers.") { layersSeen.insert(String(l)) }
        }
        #expect(layersSeen.count == 5)
        #expect(worst <= 1e-6, "\(name): largest difference \(worst)")
        // Each config has a gradient, so its layers differ in weights.
        let spec = try recipe.spec()
        #expect(spec.vlWeightGradient != nil || spec.expWeightGradient != nil)
    }
}

@Suite struct MergekitParseTests {
    @Test func rolesFromHintsNotOrder() throws {
        let r = try MergekitConfig.parse(yaml: try text("dare_roles.yml"), file: "dare_roles.yml")
        #expect(r.method == .dareTies)
        #expect(r.models == [.base: "base", .vlm: "vlm", .expert: "expert"])
        #expect(r.parameters == [RecipeKey.vlWeight: .number(0.6), RecipeKey.expWeight: .number(0.8), RecipeKey.density: .number(0.4),
                                 RecipeKey.rescale: .bool(true), RecipeKey.seed: .number(7)])
        let s = try r.spec()
        #expect(s.seed == 7 && s.rescale == .l1 && s.density == 0.4 && s.vlWeight == 0.6 && s.expWeight == 0.8)
    }

    @Test func rolesByOrderAndByCommandLine() throws {
        let yaml = try text("ta_gradient.yml")
        let byOrder = try MergekitConfig.parse(yaml: yaml)
        #expect(byOrder.models[.vlm] == "vlm" && byOrder.models[.expert] == "expert")
        // --vlm naming the second entry swaps the roles, and with them the weights.
        let swapped = try MergekitConfig.parse(yaml: yaml, roles: [.vlm: "expert"])
        #expect(swapped.models[.vlm] == "expert" && swapped.models[.expert] == "vlm")
        #expect(swapped.parameters[RecipeKey.vlWeight] == .list([1, 0]))
        // A path that is none of the models, a base that conflicts.
        #expect(throws: MergekitError.self) { try MergekitConfig.parse(yaml: yaml, roles: [.expert: "other"]) }
        #expect(throws: MergekitError.self) { try MergekitConfig.parse(yaml: yaml, roles: [.base: "/elsewhere"]) }
    }

    @Test func linearBaseFromMergetuneSection() throws {
        let r = try MergekitConfig.parse(yaml: try text("linear_gradient.yml"))
        #expect(r.models == [.base: "base", .vlm: "vlm", .expert: "expert"])
        #expect(r.parameters == [RecipeKey.vlWeight: .number(0.3), RecipeKey.expWeight: .list([0.7, 0.2])])
        let yaml = try MergekitConfig.render(r)
        #expect(!yaml.contains("\nbase_model:") && yaml.contains("mergetune:\n  base_model: base"), "\(yaml)")
    }

    @Test func tiesGradientConfig() throws {
        let r = try MergekitConfig.parse(yaml: try text("ties_gradient.yml"))
        #expect(r.models == [.base: "base", .vlm: "vlm", .expert: "expert"])  // the listed base is skipped
        #expect(r.parameters == [RecipeKey.vlWeight: .list([0.9, 0.3, 0.6, 1.2]), RecipeKey.expWeight: .number(0.7),
                                 RecipeKey.density: .number(0.5), RecipeKey.normalize: .bool(true)])
    }

    /// What mergetune does not read is refused, naming the key (and the file and line).
    @Test func unsupportedConfigsNameTheKey() throws {
        let head = "merge_method: ties\nbase_model: b\n"
        let two = "models:\n  - model: v\n    parameters: {weight: 1, density: 0.5}\n  - model: e\n    parameters: {weight: 1, density: 0.5}\n"
        let cases: [(String, String, String)] = [
            (head + "slices:\n  - sources: []\n", "slices", "not supported"),
            (head + two + "tokenizer_source: union\n", "tokenizer_source", "tokenizer"),
            (head + two + "chat_template: chatml\n", "chat_template", "chat template"),
            (head + two + "colour: blue\n", "colour", "unknown key"),
            ("merge_method: slerp\nbase_model: b\n" + two, "merge_method", "'slerp' is not supported"),
            (head + "models:\n  - model: v\n    parameters: {weight: 1, epsilon: 0.1}\n  - model: e\n    parameters: {weight: 1}\n",
             "models[0].parameters.epsilon", "della"),
            (head + "models:\n  - model: v\n    parameters: {weight: 1, density: [0.2, 0.8]}\n  - model: e\n    parameters: {weight: 1, density: 0.5}\n",
             "models[0].parameters.density", "density gradient"),
            (head + "models:\n  - model: v\n    parameters: {weight: 1, density: 0.4}\n  - model: e\n    parameters: {weight: 1, density: 0.5}\n",
             "models[1].parameters.density", "one density"),
            (head + two + "parameters:\n  lambda: 2\n", "parameters.lambda", "only 1"),
            (head + "models:\n  - model: v\n    parameters:\n      weight:\n        - filter: mlp\n          value: 0.5\n  - model: e\n    parameters: {weight: 1}\n",
             "models[0].parameters.weight[0]", "conditional"),
            (head + two + "  - model: x\n    parameters: {weight: 1}\n", "models", "exactly two"),
            (head + "models:\n  - model: v\n  - model: e\n    parameters: {weight: 1}\n", "models[0].parameters.weight", "missing"),
            (head + "models:\n  - model: v\n    parameters: {weight: true}\n  - model: e\n    parameters: {weight: 1}\n",
             "models[0].parameters.weight", "boolean"),
            (head + "models:\n  - model: v+lora\n    parameters: {weight: 1}\n  - model: e\n    parameters: {weight: 1}\n",
             "models[0].model", "LoRA"),
            (head + "models:\n  - model: v\n    parameters: {weight: 1}\n  - model: e\n    parameters: {weight: 1}\nparameters:\n  density: 2\n",
             "density", "(0, 1]"),
            ("merge_method: task_arithmetic\nbase_model: b\n" + "models:\n  - model: v\n    parameters: {weight: 1}\n  - model: e\n    parameters: {weight: 1}\nmergetune: {seed: 3}\n",
             "mergetune.seed", "no random mask"),
            ("merge_method: linear\nbase_model: b\nmodels:\n  - model: v\n    parameters: {weight: 1}\n  - model: e\n    parameters: {weight: 1}\n",
             "base_model", "linear has no base model"),
        ]
        for (yaml, key, words) in cases {
            guard let e = failure(yaml) else { Issue.record("accepted: \(key)\n\(yaml)"); continue }
            #expect(e.key == key, "\(e)")
            #expect(e.message.contains(words), "\(e)")
            #expect(e.message.hasPrefix("t.yml"), "\(e)")
        }
        // Line numbers point at the key.
        #expect(failure(head + two + "tokenizer_source: union\n")?.message.hasPrefix("t.yml:8:") == true)
    }

    @Test func scalarForms() throws {
        // Integers, floats with exponent, and YAML-1.1 style strings of numbers all read as numbers.
        let yaml = "merge_method: task_arithmetic\nbase_model: b\nmodels:\n  - model: v\n    parameters: {weight: 1}\n  - model: e\n    parameters: {weight: \"2.5e-1\"}\nparameters:\n  normalize: false\n  int8_mask: true\n  lambda: 1.0\n"
        let r = try MergekitConfig.parse(yaml: yaml)
        #expect(r.parameters == [RecipeKey.vlWeight: .number(1), RecipeKey.expWeight: .number(0.25), RecipeKey.normalize: .bool(false)])
    }
}

@Suite struct MergekitRenderTests {
    static let models: [ModelRole: String] = [.base: "/m/base", .vlm: "/m/vlm model", .expert: "/m/expert"]

    /// recipe → YAML → recipe gives the same recipe for what mergekit can express.
    @Test func roundTrip() throws {
        let recipes = [
            MergeRecipe(method: .taskArithmetic, models: Self.models, parameters: [RecipeKey.vlWeight: .number(0.7), RecipeKey.expWeight: .number(0.5)]),
            MergeRecipe(method: .ties, models: Self.models, parameters: [RecipeKey.vlWeight: .list([0.1, 1e-5, 2]), RecipeKey.expWeight: .number(0.8),
                                                                          RecipeKey.density: .number(0.4), RecipeKey.normalize: .bool(false)]),
            MergeRecipe(method: .dareTies, models: Self.models, parameters: [RecipeKey.vlWeight: .number(0.6), RecipeKey.expWeight: .number(1.25e-7),
                                                                              RecipeKey.density: .number(0.3), RecipeKey.seed: .number(11), RecipeKey.rescale: .bool(false)]),
            MergeRecipe(method: .dareLinear, models: Self.models, parameters: [RecipeKey.vlWeight: .number(1), RecipeKey.expWeight: .number(1),
                                                                                RecipeKey.density: .number(0.9), RecipeKey.seed: .number(0)]),
            MergeRecipe(method: .linear, models: Self.models, parameters: [RecipeKey.vlWeight: .number(0.3), RecipeKey.expWeight: .list([0.7, 0.2])]),
        ]
        for r in recipes {
            let yaml = try MergekitConfig.render(r)
            let back = try MergekitConfig.parse(yaml: yaml, file: "rendered.yml")
            #expect(back == r, "\(yaml)")
            #expect(try back.spec() == r.spec())
        }
    }

    /// The rendered text of one recipe, committed: the cross-check script checks that
    /// mergekit 0.1.5 loads it (`rendered_dare_ties.yml`).
    @Test func renderedTextIsMergekitsFormat() throws {
        let r = MergeRecipe(method: .dareTies, models: [.base: "base", .vlm: "vlm", .expert: "expert"],
                            parameters: [RecipeKey.vlWeight: .list([0.5, 1]), RecipeKey.expWeight: .number(0.8),
                                         RecipeKey.density: .number(0.4), RecipeKey.seed: .number(3), RecipeKey.rescale: .string("l1"),
                                         RecipeKey.normalize: .bool(false)])
        let rendered = try MergekitConfig.render(r)
        #expect(rendered == (try text("rendered_dare_ties.yml")))
    }

    @Test func refusesWhatMergekitCannotExpress() throws {
        for m in [MergeMethod.frank, .metagpt, .nan] {
            #expect(throws: MergekitError.self) { try MergekitConfig.render(MergeRecipe(method: m, models: Self.models)) }
        }
        let lr = MergeRecipe(method: .layerRange, models: Self.models, parameters: [RecipeKey.layerStart: .number(0), RecipeKey.layerEnd: .number(1)])
        do { _ = try MergekitConfig.render(lr); Issue.record("layer_range rendered") } catch let e as MergekitError {
            #expect(e.message.contains("slices"))
        }
        let cases: [(MergeRecipe, String)] = [
            (MergeRecipe(method: .dareTies, models: Self.models, parameters: [RecipeKey.rescale: .string("inverse_density")]), RecipeKey.rescale),
            (MergeRecipe(method: .ties, models: Self.models, parameters: [RecipeKey.signConsensus: .bool(false)]), RecipeKey.signConsensus),
            (MergeRecipe(method: .ties, models: [.base: "b", .vlm: "v"]), "expert"),
            (MergeRecipe(method: .ties, models: Self.models, parameters: [RecipeKey.density: .number(0)]), RecipeKey.density),
        ]
        for (r, key) in cases {
            do { _ = try MergekitConfig.render(r); Issue.record("rendered: \(r)") } catch let e as MergekitError {
                #expect(e.key == key, "\(e)")
            }
        }
    }

    /// Closed forms and layer_range render as task_arithmetic with their resolved coefficients
    /// only where mergekit reproduces them exactly.
    @Test func resolvedCoefficients() throws {
        let models: [ModelRole: String] = [.base: "b", .vlm: "v", .expert: "e"]
        // Model granularity: one pair everywhere, scalars.
        let constant = Coefficients.constant(CoefficientPair(0.4, 0.6), layers: 5)
        let mg = try MergekitConfig.parse(yaml: try MergekitConfig.render(MergeRecipe(method: .metagpt, models: models), resolved: constant))
        #expect(mg == MergeRecipe(method: .taskArithmetic, models: models, parameters: [RecipeKey.vlWeight: .number(0.4), RecipeKey.expWeight: .number(0.6)]))
        // layer_range 2-3 of 5 (layer 0 outside, like the other group): an exact gradient.
        let lr = MergeRecipe(method: .layerRange, models: models, parameters: [RecipeKey.layerStart: .number(2), RecipeKey.layerEnd: .number(3), RecipeKey.alpha: .number(0.9)])
        let c = try ClosedForm.coefficients(for: try lr.spec(), layerCount: 5, stats: nil)
        let back = try MergekitConfig.parse(yaml: try MergekitConfig.render(lr, resolved: c))
        #expect(back.parameters[RecipeKey.expWeight] == .list([0, 0, 0.9, 0.9, 0]))
        #expect(try ClosedForm.coefficients(for: try back.spec(), layerCount: 5, stats: nil) == Coefficients(layers: c.layers, other: c.other))
        // Refused: the other group differs from layer 0; per tensor; an inexact interpolation (L = 50).
        let frank = Coefficients(layers: [CoefficientPair(0.3, 0.7), CoefficientPair(0.5, 0.5)], other: CoefficientPair(0.45, 0.55))
        #expect(throws: MergekitError.self) { try MergekitConfig.render(MergeRecipe(method: .frank, models: models), resolved: frank) }
        var perTensor = constant
        perTensor.perTensor["model.layers.0.mlp.up_proj.weight"] = CoefficientPair(0.1, 0.9)
        #expect(throws: MergekitError.self) { try MergekitConfig.render(MergeRecipe(method: .nan, models: models), resolved: perTensor) }
        let lr50 = MergeRecipe(method: .layerRange, models: models, parameters: [RecipeKey.layerStart: .number(1), RecipeKey.layerEnd: .number(1)])
        let c50 = try ClosedForm.coefficients(for: try lr50.spec(), layerCount: 50, stats: nil)
        do { _ = try MergekitConfig.render(lr50, resolved: c50); Issue.record("inexact gradient rendered") } catch let e as MergekitError {
            #expect(e.message.contains("at layer 1 gives 0.9999999999999999"), "\(e)")
        }
    }

    /// A metagpt merge of the 5-layer triple and the merge of its resolved config are the same tensors.
    @Test func resolvedConfigMergesToTheSameTensors() throws {
        let models: [ModelRole: String] = [.base: fixture("base"), .vlm: fixture("vlm"), .expert: fixture("expert")]
        let recipe = MergeRecipe(method: .metagpt, models: models)
        let open = { (r: ModelRole) in try Checkpoint(path: models[r]!) }
        let a = Scratch.path("resolved-a"), b = Scratch.path("resolved-b")
        let result = try merge(base: open(.base), vlm: open(.vlm), expert: open(.expert), spec: try recipe.spec(), to: a, options: MergeOptions(threads: 1))
        let ta = try MergekitConfig.parse(yaml: try MergekitConfig.render(recipe, resolved: result.coefficients))
        #expect(ta.method == .taskArithmetic)
        _ = try merge(base: open(.base), vlm: open(.vlm), expert: open(.expert), spec: try ta.spec(), to: b, options: MergeOptions(threads: 1))
        let x = try Checkpoint(path: a), y = try Checkpoint(path: b)
        for n in x.names { #expect(try x.tensor(n).floats() == y.tensor(n).floats(), "\(n)") }
    }
}
