import ArgumentParser
import Foundation
import StudyEngine
import Fusion
import Ledger
import Mergekit
import SafeTensors

extension MergeTune {
    /// The fusion subcommands (owned by this file, so the root command needs no edits).
    static var fusionCommands: [ParsableCommand.Type] { [Merge.self, Weights.self, Diagnose.self, Inspect.self] }
}

extension MergeMethod: ExpressibleByArgument {}
extension Granularity: ExpressibleByArgument {}
extension FrankSchedule: ExpressibleByArgument {}
extension TaskArithmeticConfig.Rescale: ExpressibleByArgument {}

extension OutputFormat: ExpressibleByArgument {}

/// The three checkpoints every fusion command reads.
struct TripleOptions: ParsableArguments {
    @Option(help: "Base LLM the VLM and the expert were fine-tuned from (directory or .safetensors).")
    var base: String
    @Option(help: "The VLM (its language model is merged; vision tower and projector are copied).")
    var vlm: String
    @Option(help: "The expert LLM (e.g. a reasoning model).")
    var expert: String
    @Flag(help: "Copy VLM tensors that do not pair (and ignore base/expert-only ones) instead of failing.")
    var passThroughUnpaired = false

    func open() throws -> (Checkpoint, Checkpoint, Checkpoint) {
        (try Checkpoint(path: base), try Checkpoint(path: vlm), try Checkpoint(path: expert))
    }
}

/// Options of the closed forms (FRANK's prior, schedule, granularity).
struct ClosedFormOptions: ParsableArguments {
    @Option(help: "CSV with one visual-attention share per decoder layer (FRANK prior; decay fitted as in App. A.9).")
    var attention: String?
    @Option(name: .customLong("decay"), help: "FRANK prior decay α̂ given directly.")
    var decayArgument: DecimalArgument?
    var decay: Double? { decayArgument?.value }
    @Option(help: "FRANK prior schedule: paper (eq. 16) or max (e^(−α̂l)).")
    var schedule: FrankSchedule = .paper
    @Option(help: "Coefficient granularity: layer, tensor or model (default: frank layer, metagpt/nan model).")
    var granularity: Granularity?

    func validate() throws {
        if attention != nil && decay != nil { throw ValidationError("--attention and --decay are exclusive") }
    }

    func prior() throws -> FrankPrior {
        if let attention { return .attention(try readAttentionShares(path: attention)) }
        if let decay { return .decay(decay) }
        return .none
    }
}

func fmt(_ x: Double, _ digits: Int = 6) -> String { String(format: "%.\(digits)g", x) }

