import ArgumentParser
import Foundation
import StudyEngine
import Fusion
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
        abstract: "Merge the expert into the VLM's language model and write a loadable checkpoint.")

    @OptionGroup var triple: TripleOptions
    @Option(help: "linear, task_arithmetic, ties, dare_linear, dare_ties, frank, metagpt, nan, layer_range.")
    var method: MergeMethod
    // Decimal numbers only (no hex floats, nan or inf), as in every file mergetune reads.
    @Option(name: .customLong("vl-weight"), help: "λ_V, weight of the VLM's task vector.") var vlWeightArgument = DecimalArgument(1)
    @Option(name: .customLong("exp-weight"), help: "λ_R, weight of the expert's task vector (layer_range: α).") var expWeightArgument = DecimalArgument(1)
    @Option(name: .customLong("density"), help: "Fraction kept by TIES/DARE, in (0, 1].") var densityArgument = DecimalArgument(1)
    var vlWeight: Double { vlWeightArgument.value }
    var expWeight: Double { expWeightArgument.value }
    var density: Double { densityArgument.value }
    @Option(help: "Seed of DARE's random mask.") var seed: UInt64 = 0
    @Flag(inversion: .prefixedNo, help: "Divide by the sum of weights (default: mergekit's default for the method).")
    var normalize: Bool?
    @Option(help: "Rescale of kept entries: none, l1 (keep the L1 norm; DARE default) or inverse_density (DARE paper).")
    var rescale: TaskArithmeticConfig.Rescale?
    @Option(help: "layer_range: decoder layers A-B (0-based, inclusive).") var layers: String?
    @OptionGroup var closed: ClosedFormOptions
    @Option(help: "Output dtype (bf16, f16, f32, f64); default: the VLM's.") var dtype: String?
    @Option(help: "Maximum shard size, e.g. 5GB, 500MB.") var maxShardSize: String = "5GB"
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Flag(help: "Replace an existing output: only an empty folder or a checkpoint (weights, index, config and tokenizer files), never an input, a folder holding one, or the current directory. Other files in it are listed and the merge refused.")
    var force = false
    @Flag(help: "Validate the inputs and print the plan; write nothing.") var dryRun = false
    @Option(name: [.short, .customLong("output")], help: "Output checkpoint directory.") var output: String?

    func validate() throws {
        if !dryRun && output == nil { throw ValidationError("missing -o/--output (or use --dry-run)") }
        if !(density > 0 && density <= 1) { throw ValidationError("--density must be in (0, 1]") }
        if method == .layerRange && layers == nil { throw ValidationError("layer_range needs --layers A-B") }
        if layers != nil && method != .layerRange { throw ValidationError("--layers applies to layer_range only") }
        if (closed.attention != nil || closed.decay != nil) && method != .frank {
            throw ValidationError("--attention/--decay apply to frank only")
        }
        if let dtype, DType(userName: dtype).map({ $0.isFloatingPoint }) != true {
            throw ValidationError("--dtype must be one of bf16, f16, f32, f64")
        }
        if parseByteSize(maxShardSize) == nil { throw ValidationError("--max-shard-size: cannot parse '\(maxShardSize)'") }
        if let layers, parseRange(layers) == nil { throw ValidationError("--layers must look like A-B with 0 ≤ A ≤ B") }
        if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
        if method == .layerRange && normalize == true {
            throw ValidationError("layer_range does not take --normalize: its formula θ_V + α·τ_R has no division by the weights")
        }
    }

    func parseRange(_ s: String) -> ClosedRange<Int>? {
        let p = s.split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 2, let a = Int(p[0]), let b = Int(p[1]), a >= 0, a <= b else { return nil }
        return a...b
    }

    func run() throws {
        let spec = MergeSpec(method: method, vlWeight: vlWeight, expWeight: expWeight, density: density, seed: seed,
                             normalize: normalize, rescale: rescale, layerRange: layers.flatMap(parseRange),
                             prior: try closed.prior(), schedule: closed.schedule, granularity: closed.granularity)
        try spec.validate()
        var options = MergeOptions(outputDType: dtype.flatMap { DType(userName: $0) },
                                   passThroughUnpaired: triple.passThroughUnpaired, overwrite: force)
        if let threads { options.threads = threads }
        options.maxShardBytes = parseByteSize(maxShardSize)!
        let (base, vlm, expert) = try triple.open()
        let pairing = try TensorPairing(base: base, vlm: vlm, expert: expert,
                                        passThroughUnpaired: options.passThroughUnpaired, outputDType: options.outputDType)
        let c = spec.config
        print("method      \(method.rawValue)  (sparsification \(c.sparsification.rawValue), sign consensus \(c.signConsensus), normalize \(c.normalize), rescale \(c.rescale.rawValue))")
        switch method {
        case .frank, .metagpt, .nan:
            print("weights     closed form, granularity \(spec.effectiveGranularity.rawValue)")
        case .layerRange:
            print("weights     θ_V + \(fmt(expWeight))·τ_R on layers \(layers!)")
        default:
            print("weights     vl \(fmt(vlWeight))  exp \(fmt(expWeight))" + (c.sparsification != .none ? "  density \(fmt(density))  seed \(seed)" : ""))
        }
        print("inputs      base \(base.path) (\(base.tensorCount) tensors), vlm \(vlm.path) (\(vlm.tensorCount)), expert \(expert.path) (\(expert.tensorCount))")
        let outBytes = pairing.tensors.reduce(0) { $0 + $1.output.byteCount }
        print("plan        \(pairing.mergedCount) merged, \(pairing.copiedCount) copied, \(pairing.layerCount) decoder layers, output \(humanBytes(outBytes))")
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
        if method.isClosedForm || method == .layerRange {
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
            var s = "{\"method\":\"\(method.rawValue)\",\"granularity\":\"\(spec.effectiveGranularity.rawValue)\""
            if let d = c.decay { s += ",\"decay\":\(fmt(d, 9))" }
            s += ",\"layers\":[" + rows.dropLast().map { r in
                "{\"layer\":\(r.group),\"lambda_v\":\(fmt(r.vl, 9)),\"lambda_r\":\(fmt(r.exp, 9))" + (r.prior.map { ",\"prior_w_v\":\(fmt($0, 9))" } ?? "") + "}"
            }.joined(separator: ",") + "]"
            s += ",\"other\":{\"lambda_v\":\(fmt(c.other.vl, 9)),\"lambda_r\":\(fmt(c.other.exp, 9))}}"
            print(s)
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
            print("[" + rows.map { g, s in
                "{\"layer\":\"\(g)\",\"norm_tau_v\":\(fmt(s.normV, 9)),\"norm_tau_r\":\(fmt(s.normR, 9)),\"cos\":\(fmt(s.cosine, 9))}"
            }.joined(separator: ",") + "]")
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
