import Foundation
import Fusion
import SafeTensors

/// The two merge scenarios of the testbed: which expert is merged into the VLM, the
/// cross-modal target task (needs both the VLM's perception and the expert's skill), and the
/// expert's own skill task (text only).
public enum Scenario: String, Sendable, CaseIterable, Codable {
    case language, reasoning

    public var expertName: String { "expert-\(rawValue)" }
    public var targetTask: String { self == .language ? "see_w" : "see_sum" }
    public var skillTask: String { self == .language ? "copy_w" : "sum3" }
    /// The VLM's perception task, recorded on every evaluation.
    public static let perceptionTask = "see"
}

/// The shipped family: `models/{base,vlm,expert-language,expert-reasoning}` under the testbed
/// directory, read once (float16 → Float) and kept in memory. Immutable after init, so one
/// instance can be shared by many evaluators.
public final class TestbedFamily: Sendable {
    public let directory: URL
    public let vlmConfig: TextConfig
    public let imageToken: Int
    /// Float weights by canonical decoder name.
    public let base: DecoderWeights
    public let vlm: DecoderWeights
    public let experts: [Scenario: DecoderWeights]
    let vision: VisionWeights
    /// Fusion's pairing of (base, VLM, expert) for each scenario: which tensors merge and how many
    /// of their elements are shared (the VLM's extra `<img>` rows are not).
    public let pairings: [Scenario: TensorPairing]
    public let baseConfig: TextConfig
    /// subspace merges: the SVD factors per (scenario, rank), computed once per process (the
    /// family's matrices are small; checkpoint merges use the on-disk `SubspaceCache`).
    private let factorStore = FactorStore()

    public static let modelNames = ["base", "vlm", "expert-language", "expert-reasoning"]

    /// Finds the repository's `Testbed/` directory: `explicit` if given, else `$MERGETUNE_TESTBED`,
    /// else `Testbed/` in the current directory or one of its parents, else next to the executable
    /// or one of its parents (so `.build/release/mergetune` finds the checkout it was built in).
    public static func locate(_ explicit: String? = nil) throws -> URL {
        func valid(_ url: URL) -> Bool {
            FileManager.default.fileExists(atPath: url.appendingPathComponent("models/vlm/model.safetensors").path)
        }
        if let explicit {
            let url = URL(fileURLWithPath: explicit).standardizedFileURL
            guard valid(url) else { throw TestbedError("\(url.path): not a testbed directory (no models/vlm/model.safetensors)") }
            return url
        }
        if let env = ProcessInfo.processInfo.environment["MERGETUNE_TESTBED"], !env.isEmpty {
            return try locate(env)
        }
        var roots = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        roots.append(URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent())
        roots.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent())  // the source checkout (tests)
        for root in roots {
            var dir = root.standardizedFileURL
            for _ in 0..<8 {
                let candidate = dir.appendingPathComponent("Testbed")
                if valid(candidate) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        throw TestbedError("cannot find the Testbed/ directory (with models/ inside) from \(roots[0].path) or the executable's location; pass --testbed DIR or set MERGETUNE_TESTBED")
    }

    public init(directory: URL) throws {
        self.directory = directory
        func path(_ model: String) -> String { directory.appendingPathComponent("models/\(model)").path }
        func config(_ model: String) throws -> [String: Any] {
            let file = path(model) + "/config.json"
            guard let data = FileManager.default.contents(atPath: file),
                  let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TestbedError("\(file): cannot read config")
            }
            return obj
        }
        let vlmJSON = try config("vlm")
        vlmConfig = try TextConfig(json: vlmJSON, file: path("vlm") + "/config.json")
        baseConfig = try TextConfig(json: try config("base"), file: path("base") + "/config.json")
        guard let img = vlmJSON["image_token_index"] as? NSNumber else {
            throw TestbedError("\(path("vlm"))/config.json: missing image_token_index")
        }
        imageToken = img.intValue

        let baseCk = try Checkpoint(path: path("base"))
        let vlmCk = try Checkpoint(path: path("vlm"))
        func decoder(_ ck: Checkpoint) throws -> DecoderWeights {
            var out: DecoderWeights = [:]
            for name in ck.names {
                guard case let .language(c)? = NameLayout.canonical(name) else { continue }
                out[c] = try ck.tensor(name).floats()
            }
            return out
        }
        base = try decoder(baseCk)
        vlm = try decoder(vlmCk)
        var experts: [Scenario: DecoderWeights] = [:]
        var pairings: [Scenario: TensorPairing] = [:]
        for s in Scenario.allCases {
            let ck = try Checkpoint(path: path(s.expertName))
            experts[s] = try decoder(ck)
            pairings[s] = try TensorPairing(base: baseCk, vlm: vlmCk, expert: ck)
        }
        self.experts = experts
        self.pairings = pairings

        vision = try VisionWeights(checkpoint: vlmCk)
    }

    /// One of the four parents as a model (the VLM with its vision tower).
    public func parent(_ name: String) throws -> DecoderModel {
        switch name {
        case "vlm": return try vlmModel(decoder: vlm)
        case "base": return try DecoderModel(config: baseConfig, weights: base)
        default:
            guard let s = Scenario.allCases.first(where: { $0.expertName == name }) else {
                throw TestbedError("unknown model '\(name)' (models: \(Self.modelNames.joined(separator: ", ")))")
            }
            return try DecoderModel(config: baseConfig, weights: experts[s]!)
        }
    }