func humanBytes(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(format: "%.2f GB", d / 1e9) }
    if d >= 1e6 { return String(format: "%.1f MB", d / 1e6) }
    if d >= 1e3 { return String(format: "%.1f kB", d / 1e3) }
    return "\(n) B"
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge the expert into the VLM's language model and write a loadable checkpoint.",
        discussion: """
            The options (or a mergekit config, --config) make a recipe (docs/fusion.md "Recipes and mergekit YAML"); \
            the output records it (metadata mergetune.recipe, and mergekit_config.yml where mergekit can express it).
            """)

    // The three checkpoints: required with options; with --config they come from the file, and
    // a path given here assigns that model's role (or supplies a base the file lacks).
    @Option(help: "Base LLM the VLM and the expert were fine-tuned from (directory or .safetensors).") var base: String?
    @Option(help: "The VLM (its language model is merged; vision tower and projector are copied).") var vlm: String?
    @Option(help: "The expert LLM (e.g. a reasoning model).") var expert: String?
    @Flag(help: "Copy VLM tensors that do not pair (and ignore base/expert-only ones) instead of failing.")
    var passThroughUnpaired = false
    @Option(help: "A mergekit YAML config (linear, task_arithmetic, ties, dare_linear, dare_ties) instead of --method and its parameters.")
    var config: String?
    @Option(help: "linear, task_arithmetic, ties, dare_linear, dare_ties, frank, metagpt, nan, layer_range, subspace.")
    var method: MergeMethod?
    // Decimal numbers only (no hex floats, nan or inf), as in every file mergetune reads.
    @Option(name: .customLong("vl-weight"), help: "λ_V, weight of the VLM's task vector (default 1).") var vlWeightArgument: DecimalArgument?
    @Option(name: .customLong("exp-weight"), help: "λ_R, weight of the expert's task vector (layer_range: α; default 1).") var expWeightArgument: DecimalArgument?
    @Option(name: .customLong("density"), help: "Fraction kept by TIES/DARE, in (0, 1] (default 1).") var densityArgument: DecimalArgument?
    @Option(help: "Seed of DARE's random mask (default 0).") var seed: UInt64?
    @Flag(inversion: .prefixedNo, help: "Divide by the sum of weights (default: mergekit's default for the method).")
    var normalize: Bool?
    @Option(help: "Rescale of kept entries: none, l1 (keep the L1 norm; DARE default) or inverse_density (DARE paper).")
    var rescale: TaskArithmeticConfig.Rescale?
    @Option(help: "layer_range: decoder layers A-B (0-based, inclusive).") var layers: String?
    @Option(help: "subspace: ascending rank boundaries of the SVD bands, e.g. 4,16,64 (the last is the truncation rank).") var bands: String?
    @Option(help: "subspace: gates in [0, 1], one per band then the residual's, per gate group, e.g. 1,0.5,0,0.") var gates: String?
    @Option(name: .customLong("layer-group"), help: "subspace: consecutive decoder layers sharing one gate vector (default: all).") var layerGroup: Int?
    @Option(name: .customLong("svd-cache"), help: "subspace: the SVD-factor cache directory (default $MERGETUNE_CACHE/svd, else ~/.cache/mergetune/svd).") var svdCache: String?
    @OptionGroup var closed: ClosedFormOptions
    @Option(help: "Output dtype (bf16, f16, f32, f64); default: the VLM's (or the config's out_dtype).") var dtype: String?
    @Option(help: "Maximum shard size, e.g. 5GB, 500MB.") var maxShardSize: String = "5GB"
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Flag(help: "Replace an existing output: only an empty folder or a checkpoint (weights, index, config and tokenizer files), never an input, a folder holding one, or the current directory. Other files in it are listed and the merge refused.")
    var force = false
    @Flag(help: "Validate the inputs and print the plan; write nothing.") var dryRun = false
    @Option(name: [.short, .customLong("output")], help: "Output checkpoint directory.") var output: String?

    /// The recipe parameters the options give (only those given: the rest are the method's defaults).
    func optionParameters(_ method: MergeMethod) -> [String: RecipeValue] {
        var p: [String: RecipeValue] = [:]
        // layer_range's α is --exp-weight, as before the recipe existed.
        if let v = vlWeightArgument { p[RecipeKey.vlWeight] = .number(v.value) }
        if let v = expWeightArgument { p[method == .layerRange ? RecipeKey.alpha : RecipeKey.expWeight] = .number(v.value) }
        if let v = densityArgument { p[RecipeKey.density] = .number(v.value) }
        if let seed { p[RecipeKey.seed] = .number(Double(seed)) }
        if let normalize { p[RecipeKey.normalize] = .bool(normalize) }
        if let rescale { p[RecipeKey.rescale] = .string(rescale.rawValue) }
        if let bands { p[RecipeKey.bands] = .list(Merge.numbers(bands)) }
        if let gates { p[RecipeKey.gates] = .list(Merge.numbers(gates)) }
        if let layerGroup { p[RecipeKey.layerGroup] = .number(Double(layerGroup)) }
        if let layers, let r = parseRange(layers) {
            p[RecipeKey.layerStart] = .number(Double(r.lowerBound))
            p[RecipeKey.layerEnd] = .number(Double(r.upperBound))
        }
        if let a = closed.attention { p[RecipeKey.attention] = .string(a) }
        if let d = closed.decay { p[RecipeKey.decay] = .number(d) }
        if method == .frank { p[RecipeKey.schedule] = .string(closed.schedule.rawValue) }
        if let g = closed.granularity { p[RecipeKey.granularity] = .string(g.rawValue) }
        return p
    }

    static func absolute(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }

    /// "4,16,64" → [4, 16, 64]; an entry that is not a number becomes NaN, which the recipe refuses.
    static func numbers(_ s: String) -> [Double] {
        s.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) ?? .nan }
    }

    func validate() throws {
        if !dryRun && output == nil { throw ValidationError("missing -o/--output (or use --dry-run)") }
        if let dtype, DType(userName: dtype).map({ $0.isFloatingPoint }) != true {
            throw ValidationError("--dtype must be one of bf16, f16, f32, f64")
        }
        if parseByteSize(maxShardSize) == nil { throw ValidationError("--max-shard-size: cannot parse '\(maxShardSize)'") }
        if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
        if config != nil {
            let given = [("--method", method != nil), ("--vl-weight", vlWeightArgument != nil), ("--exp-weight", expWeightArgument != nil),
                         ("--density", densityArgument != nil), ("--seed", seed != nil), ("--normalize/--no-normalize", normalize != nil),
                         ("--rescale", rescale != nil), ("--layers", layers != nil), ("--attention", closed.attention != nil),
                         ("--decay", closed.decay != nil), ("--granularity", closed.granularity != nil), ("--bands", bands != nil),
                         ("--gates", gates != nil), ("--layer-group", layerGroup != nil)].filter(\.1).map(\.0)
            if !given.isEmpty {
                throw ValidationError("--config gives the method and its parameters: drop \(given.joined(separator: ", ")) (or edit the config)")
            }
            return
        }
        guard let method else { throw ValidationError("missing --method (or --config FILE.yml)") }
        for (name, v) in [("--base", base), ("--vlm", vlm), ("--expert", expert)] where v == nil {
            throw ValidationError("missing \(name) (or give --config FILE.yml, which names the models)")
        }
        if method == .layerRange && layers == nil { throw ValidationError("layer_range needs --layers A-B") }
        if layers != nil && method != .layerRange { throw ValidationError("--layers applies to layer_range only") }
        if let layers, parseRange(layers) == nil { throw ValidationError("--layers must look like A-B with 0 ≤ A ≤ B") }
        if (closed.attention != nil || closed.decay != nil) && method != .frank {
            throw ValidationError("--attention/--decay apply to frank only")
        }
        // Everything the recipe checks except reading the attention file: a usage error (exit 2).
        do { try MergeRecipe(method: method, parameters: optionParameters(method)).check() } catch let e as RecipeError {
            throw ValidationError(Merge.optionMessage(e, method: method))
        }
    }

    /// A recipe error in terms of the command's options.
    static func optionMessage(_ e: RecipeError, method: MergeMethod) -> String {
        let options = [RecipeKey.vlWeight: "--vl-weight", RecipeKey.expWeight: "--exp-weight", RecipeKey.alpha: "--exp-weight",
                       RecipeKey.density: "--density", RecipeKey.seed: "--seed", RecipeKey.normalize: "--normalize",
                       RecipeKey.rescale: "--rescale", RecipeKey.layerStart: "--layers", RecipeKey.layerEnd: "--layers",
                       RecipeKey.attention: "--attention", RecipeKey.decay: "--decay", RecipeKey.granularity: "--granularity",
                       RecipeKey.schedule: "--schedule", RecipeKey.bands: "--bands", RecipeKey.gates: "--gates",
                       RecipeKey.layerGroup: "--layer-group"]
        guard let p = e.parameter, let o = options[p] else { return e.description }
        if e.kind == .unknown { return "\(o) does not apply to \(method.rawValue) (\(p) is not one of its parameters)" }
        return "\(o): \(e.message)"
    }

    func parseRange(_ s: String) -> ClosedRange<Int>? {
        let p = s.split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 2, let a = Int(p[0]), let b = Int(p[1]), a >= 0, a <= b else { return nil }
        return a...b
    }

    /// The recipe from --config or from the options, with absolute model paths.
    func makeRecipe() throws -> (MergeRecipe, outDType: DType?) {
        var cli: [ModelRole: String] = [:]
        if let base { cli[.base] = base }
        if let vlm { cli[.vlm] = vlm }
        if let expert { cli[.expert] = expert }
        var recipe: MergeRecipe
        var outDType: DType? = nil
        if let config {
            let text: String
            do { text = try String(contentsOfFile: config, encoding: .utf8) } catch {
                throw ValidationFailure(message: "\(config): cannot read the config: \(error.localizedDescription)")
            }
            let doc = try MergekitConfig.parseDocument(yaml: text, file: config, roles: cli)
            recipe = doc.recipe
            if let d = doc.outDType {
                guard let t = DType(userName: d), t.isFloatingPoint else {
                    throw ValidationFailure(message: "\(config): key 'out_dtype': '\(d)' is not a floating dtype mergetune writes (bfloat16, float16, float32, float64)")
                }
                outDType = t
            }
            if recipe.models[.base] == nil {
                throw ValidationFailure(message: "\(config): no base_model: mergetune pairs tensors through the base even for linear; give --base")
            }
        } else {
            recipe = MergeRecipe(method: method!, models: cli, parameters: optionParameters(method!))
        }
        recipe.models = recipe.models.mapValues(Merge.absolute)
        return (recipe, outDType)
    }

    func run() throws {
        let (recipe, configDType) = try makeRecipe()
        let method = recipe.method
        let spec: MergeSpec
        do { spec = try recipe.spec() } catch let e as RecipeError {
            throw ValidationFailure(message: (config.map { "\($0): " } ?? "") + (config == nil ? Merge.optionMessage(e, method: method) : e.description))
        }
        var options = MergeOptions(outputDType: dtype.flatMap { DType(userName: $0) } ?? configDType,
                                   passThroughUnpaired: passThroughUnpaired, overwrite: force)
        if let threads { options.threads = threads }
        options.maxShardBytes = parseByteSize(maxShardSize)!
        options.recipe = recipe
        options.writerVersion = Ledger.writerVersion
        options.subspaceCache = svdCache
        // mergekit's config where mergekit can express the merge (docs/fusion.md lists what it cannot).
        var mergekitNote: String
        do {
            options.extraFiles = [(MergekitConfig.fileName, try MergekitConfig.render(recipe))]
            mergekitNote = "\(MergekitConfig.fileName) (the merge as a mergekit config)"
        } catch { mergekitNote = "no \(MergekitConfig.fileName): \(error)" }
        let (base, vlm, expert) = (try Checkpoint(path: recipe.models[.base]!), try Checkpoint(path: recipe.models[.vlm]!),
                                   try Checkpoint(path: recipe.models[.expert]!))
        let pairing = try TensorPairing(base: base, vlm: vlm, expert: expert,
                                        passThroughUnpaired: options.passThroughUnpaired, outputDType: options.outputDType)
        let c = spec.config
        print("method      \(method.rawValue)  (sparsification \(c.sparsification.rawValue), sign consensus \(c.signConsensus), normalize \(c.normalize), rescale \(c.rescale.rawValue))")
        switch method {
        case .frank, .metagpt, .nan:
            print("weights     closed form, granularity \(spec.effectiveGranularity.rawValue)")
        case .layerRange:
            print("weights     θ_V + \(fmt(spec.expWeight))·τ_R on layers \(spec.layerRange!.lowerBound)-\(spec.layerRange!.upperBound)")
        case .subspace:
            let c = spec.subspace!
            print("weights     θ_V + \(fmt(spec.expWeight))·(gated SVD bands of τ_R): bands \(c.bands), gates [\(c.gates.map { fmt($0) }.joined(separator: ", "))]"
                  + (c.layerGroup.map { ", \($0) layers per gate group" } ?? ""))
        default:
            func w(_ g: [Double]?, _ x: Double) -> String { g.map { "gradient [" + $0.map { fmt($0) }.joined(separator: ", ") + "]" } ?? fmt(x) }
            print("weights     vl \(w(spec.vlWeightGradient, spec.vlWeight))  exp \(w(spec.expWeightGradient, spec.expWeight))"
                  + (c.sparsification != .none ? "  density \(fmt(spec.density))" + (c.sparsification == .random ? "  seed \(spec.seed)" : "") : ""))
        }
        print("inputs      base \(base.path) (\(base.tensorCount) tensors), vlm \(vlm.path) (\(vlm.tensorCount)), expert \(expert.path) (\(expert.tensorCount))")
        let outBytes = pairing.tensors.reduce(0) { $0 + $1.output.byteCount }
        print("plan        \(pairing.mergedCount) merged, \(pairing.copiedCount) copied, \(pairing.layerCount) decoder layers, output \(humanBytes(outBytes))")
        print("recipe      \(mergekitNote)")
        for p in pairing.passedThrough { print("passed through (unpaired): \(p)") }
        for p in pairing.ignored { print("ignored (no VLM counterpart): \(p)") }
        if dryRun {
            print("files       \(vlmSideFiles(vlm).joined(separator: ", "))")
            print("dry run: inputs valid, nothing written")
            return
        }
        let result = try Fusion.merge(base: base, vlm: vlm, expert: expert, spec: spec, to: output!, options: options) { msg in
            FileHandle.standardError.write(Data("\(msg)\n".utf8))
        }
        if options.extraFiles.isEmpty && (method.isClosedForm || method == .layerRange) {
            // The coefficients are known now: write them as a config when mergekit reproduces them exactly.
            do {
                let yaml = try MergekitConfig.render(recipe, resolved: result.coefficients)
                try yaml.write(toFile: (result.output as NSString).appendingPathComponent(MergekitConfig.fileName), atomically: true, encoding: .utf8)
                print("recipe      \(MergekitConfig.fileName) written with the resolved coefficients (task_arithmetic with per-layer weights)")
            } catch { print("recipe      no \(MergekitConfig.fileName) with the resolved coefficients either: \(error)") }
        }
        if method.isClosedForm || method == .layerRange || spec.vlWeightGradient != nil || spec.expWeightGradient != nil {
            print("coefficients per layer (λ_V, λ_R):")
            for (l, p) in result.coefficients.layers.enumerated() { print("  layer \(l): \(fmt(p.vl, 5)) \(fmt(p.exp, 5))") }
            print("  other:   \(fmt(result.coefficients.other.vl, 5)) \(fmt(result.coefficients.other.exp, 5))")
        }
        print("wrote       \(result.output) (\(humanBytes(result.bytesWritten)), \(result.mergedTensors) merged, \(result.copiedTensors) copied, files: \(result.copiedFiles.joined(separator: ", ")))")
        print(String(format: "time        %.2f s (statistics %.2f s)", result.seconds, result.statsSeconds))
    }
}

