import Foundation
import Testing
import Fusion
import Ledger
import Mergekit
import Optimizers
import Testbed
@testable import StudyEngine

/// One objective table per case; every registered space has at least one.
struct SpaceCase: CustomStringConvertible, Sendable {
    let label: String
    let space: String
    let table: String
    let dimension: Int
    var description: String { label }

    static let all: [SpaceCase] = [
        SpaceCase(label: "global", space: "global", table: "", dimension: 2),
        SpaceCase(label: "global-ties", space: "global", table: "method = \"ties\"\nspace = \"global\"", dimension: 3),
        SpaceCase(label: "frank_scaled", space: "frank_scaled", table: "space = \"frank_scaled\"", dimension: 2),
        SpaceCase(label: "frank_scaled-decay", space: "frank_scaled", table: "space = \"frank_scaled\"\ndecay = 0.3\nschedule = \"max\"", dimension: 2),
        SpaceCase(label: "frank_scaled-search_decay", space: "frank_scaled", table: "space = \"frank_scaled\"\nsearch_decay = true", dimension: 3),
        SpaceCase(label: "per_layer", space: "per_layer", table: "space = \"per_layer\"", dimension: 8),
        SpaceCase(label: "per_layer-g3", space: "per_layer", table: "space = \"per_layer\"\nlayer_group = 3", dimension: 4),
        SpaceCase(label: "per_layer-knots3", space: "per_layer", table: "space = \"per_layer\"\nknots = 3", dimension: 6),
        SpaceCase(label: "per_layer-ties-g2", space: "per_layer", table: "method = \"ties\"\nspace = \"per_layer\"\nlayer_group = 2", dimension: 5),
        SpaceCase(label: "layer_range", space: "layer_range", table: "space = \"layer_range\"", dimension: 3),
        SpaceCase(label: "subspace", space: "subspace", table: "space = \"subspace\"\nbands = [2, 8, 24]", dimension: 5),
        SpaceCase(label: "subspace-g2-residual", space: "subspace",
                  table: "space = \"subspace\"\nbands = [4, 16]\nlayer_group = 2\nresidual_gate = 1", dimension: 5),
        SpaceCase(label: "subspace-fixed-lambda", space: "subspace", table: "space = \"subspace\"\nexp_weight = 0.8", dimension: 4),
    ]
}

func testbedObjectiveSpec(_ table: String, seeds: Int = 1, budget: Int = 3, optimizer: String = "random", in dir: URL? = nil) throws -> StudySpec {
    try spec("""
        name = "spaces"
        seeds = \(seeds)
        budget = \(budget)
        [[optimizers]]
        kind = "\(optimizer)"
        [[objectives]]
        kind = "testbed"
        scenario = "language"
        directory = "\(TestbedStudyTests.directory.path)"
        \(table)
        """, in: dir)
}

/// Deterministic points inside a box (SplitMix64).
func boxPoints(_ space: SearchSpace, count: Int, seed: UInt64) -> [[String: Double]] {
    var state = seed
    func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
    return (0..<count).map { _ in
        Dictionary(uniqueKeysWithValues: zip(space.names, space.fromUnit(space.names.map { _ in next() })))
    }
}

@Suite("Search spaces: every registered space")
struct SearchSpaceConformanceTests {
    @Test func everyRegisteredSpaceHasAConformanceCase() {
        #expect(Set(MergeSpaces.names) == Set(SpaceCase.all.map(\.space)), "a new space needs its case in SpaceCase.all")
        #expect(MergeSpaces.names == ["global", "frank_scaled", "per_layer", "layer_range", "subspace"])
    }