    /// The VLM with a given language model (the vision tower and projector are the VLM's, or
    /// `vision`'s: those of a checkpoint read from disk).
    public func vlmModel(decoder: DecoderWeights, vision: VisionWeights? = nil) throws -> DecoderModel {
        try DecoderModel(config: vlmConfig, weights: decoder, vision: vision ?? self.vision, imageToken: imageToken)
    }

    /// A merged VLM written to disk (`mergetune merge` of the family's files): its language model
    /// and its vision tower, checked against the VLM's tensor names and sizes.
    public func vlmModel(checkpoint path: String) throws -> DecoderModel {
        let ck: Checkpoint
        do { ck = try Checkpoint(path: path) } catch { throw TestbedError("\(path): \(error)") }
        var decoder: DecoderWeights = [:]
        for name in ck.names {
            guard case let .language(c)? = NameLayout.canonical(name) else { continue }
            do { decoder[c] = try ck.tensor(name).floats() } catch { throw TestbedError("\(path): \(error)") }
        }
        for (name, weights) in vlm.sorted(by: { $0.key < $1.key }) {
            guard let got = decoder[name] else { throw TestbedError("\(path): tensor '\(name)' of the VLM's language model is missing") }
            guard got.count == weights.count else {
                throw TestbedError("\(path): tensor '\(name)' has \(got.count) elements, the VLM's has \(weights.count)")
            }
        }
        if let extra = decoder.keys.sorted().first(where: { vlm[$0] == nil }) {
            throw TestbedError("\(path): tensor '\(extra)' is not in the VLM's language model")
        }
        return try vlmModel(decoder: decoder, vision: try VisionWeights(checkpoint: ck))
    }

    /// The merged VLM's language model, in memory: each paired tensor through Fusion's
    /// `mergeTensor` with the coefficients of its layer (or tensor); elements beyond the shared
    /// vocabulary rows keep the VLM's values, as in the checkpoint merge pipeline.
    public func mergedDecoder(scenario: Scenario, spec: MergeSpec, coefficients: Coefficients) throws -> DecoderWeights {
        if spec.method == .subspace { return try subspaceDecoder(scenario: scenario, spec: spec) }
        let pairing = pairings[scenario]!
        let expert = experts[scenario]!
        let config = spec.config
        var out: DecoderWeights = [:]
        for t in pairing.tensors {
            guard let c = t.canonical else { continue }
            guard case let .merge(_, _, _, shared) = t.action else { out[c] = vlm[c]; continue }
            guard let b = base[c], let v = vlm[c], let e = expert[c] else { throw TestbedError("tensor '\(c)' missing from the cached weights") }
            let p = coefficients.lookup(canonical: c, layer: t.layer)
            if shared == v.count {
                out[c] = mergeTensor(base: b, vlm: v, expert: e, config: config, vlWeight: p.vl, expWeight: p.exp,
                                     density: spec.density, seed: spec.seed, tensor: c)
            } else {
                var m = mergeTensor(base: Array(b[0..<shared]), vlm: Array(v[0..<shared]), expert: Array(e[0..<shared]),
                                    config: config, vlWeight: p.vl, expWeight: p.exp, density: spec.density, seed: spec.seed, tensor: c)
                m.append(contentsOf: v[shared...])
                out[c] = m
            }
        }
        return out
    }

    /// The expert's truncated SVD factors of a scenario at a rank (computed on first use).
    public func subspaceFactors(_ scenario: Scenario, rank: Int) throws -> SubspaceFactors {
        try factorStore.get(scenario, rank) {
            let expert = experts[scenario]!
            return try SubspaceFactors.compute(pairings[scenario]!, rank: rank, base: { c in
                guard let w = base[c] else { throw TestbedError("tensor '\(c)' missing from the base") }
                return w
            }, expert: { c in
                guard let w = expert[c] else { throw TestbedError("tensor '\(c)' missing from the expert") }
                return w
            })
        }
    }

    /// subspace: each paired tensor through `subspaceMergeTensor` with its factors.
    func subspaceDecoder(scenario: Scenario, spec: MergeSpec) throws -> DecoderWeights {
        guard let config = spec.subspace else { throw TestbedError("subspace needs its bands and gates") }
        let pairing = pairings[scenario]!
        try config.validate(layers: pairing.layerCount)
        let factors = try subspaceFactors(scenario, rank: config.rank)
        let expert = experts[scenario]!
        var out: DecoderWeights = [:]
        for t in pairing.tensors {
            guard let c = t.canonical else { continue }
            guard case let .merge(_, _, _, shared) = t.action else { out[c] = vlm[c]; continue }
            guard let b = base[c], let v = vlm[c], let e = expert[c] else { throw TestbedError("tensor '\(c)' missing from the cached weights") }
            out[c] = subspaceMergeTensor(base: Array(b[0..<shared]), vlm: v, expert: Array(e[0..<shared]), factor: factors.factors[c],
                                         config: config, layer: t.layer, lambda: spec.expWeight)
        }
        return out
    }

    /// Task-vector statistics for the closed forms (one pass over the checkpoints).
    public func stats(_ scenario: Scenario) throws -> TaskVectorStats {
        try computeTaskVectorStats(pairings[scenario]!, threads: 1)
    }
}

/// Factors computed once per (scenario, rank), shared by the evaluators of all threads.
final class FactorStore: @unchecked Sendable {
    private let lock = NSLock()
    private var factors: [String: SubspaceFactors] = [:]
    func get(_ s: Scenario, _ rank: Int, _ make: () throws -> SubspaceFactors) throws -> SubspaceFactors {
        lock.lock(); defer { lock.unlock() }
        let key = "\(s.rawValue)/\(rank)"
        if let f = factors[key] { return f }
        let f = try make()
        factors[key] = f
        return f
    }
}