struct Weights: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the per-layer closed-form coefficients (FRANK, MetaGPT, NaN).")

    @OptionGroup var triple: TripleOptions
    @Option(help: "frank, metagpt or nan.") var method: MergeMethod
    @OptionGroup var closed: ClosedFormOptions
    @Option(help: "table, csv or json.") var format: OutputFormat = .table

    func validate() throws {
        if !method.isClosedForm { throw ValidationError("weights supports frank, metagpt and nan") }
        if (closed.attention != nil || closed.decay != nil) && method != .frank {
            throw ValidationError("--attention/--decay apply to frank only")
        }
    }

    func run() throws {
        let spec = MergeSpec(method: method, prior: try closed.prior(), schedule: closed.schedule, granularity: closed.granularity)
        try spec.validate()
        let (base, vlm, expert) = try triple.open()
        let pairing = try TensorPairing(base: base, vlm: vlm, expert: expert, passThroughUnpaired: triple.passThroughUnpaired)
        let stats = try computeTaskVectorStats(pairing)
        let c = try ClosedForm.coefficients(for: spec, layerCount: pairing.layerCount, stats: stats) { msg in
            FileHandle.standardError.write(Data("warning: \(msg)\n".utf8))
        }
        var rows: [(group: String, vl: Double, exp: Double, prior: Double?)] = []
        for (l, p) in c.layers.enumerated() { rows.append(("\(l)", p.vl, p.exp, c.priorV?[l])) }
        rows.append(("other", c.other.vl, c.other.exp, nil))
        switch format {
        case .csv:
            print("layer,lambda_v,lambda_r" + (c.priorV != nil ? ",prior_w_v" : ""))
            for r in rows { print("\(r.group),\(fmt(r.vl, 9)),\(fmt(r.exp, 9))" + (c.priorV != nil ? "," + (r.prior.map { fmt($0, 9) } ?? "") : "")) }
        case .json:
            let layers = c.layers.enumerated().map { l, p in
                WeightsJSON.Layer(layer: l, lambda_v: p.vl, lambda_r: p.exp, prior_w_v: c.priorV?[l])
            }
            print(try outputJSON(WeightsJSON(method: method.rawValue, granularity: spec.effectiveGranularity.rawValue, decay: c.decay,
                                             layers: layers, other: .init(lambda_v: c.other.vl, lambda_r: c.other.exp)), pretty: false))
        case .table:
            print("\(method.rawValue) coefficients, granularity \(spec.effectiveGranularity.rawValue)" + (c.decay.map { ", decay α̂ = \(fmt($0))" } ?? ""))
            print("layer       λ_V         λ_R" + (c.priorV != nil ? "         prior w_V" : ""))
            for r in rows {
                let g = r.group.padding(toLength: 8, withPad: " ", startingAt: 0)
                print("\(g)  \(String(format: "%10.6f", r.vl))  \(String(format: "%10.6f", r.exp))" + (r.prior.map { String(format: "  %10.6f", $0) } ?? ""))
            }
            if spec.effectiveGranularity == .tensor { print("(tensor granularity: per-tensor values are in the merge provenance; the table shows the layer values)") }
        }
    }
}