    @Test(arguments: SpaceCase.all)
    func aPointBecomesOneRecipeTheFusionCoreAccepts(_ c: SpaceCase) throws {
        let o = try testbedObjectiveSpec(c.table).objectives[0]
        #expect((o.space == nil) == (c.space == "global"), "global is stored as absent")
        let method = MergeMethod(rawValue: o.method!)!
        let box = try o.space.map { try MergeSpaces.box($0, method: method, fixed: [:], bounds: nil, file: "f", key: "k") }
            ?? (try SearchSpace(TestbedSupport.defaultBox(method)))
        #expect(box.dimension == c.dimension, "\(box.names)")
        #expect(Set(box.names).count == box.dimension)
        #expect(box.parameters.allSatisfy { $0.lower < $0.upper })
        let stats = try TestbedFamily.shared(directory: TestbedStudyTests.directory).stats(.language)
        for point in boxPoints(box, count: 6, seed: 11) {
            let recipe = try TrialRecipe.recipe(o, params: point)  // validates with spec()
            #expect(try TrialRecipe.recipe(o, params: point) == recipe, "deterministic")
            #expect(recipe.models.count == 3)
            let spec = try recipe.spec()
            let layers = try ClosedForm.coefficients(for: spec, layerCount: 4, stats: nil).layers
            switch c.space {
            case "per_layer":
                let s = o.space!
                for l in 0..<4 {
                    let i = s.knots == nil ? l / (s.layerGroup ?? 1) : -1
                    if i >= 0 {
                        // One anchor per layer: each layer takes exactly its group's values.
                        #expect(layers[l] == CoefficientPair(point["vl_weight_\(i)"]!, point["exp_weight_\(i)"]!))
                    } else {
                        let knots = (0..<s.knots!).map { point["vl_weight_\($0)"]! }
                        #expect(layers[l].vl == mergekitGradient(knots, layer: l, layers: 4))
                    }
                }
                #expect((spec.density == point["density"]) || point["density"] == nil)
            case "frank_scaled":
                // s · FRANK's own per-layer coefficients, from the family's statistics.
                let prior: FrankPrior = point["decay"].map { .decay($0) } ?? o.space!.prior ?? FrankPrior.none
                let frank = try ClosedForm.frank(stats, prior: prior, schedule: o.space!.schedule ?? .paper, granularity: .layer).layers
                for l in 0..<4 {
                    #expect(layers[l] == CoefficientPair(point["vl_scale"]! * frank[l].vl, point["exp_scale"]! * frank[l].exp))
                }
            case "layer_range":
                let (a, b) = LayerRangeSpace.layers(point["layer_start"]!, point["layer_end"]!, count: 4)
                #expect(spec.layerRange == a...b && spec.expWeight == point["alpha"]!)
            case "subspace":
                // The gates, group by group (bands then the residual; a fixed residual as given), and λ_R.
                let s = o.space!
                let groups = s.layerGroup == nil ? 1 : 2
                var gates: [Double] = []
                for g in 0..<groups {
                    let suffix = groups == 1 ? "" : "_l\(g)"
                    gates += s.bands!.indices.map { point["gate_\($0)\(suffix)"]! } + [s.residualGate ?? point["gate_res\(suffix)"]!]
                }
                #expect(spec.subspace == SubspaceConfig(bands: s.bands!, gates: gates, layerGroup: s.layerGroup))
                let lambda = s.expWeight ?? point["exp_weight"]!
                #expect(s.expWeight == nil || point["exp_weight"] == nil)
                #expect(spec.expWeight == lambda && layers.allSatisfy { $0 == CoefficientPair(1, lambda) })
                #expect(box.parameters.filter { $0.name.hasPrefix("gate_") }.allSatisfy { $0.lower == 0 && $0.upper == 1 })
            default:
                #expect(spec.vlWeight == point["vl_weight"]! && spec.expWeight == point["exp_weight"]!)
                #expect(spec.vlWeightGradient == nil)
            }
            // mergekit YAML and back: the same merge where expressible, a clear error where not.
            if c.space == "layer_range" || c.space == "subspace" {
                #expect(MergeSpaces.kind(named: c.space)!.mergekitLimitation != nil)
                #expect(throws: MergekitError.self) { _ = try MergekitConfig.render(recipe) }
                do { _ = try MergekitConfig.render(recipe) } catch { #expect("\(error)".contains(c.space)) }
            } else {
                let yaml = try MergekitConfig.render(recipe)
                #expect(try MergekitConfig.parse(yaml: yaml).spec() == spec, "\(yaml)")
                if c.space != "global" { #expect(yaml.contains("weight: ["), "per-layer values are gradient lists: \(yaml)") }
            }
        }
    }

    @Test func frankScaledAtScaleOneIsFranksPerLayerMerge() throws {
        let o = try testbedObjectiveSpec("space = \"frank_scaled\"").objectives[0]
        #expect(o.space?.layerNorms?.sqV.count == 4)
        let e = try TestbedEvaluator(directory: TestbedStudyTests.directory, scenario: .language)
        let frank = try e.coefficients(for: MergeSpec(method: .frank))
        let spec = try TrialRecipe.recipe(o, params: ["vl_scale": 1, "exp_scale": 1]).spec()
        #expect(spec.vlWeightGradient == frank.layers.map(\.vl) && spec.expWeightGradient == frank.layers.map(\.exp))
    }

    @Test func layerRangeRoundsToTheNearestLayerClampsAndSwaps() {
        #expect(LayerRangeSpace.layers(0.4, 2.6, count: 4) == (0, 3))
        #expect(LayerRangeSpace.layers(2.6, 0.4, count: 4) == (0, 3))  // start > end: swapped
        #expect(LayerRangeSpace.layers(-0.5, 3.5, count: 4) == (0, 3))  // the box's edges: clamped
        #expect(LayerRangeSpace.layers(1.5, 1.49, count: 4) == (1, 2))  // .5 rounds away from zero
    }

    @Test func oneAnchorPerLayerGivesEachLayerItsValueUpToRounding() {
        // mergekit's interpolation at t = l/(L − 1) lands exactly on anchor l for the testbed's
        // 4 layers; at some depths t·(L − 1) rounds just below l and the value is off by an ulp
        // or two (mergekit computes the same, so the merge still equals mergekit's).
        var inexact: [Int] = []
        for L in [1, 2, 3, 4, 12, 24, 28, 32, 36, 40, 48, 64, 80] {
            let g = (0..<L).map { 0.1 + Double($0) * 0.37 }
            for l in 0..<L {
                let v = mergekitGradient(g, layer: l, layers: L)
                if L <= 4 { #expect(v == g[l], "L = \(L), layer \(l)") }
                #expect(abs(v - g[l]) <= 4 * g[l].ulp, "L = \(L), layer \(l): \(v) vs \(g[l])")
                if v != g[l] && !inexact.contains(L) { inexact.append(L) }
            }
        }
        #expect(!inexact.isEmpty, "if every depth were exact, say so in docs/studies.md")
    }
}

@Suite("Search spaces: spec errors")
struct SearchSpaceSpecErrorTests {
    func error(_ table: String) throws -> SpecError? { try specError(testbedObjectiveSpecText(table)) }
    func testbedObjectiveSpecText(_ table: String) -> String {
        """
        name = "spaces"
        [[optimizers]]
        kind = "random"
        [[objectives]]
        kind = "testbed"
        scenario = "language"
        directory = "\(TestbedStudyTests.directory.path)"
        \(table)
        """
    }

    @Test func badSpacesNameTheKey() throws {
        let unknown = try #require(try error("space = \"subspaces\""))
        #expect(unknown.key == "objectives[0].space" && unknown.message.contains("frank_scaled, per_layer"))
        let group = try #require(try error("space = \"per_layer\"\nlayer_group = 5"))
        #expect(group.key == "objectives[0].layer_group" && group.message.contains("4 decoder layers"), "\(group)")
        let both = try #require(try error("space = \"per_layer\"\nlayer_group = 2\nknots = 2"))
        #expect(both.key == "objectives[0].knots")
        let stray = try #require(try error("layer_group = 2"))
        #expect(stray.key == "objectives[0].layer_group" && stray.message.contains("per_layer"))
        let foreign = try #require(try error("space = \"per_layer\"\nsearch_decay = true"))
        #expect(foreign.key == "objectives[0].search_decay" && foreign.message.contains("frank_scaled"))
        let method = try #require(try error("method = \"ties\"\nspace = \"layer_range\""))
        #expect(method.key == "objectives[0].space" && method.message.contains("layer_range"))
        let decay = try #require(try error("space = \"frank_scaled\"\nsearch_decay = true\ndecay = 0.2"))
        #expect(decay.key == "objectives[0].search_decay")
        let bounds = try #require(try error("space = \"per_layer\"\nbounds = { vl_weight_9 = [0, 1] }"))
        #expect(bounds.key == "objectives[0].bounds.vl_weight_9" && bounds.message.contains("vl_weight_0"))
        // A family's bounds apply to its every layer.
        let s = try testbedObjectiveSpec("space = \"per_layer\"\nbounds = { exp_weight = [0, 1], vl_weight_0 = [0.5, 1.5] }")
        let box = try MergeSpaces.box(s.objectives[0].space!, method: .taskArithmetic, fixed: [:], bounds: s.objectives[0].bounds, file: "f", key: "k")
        #expect(box.parameters.filter { $0.name.hasPrefix("exp_weight") }.allSatisfy { $0.lower == 0 && $0.upper == 1 })
        #expect(box.parameters[0].lower == 0.5 && box.parameters[1].upper == 2)
    }

    @Test func badSubspaceKeysNameTheKey() throws {
        let order = try #require(try error("space = \"subspace\"\nbands = [8, 2]"))
        #expect(order.key == "objectives[0].bands" && order.message.contains("ascending"), "\(order)")
        let residual = try #require(try error("space = \"subspace\"\nresidual_gate = 2"))
        #expect(residual.key == "objectives[0].residual_gate", "\(residual)")
        let group = try #require(try error("space = \"subspace\"\nlayer_group = 9"))
        #expect(group.key == "objectives[0].layer_group", "\(group)")
        let method = try #require(try error("method = \"ties\"\nspace = \"subspace\""))
        #expect(method.key == "objectives[0].space" && method.message.contains("subspace"), "\(method)")
        let frism = try #require(try error("objective = \"frism\""))
        #expect(frism.key == "objectives[0].objective" && frism.message.contains("subspace"), "\(frism)")
        let alpha = try #require(try error("space = \"subspace\"\nfrism_alpha = 0.5"))
        #expect(alpha.key == "objectives[0].frism_alpha" && alpha.message.contains("frism"), "\(alpha)")
        let spectral = try #require(try error("metrics = [\"neg_kl\", \"spectral\"]"))
        #expect(spectral.key == "objectives[0].metrics" && spectral.message.contains("subspace"), "\(spectral)")
    }

    @Test func spaceKeysOnAnObjectiveThatMergesNothingAreRefused() throws {
        let text = """
            name = "a"
            [[optimizers]]
            kind = "random"
            [[objectives]]
            kind = "analytic"
            function = "branin"
            space = "per_layer"
            """
        let e = try #require(try specError(text))
        #expect(e.key == "objectives[0].space" && e.message.contains("merge"), "\(e)")
    }
}

@Suite("Search spaces in studies")
struct SearchSpaceStudyTests {
    /// A study of each space on the live testbed, uninterrupted and killed part-way then resumed
    /// from the ledger's stored spec (as `study resume` does): the same trials bit for bit, and
    /// each trial's exported recipe scores what the trial recorded.
    @Test(arguments: ["", "space = \"frank_scaled\"\nsearch_decay = true", "space = \"per_layer\"\nknots = 2", "space = \"layer_range\"",
                      "space = \"subspace\"\nbands = [2, 8]"])
    func resumeIsExactAndTheExportedRecipeIsTheMergedOne(_ table: String) throws {
        let dir = try tempDirectory()
        let s = try testbedObjectiveSpec(table, budget: 4, optimizer: "pattern", in: dir)
        let (reference, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("ref.sqlite").path)
        #expect(result.studyDone && result.trialsEvaluated == 4)

        let prepared = try PreparedStudy.prepare(s)
        let path = dir.appendingPathComponent("crash.sqlite").path
        let ledger = try Ledger(path: path)
        let study = try StudyStore.open(prepared, in: ledger)
        let dead = Owner(host: Owner.current.host, pid: Int32.max - 13, start: 1)
        _ = try ledger.claimStudy(study.id!, owner: dead)
        let recorded = try reference.trials(study: study.id!)
        try ledger.write(study: study.id!, owner: dead) { w in
            let run = try ledger.runs(study: study.id!)[0]
            try w.startRun(run.id!, batch: 1)
            for t in recorded.prefix(3) {
                var copy = t
                copy.id = nil
                if t.number == 3 { copy.state = .running; copy.value = nil; copy.tellSeq = nil }
                try w.insert(&copy)
                var a = AttemptRecord(trial: copy.id!, number: 1, state: t.number == 3 ? .running : .complete,
                                      executor: "inprocess", slot: 0, started: t.started)
                try w.insert(&a)
            }
        }
        let (_, resumed) = try StudyEngine.resume(name: "spaces", ledgerPath: path, options: LaunchOptions(jobs: 1))
        #expect(resumed.trialsReplayed == 2 && resumed.staleTrialsRerun == 1)
        #expect(try trialKeys(Ledger(path: path), study: "spaces") == trialKeys(reference, study: "spaces"))

        let objective = s.objectives[0]
        let e = try TestbedEvaluator(directory: TestbedStudyTests.directory, scenario: .language)
        for t in recorded {
            let recipe = try TrialRecipe.recipe(objective, trial: t)
            #expect(try e.evaluate(spec: recipe.spec()).value == t.value, "\(t.params)")
        }
    }
}

@Suite("Search spaces: FRISM's label-free objective")
struct FrismObjectiveStudyTests {
    /// objective = "frism": the trial's value is −KL + α·spectral, both recorded as metrics; the
    /// one reference is the VLM at 0; the Pareto pair parses as metrics.
    @Test func frismScoreIsNegKLPlusAlphaSpectral() throws {
        let s = try testbedObjectiveSpec("space = \"subspace\"\nbands = [2, 8]\nexp_weight = 1.0\nobjective = \"frism\"\nfrism_alpha = 0.3")
        let o = s.objectives[0]
        #expect(o.frismAlpha == 0.3 && o.method == "subspace" && o.objective == "frism")
        let objective = try #require(try ObjectiveFactory.make(o, file: "f", key: "objectives[0]") as? TestbedObjective)
        #expect(objective.space.names == ["gate_0", "gate_1", "gate_res"])
        #expect(objective.builtInReferences.map(\.name) == ["vlm"] && objective.builtInReferences[0].score == 0)
        let (value, extras) = try objective.evaluateWithExtras([0.9, 0.2, 0.5])
        let x = try #require(extras)
        #expect(abs(value - (x["neg_kl"]! + 0.3 * x["spectral"]!)) < 1e-12)
        #expect(x["neg_kl"]! < 0 && x["spectral"]! > 0 && x["spectral"]! < 1)
        let pair = try testbedObjectiveSpec("space = \"subspace\"\nexp_weight = 1.0\nmetrics = [\"neg_kl\", \"spectral\"]")
        #expect(pair.objectives[0].metrics == ["neg_kl", "spectral"])
    }
}

@Suite("Search spaces: command objectives")
struct SearchSpaceCommandTests {
    @Test func perLayerTrialsMergeRealCheckpointsAndWriteGradientLists() throws {
        let dir = try tempDirectory()
        let text = """
            name = "cmd"
            seeds = 1
            budget = 2
            [[optimizers]]
            kind = "random"
            [[objectives]]
            kind = "command"
            name = "perlayer"
            command = \(pythonEvaluator("print(sum(p.values()))"))
            score = "stdout"
            space = "per_layer"
            layer_group = 2
            bounds = { vl_weight = [0.5, 1.5] }
            [objectives.merge]
            base = "\(testbedModels)/base"
            vlm = "\(testbedModels)/vlm"
            expert = "\(testbedModels)/expert-language"
            references = []
            """
        let s = try spec(text, in: dir)
        #expect(s.objectives[0].space == MergeSpaceSpec(kind: "per_layer", layers: 4).with { $0.layerGroup = 2 })
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        let (study, result) = try StudyEngine.launch(spec: s, ledgerPath: ledgerPath, options: LaunchOptions())
        #expect(result.runsCompleted == 1)
        let ledger = try Ledger(path: ledgerPath)
        let trials = try ledger.trials(study: study.id!)
        #expect(trials.count == 2)
        for t in trials {
            #expect(t.state == .complete, "\(t.error ?? "")")
            let p = parseParams(t.params)
            #expect(Set(p.keys) == ["vl_weight_0", "vl_weight_1", "exp_weight_0", "exp_weight_1"])
            #expect(p.filter { $0.key.hasPrefix("vl") }.allSatisfy { (0.5...1.5).contains($0.value) })
            #expect(abs(try #require(t.value) - p.values.reduce(0, +)) < 1e-9)
            // The checkpoint's mergekit config holds the per-layer values as gradient lists, and
            // reads back as the recipe `study export --mergekit` gives for the trial.
            let root = dir.appendingPathComponent("l.trials/cmd/checkpoints/perlayer")
            let ckpt = try #require(try FileManager.default.contentsOfDirectory(atPath: root.path).first { $0.hasSuffix("-t\(t.number)") })
            let yaml = try String(contentsOfFile: root.appendingPathComponent(ckpt).appendingPathComponent(MergekitConfig.fileName).path, encoding: .utf8)
            let vl0 = p["vl_weight_0"]!, vl1 = p["vl_weight_1"]!
            #expect(try MergekitConfig.parse(yaml: yaml).parameters["vl_weight"] == .list([vl0, vl0, vl1, vl1]), "\(yaml)")
            let exported = try TrialRecipe.recipe(s.objectives[0], trial: t)
            #expect(try MergekitConfig.parse(yaml: yaml).spec() == exported.spec())
            // And the checkpoint is that merge: scored like the in-memory testbed merge of the recipe (f16 rounding aside).
            let e = try TestbedEvaluator(directory: TestbedStudyTests.directory, scenario: .language)
            let onDisk = try e.evaluate(checkpoint: root.appendingPathComponent(ckpt).path).value
            let inMemory = try e.evaluate(spec: exported.spec()).value
            #expect(abs(onDisk - inMemory) < 1e-2, "\(onDisk) vs \(inMemory)")
        }
    }

    /// A subspace study on a command objective: each trial writes the gated merge of real
    /// checkpoints, the SVD factors are computed once into `svd_cache` (never beside the inputs),
    /// and each checkpoint is the testbed's in-memory merge of the trial's recipe.
    @Test func subspaceTrialsMergeRealCheckpointsThroughTheSVDCache() throws {
        let dir = try tempDirectory()
        let cache = dir.appendingPathComponent("svd").path
        let text = """
            name = "cmd-subspace"
            seeds = 1
            budget = 2
            [[optimizers]]
            kind = "random"
            [[objectives]]
            kind = "command"
            name = "sub"
            command = \(pythonEvaluator("print(sum(p.values()))"))
            score = "stdout"
            space = "subspace"
            bands = [2, 8]
            [objectives.merge]
            base = "\(testbedModels)/base"
            vlm = "\(testbedModels)/vlm"
            expert = "\(testbedModels)/expert-language"
            method = "subspace"
            dtype = "f32"
            svd_cache = "\(cache)"
            references = []
            """
        let s = try spec(text, in: dir)
        #expect(s.objectives[0].command?.merge?.svdCache == cache)
        let ledgerPath = dir.appendingPathComponent("l.sqlite").path
        let (study, result) = try StudyEngine.launch(spec: s, ledgerPath: ledgerPath, options: LaunchOptions())
        #expect(result.runsCompleted == 1)
        let trials = try Ledger(path: ledgerPath).trials(study: study.id!)
        #expect(trials.count == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".safetensors") }.count == 1)
        let e = try TestbedEvaluator(directory: TestbedStudyTests.directory, scenario: .language)
        for t in trials {
            #expect(t.state == .complete, "\(t.error ?? "")")
            #expect(Set(parseParams(t.params).keys) == ["gate_0", "gate_1", "gate_res", "exp_weight"])
            let root = dir.appendingPathComponent("l.trials/cmd-subspace/checkpoints/sub")
            let ckpt = try #require(try FileManager.default.contentsOfDirectory(atPath: root.path).first { $0.hasSuffix("-t\(t.number)") })
            #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent(ckpt).appendingPathComponent(MergekitConfig.fileName).path))
            let exported = try TrialRecipe.recipe(s.objectives[0], trial: t)
            let onDisk = try e.evaluate(checkpoint: root.appendingPathComponent(ckpt).path)
            let inMemory = try e.evaluate(spec: exported.spec())
            // f32 checkpoint: the same weights as the in-memory merge, so the same scores.
            #expect(onDisk.value == inMemory.value && onDisk.perception == inMemory.perception, "\(onDisk.value) vs \(inMemory.value)")
        }
        for m in ["base", "vlm", "expert-language"] {
            #expect(!(try FileManager.default.contentsOfDirectory(atPath: "\(testbedModels)/\(m)")).contains { $0.hasPrefix("svd") })
        }
    }

    @Test func aSpaceNeedsAMergeTable() throws {
        let text = commandSpec(command: "[\"/bin/echo\", \"1\"]", extra: "space = \"per_layer\"")
        let e = try #require(try specError(text))
        #expect(e.key == "objectives[0].space" && e.message.contains("merge table"), "\(e)")
    }
}

extension MergeSpaceSpec {
    func with(_ f: (inout MergeSpaceSpec) -> Void) -> MergeSpaceSpec { var c = self; f(&c); return c }
}