/// `weights --format json`: the coefficients per layer, then the non-layer tensors' pair.
struct WeightsJSON: Encodable {
    struct Layer: Encodable { var layer: Int; var lambda_v, lambda_r: Double; var prior_w_v: Double? }
    struct Pair: Encodable { var lambda_v, lambda_r: Double }
    var method, granularity: String
    var decay: Double?
    var layers: [Layer]
    var other: Pair
}

/// One row of `diagnose --format json` (layer: its number, "other" or "total").
struct DiagnoseJSONRow: Encodable { var layer: String; var norm_tau_v, norm_tau_r, cos: Double }

struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-layer ‖τ_V‖, ‖τ_R‖ and cos(τ_V, τ_R) (FRANK Fig. 3).")

    @OptionGroup var triple: TripleOptions
    @Option(help: "table, csv or json.") var format: OutputFormat = .table

    func run() throws {
        let (base, vlm, expert) = try triple.open()
        let pairing = try TensorPairing(base: base, vlm: vlm, expert: expert, passThroughUnpaired: triple.passThroughUnpaired)
        let stats = try computeTaskVectorStats(pairing)
        var rows = stats.layers.enumerated().map { ("\($0.offset)", $0.element) }
        rows.append(("other", stats.other))
        rows.append(("total", stats.total))
        switch format {
        case .csv:
            print("layer,norm_tau_v,norm_tau_r,cos")
            for (g, s) in rows { print("\(g),\(fmt(s.normV, 9)),\(fmt(s.normR, 9)),\(fmt(s.cosine, 9))") }
        case .json:
            print(try outputJSON(rows.map { g, s in DiagnoseJSONRow(layer: g, norm_tau_v: s.normV, norm_tau_r: s.normR, cos: s.cosine) },
                                 pretty: false))
        case .table:
            print("layer         ‖τ_V‖         ‖τ_R‖   cos(τ_V,τ_R)")
            for (g, s) in rows {
                print("\(g.padding(toLength: 8, withPad: " ", startingAt: 0))  \(String(format: "%12.6g", s.normV))  \(String(format: "%12.6g", s.normR))  \(String(format: "%12.6f", s.cosine))")
            }
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a checkpoint (.safetensors file or directory) and print its tensor table.",
        discussion: "Reads every floating tensor and reports NaN/inf entries per tensor (exit 1 if any); --header-only skips that read. The temporary folder of an unfinished merge is refused (exit 1).")

    @Argument(help: "A .safetensors file or a checkpoint directory.") var checkpoint: String
    @Flag(help: "Print only the summary line.") var summary = false
    @Flag(help: "Validate headers and index only; do not read the tensor data for NaN/inf.") var headerOnly = false

    func run() throws {
        let ck = try Checkpoint(path: checkpoint)
        if !summary {
            print("name\tdtype\tshape\tparameters\tshard")
            for name in ck.names {
                let t = try ck.tensor(name)
                print("\(name)\t\(t.dtype.rawValue)\t[\(t.shape.map(String.init).joined(separator: ", "))]\t\(t.elementCount)\t\((t.file.path as NSString).lastPathComponent)")
            }
            for shard in ck.shards where !shard.metadata.isEmpty {
                for k in shard.metadata.keys.sorted() { print("metadata \((shard.path as NSString).lastPathComponent) \(k) = \(shard.metadata[k]!)") }
                break  // shards carry the same metadata; print the first
            }
        }
        let line = "\(ck.tensorCount) tensors, \(ck.parameterCount) parameters, \(ck.shards.count) shard(s), \(humanBytes(ck.totalBytes))"
        if headerOnly {
            print(line + ": headers valid (data not read)")
            return
        }
        var bad: [(String, Int, Int)] = []
        for name in ck.names {
            let c = try ck.tensor(name).nonFiniteCounts()
            if c.nan + c.inf > 0 { bad.append((name, c.nan, c.inf)) }
        }
        for (name, nan, inf) in bad { print("non-finite  \(name): \(nan) NaN, \(inf) inf") }
        if bad.isEmpty {
            print(line + ": valid, all values finite")
        } else {
            print(line + ": INVALID")
            throw ValidationFailure(message: "\(checkpoint): \(bad.count) tensor(s) hold non-finite values (NaN or inf), listed above")
        }
    }
}

/// A runtime failure (exit 1) whose message is printed as the error.
struct ValidationFailure: Error, CustomStringConvertible, LocalizedError {
    let message: String
    var description: String { message }
    var errorDescription: String? { message }
}
