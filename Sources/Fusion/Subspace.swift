import Foundation
import MergetuneNumerics
import SafeTensors

// The `subspace` merge (FRISM): per decoder linear-layer matrix, the truncated SVD of the
// expert's task vector τ_R ≈ U S Vᵀ split into rank bands, each with its own gate:
//   θ = θ_V + λ_R · (Σ_b g_b U_b S_b V_bᵀ + g_res · (τ_R − U S Vᵀ))
// The residual band (everything beyond the truncation rank) has its own gate, so all gates 1
// is task arithmetic at (λ_V, λ_R) = (1, λ_R) and all gates 0 is the VLM. Tensors that are not
// decoder linear-layer matrices (norms, embeddings, head) are all residual: θ_V + λ_R·g_res·τ_R.
// docs/fusion.md ("Subspace merges (FRISM)"); docs/architecture.md (the module table: Numerics, Fusion).

/// The bands and gates of a subspace merge.
public struct SubspaceConfig: Sendable, Codable, Equatable {
    /// Ascending rank boundaries k_1 < … < k_B: band b holds singular directions k_{b−1}+1 … k_b
    /// (k_0 = 0); k_B is the truncation rank.
    public var bands: [Int]
    /// Gates, group by group: B band gates then the residual's, per gate group.
    public var gates: [Double]
    /// Consecutive decoder layers sharing one gate vector (nil: one vector for all layers).
    public var layerGroup: Int?

    public init(bands: [Int], gates: [Double], layerGroup: Int? = nil) {
        self.bands = bands; self.gates = gates; self.layerGroup = layerGroup
    }

    public var rank: Int { bands.last ?? 0 }
    /// Gates per group: the bands and the residual.
    public var perGroup: Int { bands.count + 1 }
    public static func groups(layers: Int, layerGroup: Int?) -> Int {
        let g = layerGroup ?? max(1, layers)
        return max(1, (layers + g - 1) / g)
    }

    /// The gate vector of a decoder layer (nil: the tensors outside the decoder take group 0's).
    public func gates(layer: Int?) -> ArraySlice<Double> {
        let group = layer.map { $0 / (layerGroup ?? Int.max) } ?? 0
        return gates[(group * perGroup)..<((group + 1) * perGroup)]
    }

    public func validate(layers: Int) throws {
        func bad(_ m: String) -> PairingError { PairingError(message: "invalid subspace merge: \(m)") }
        guard !bands.isEmpty, bands[0] >= 1, zip(bands, bands.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw bad("bands must be ascending rank boundaries ≥ 1, got \(bands)")
        }
        if let g = layerGroup, g < 1 { throw bad("layer_group must be ≥ 1, got \(g)") }
        let n = Self.groups(layers: layers, layerGroup: layerGroup) * perGroup
        guard gates.count == n else {
            throw bad("\(gates.count) gates for \(Self.groups(layers: layers, layerGroup: layerGroup)) group(s) × (\(bands.count) bands + residual) = \(n)")
        }
        guard gates.allSatisfy(\.isFinite) else { throw bad("gates must be finite") }
    }
}

/// The truncated SVD of one matrix task vector τ (rows × cols, row-major), rounded to Float as
/// the cache stores it, so computed and cached factors merge bit-identically.
public struct SubspaceFactor: Sendable, Equatable {
    public let rows: Int, cols: Int
    /// rows × rank, row-major.
    public let u: [Float]
    public let s: [Float]
    /// cols × rank, row-major.
    public let v: [Float]
    /// ‖τ‖²_F (for the residual's share of the spectral magnitude).
    public let totalSq: Double
    public var rank: Int { s.count }

    public init(rows: Int, cols: Int, u: [Float], s: [Float], v: [Float], totalSq: Double) {
        self.rows = rows; self.cols = cols; self.u = u; self.s = s; self.v = v; self.totalSq = totalSq
    }

    /// Randomized truncated SVD (`TruncatedSVD`) of τ = expert − base.
    public init(tau: [Double], rows: Int, cols: Int, rank: Int) throws {
        let t = try TruncatedSVD(Matrix(rows: rows, cols: cols, storage: tau), rank: rank,
                                 oversampling: SubspaceSVD.oversampling, powerIterations: SubspaceSVD.powerIterations,
                                 seed: SubspaceSVD.seed)
        self.init(rows: rows, cols: cols, u: t.u.storage.map { Float($0) }, s: t.singularValues.map { Float($0) },
                  v: t.v.storage.map { Float($0) }, totalSq: tau.reduce(0) { $0 + $1 * $1 })
    }

    /// Σ_{j in band} s_j² per band (bands clipped to the factor's rank), then the residual
    /// ‖τ‖² − Σ_j s_j² (≥ 0).
    public func energies(bands: [Int]) -> [Double] {
        var out: [Double] = []
        var lo = 0
        for hi in bands {
            let h = min(hi, rank)
            out.append(lo < h ? (lo..<h).reduce(0) { $0 + Double(s[$1]) * Double(s[$1]) } : 0)
            lo = max(lo, h)
        }
        out.append(max(0, totalSq - out.reduce(0, +)))
        return out
    }

    /// Δ = g_res·τ + U diag(w) Vᵀ with w_j = (g_band(j) − g_res)·s_j: the gated task vector
    /// (band gates on the SVD directions, the residual gate on the rest), in Double.
    public func gatedDelta(tau: [Double], bands: [Int], gates: ArraySlice<Double>) -> [Double] {
        let gr = gates.last!
        let g = Array(gates)
        var w = [Double](repeating: 0, count: rank)
        var band = 0
        for j in 0..<rank {
            while band < bands.count && j >= bands[band] { band += 1 }
            w[j] = band < bands.count ? (g[band] - gr) * Double(s[j]) : 0
        }
        var delta = tau.map { gr * $0 }
        guard rank > 0, w.contains(where: { $0 != 0 }) else { return delta }
        var us = Matrix(rows: rows, cols: rank)
        for i in 0..<rows { for j in 0..<rank { us[i, j] = Double(u[i * rank + j]) * w[j] } }
        var vt = Matrix(rows: rank, cols: cols)
        for i in 0..<cols { for j in 0..<rank { vt[j, i] = Double(v[i * rank + j]) } }
        let low = us * vt
        for k in delta.indices { delta[k] += low.storage[k] }
        return delta
    }
}

/// The randomized SVD's settings (part of the cache's identity).
public enum SubspaceSVD {
    public static let oversampling = 10
    public static let powerIterations = 2
    public static let seed: UInt64 = 0
    /// Bumped when the factors' definition changes, so old cache files are recomputed.
    public static let version = 1

    /// Whether a planned tensor is decomposed: a 2-D decoder-layer weight whose elements are
    /// all shared (the linear layers' matrices; norms are 1-D, embeddings and head sit outside the layers).
    public static func isDecomposed(_ t: PlannedTensor) -> Bool {
        guard t.layer != nil, t.output.shape.count == 2, case let .merge(_, v, _, shared) = t.action else { return false }
        return shared == v.elementCount
    }
}

/// The factors of every decomposed tensor of a pairing, by canonical name.
public struct SubspaceFactors: Sendable {
    public let rank: Int
    public var factors: [String: SubspaceFactor]

    public init(rank: Int, factors: [String: SubspaceFactor]) { self.rank = rank; self.factors = factors }

    /// Computes the factors from in-memory base and expert weights (canonical name → Float values).
    public static func compute(_ pairing: TensorPairing, rank: Int, base: (String) throws -> [Float],
                               expert: (String) throws -> [Float]) throws -> SubspaceFactors {
        var out: [String: SubspaceFactor] = [:]
        for t in pairing.tensors where SubspaceSVD.isDecomposed(t) {
            let c = t.canonical!
            let b = try base(c), e = try expert(c)
            let tau = zip(e, b).map { Double($0) - Double($1) }
            out[c] = try SubspaceFactor(tau: tau, rows: t.output.shape[0], cols: t.output.shape[1], rank: rank)
        }
        return SubspaceFactors(rank: rank, factors: out)
    }

    /// The spectral magnitude injected, Σ‖Δ‖²_F / Σ‖τ‖²_F over the decomposed matrices, with
    /// ‖Δ‖² = Σ_b g_b²‖S_b‖² + g_res²‖τ − U S Vᵀ‖² (the bands are orthogonal): in [0, 1] for gates in [0, 1].
    public func spectral(_ config: SubspaceConfig, pairing: TensorPairing) -> Double {
        var injected = 0.0, total = 0.0
        for t in pairing.tensors where SubspaceSVD.isDecomposed(t) {
            guard let f = factors[t.canonical!] else { continue }
            let e = f.energies(bands: config.bands)
            let g = Array(config.gates(layer: t.layer))
            injected += zip(e, g).reduce(0) { $0 + $1.0 * $1.1 * $1.1 }
            total += f.totalSq
        }
        return total > 0 ? injected / total : 0
    }
}

/// One tensor of a subspace merge: θ_V + λ_R·Δ, Δ the gated task vector (`gatedDelta`) of a
/// decomposed matrix, else g_res·τ. Elements beyond `base.count` (extra vocabulary rows) keep the VLM's.
public func subspaceMergeTensor(base: [Float], vlm: [Float], expert: [Float], factor: SubspaceFactor?,
                                config: SubspaceConfig, layer: Int?, lambda: Double) -> [Float] {
    let n = base.count
    let tau = (0..<n).map { Double(expert[$0]) - Double(base[$0]) }
    let g = config.gates(layer: layer)
    let delta = factor.map { $0.gatedDelta(tau: tau, bands: config.bands, gates: g) } ?? tau.map { g.last! * $0 }
    var out = vlm
    for k in 0..<n { out[k] = Float(Double(vlm[k]) + lambda * delta[k]) }
    return out
}

/// The on-disk cache of subspace factors: one safetensors file per (base, expert, rank, SVD
/// settings), named by a hash of that identity and holding the identity in its metadata. A
/// missing, corrupt or mismatching file is recomputed (with a note) and replaced atomically.
/// The cache directory may not lie inside an input checkpoint's folder.
public struct SubspaceCache: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `$MERGETUNE_CACHE/svd`, else `~/.cache/mergetune/svd`.
    public static func defaultDirectory(_ env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let c = env["MERGETUNE_CACHE"], !c.isEmpty { return (c as NSString).appendingPathComponent("svd") }
        return (NSHomeDirectory() as NSString).appendingPathComponent(".cache/mergetune/svd")
    }

    /// The inputs' identity: every shard of base and expert by absolute path, size and
    /// modification time, the rank and the SVD settings.
    public static func identity(base: Checkpoint, expert: Checkpoint, rank: Int) -> String {
        func files(_ ck: Checkpoint) -> String {
            ck.shards.map { s -> String in
                let p = URL(fileURLWithPath: s.path).standardizedFileURL.path
                let a = try? FileManager.default.attributesOfItem(atPath: p)
                let size = (a?[.size] as? NSNumber)?.intValue ?? -1
                let mtime = (a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
                return "\(p)|\(size)|\(mtime)"
            }.joined(separator: ";")
        }
        return "v\(SubspaceSVD.version);rank=\(rank);p=\(SubspaceSVD.oversampling);q=\(SubspaceSVD.powerIterations);seed=\(SubspaceSVD.seed);base=\(files(base));expert=\(files(expert))"
    }

    /// FNV-1a 64 of the identity, in hex (a file name, not a security hash: the metadata is checked).
    static func fileName(_ identity: String) -> String {
        String(format: "svd-%016llx.safetensors", fnv1a64(identity.utf8))
    }

    public func path(identity: String) -> String { (directory as NSString).appendingPathComponent(Self.fileName(identity)) }

    /// The factors of `pairing` at `rank`: read from the cache, else computed and stored.
    /// `notes` gets a line for every recomputation that replaces a bad file.
    public func factors(_ pairing: TensorPairing, base: Checkpoint, vlm: Checkpoint, expert: Checkpoint, rank: Int,
                        notes: ((String) -> Void)? = nil) throws -> (SubspaceFactors, hit: Bool) {
        let dir = URL(fileURLWithPath: directory).standardizedFileURL.path
        for ck in [base, vlm, expert] {
            let input = URL(fileURLWithPath: ck.directory).standardizedFileURL.path
            if dir == input || dir.hasPrefix(input + "/") {
                throw MergeError(message: "the SVD cache directory \(dir) is inside the input checkpoint folder \(input): choose another (MERGETUNE_CACHE)")
            }
        }
        let identity = Self.identity(base: base, expert: expert, rank: rank)
        let file = path(identity: identity)
        if FileManager.default.fileExists(atPath: file) {
            do { return (try read(file, identity: identity, pairing: pairing, rank: rank), true) } catch {
                notes?("SVD cache \(file) is unusable (\(error)); recomputing it")
            }
        }
        let computed = try SubspaceFactors.compute(pairing, rank: rank, base: { c in try Self.tensor(pairing, c, \.base) },
                                                   expert: { c in try Self.tensor(pairing, c, \.expert) })
        try write(computed, to: file, identity: identity)
        return (computed, false)
    }

    static func tensor(_ pairing: TensorPairing, _ canonical: String, _ role: KeyPath<(base: TensorRef, expert: TensorRef), TensorRef>) throws -> [Float] {
        guard let t = pairing.tensors.first(where: { $0.canonical == canonical }), case let .merge(b, _, e, _) = t.action else {
            throw MergeError(message: "tensor '\(canonical)' is not merged")
        }
        return (base: b, expert: e)[keyPath: role].floats()
    }

    func write(_ f: SubspaceFactors, to file: String, identity: String) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw MergeError(message: "cannot create the SVD cache directory \(directory): \(error)")
        }
        var tensors: [(spec: TensorSpec, values: [Float])] = []
        for (name, x) in f.factors.sorted(by: { $0.key < $1.key }) {
            tensors.append((TensorSpec(name: "\(name).u", dtype: .f32, shape: [x.rows, x.rank]), x.u))
            tensors.append((TensorSpec(name: "\(name).s", dtype: .f32, shape: [x.rank]), x.s))
            tensors.append((TensorSpec(name: "\(name).v", dtype: .f32, shape: [x.cols, x.rank]), x.v))
        }
        let norms = f.factors.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value.totalSq.bitPattern)" }.joined(separator: ";")
        do { try writeSafeTensorsFile(path: file, tensors: tensors, metadata: ["mergetune.svd.identity": identity, "mergetune.svd.norms": norms]) } catch {
            throw MergeError(message: "cannot write the SVD cache \(file): \(error)")
        }
    }

    func read(_ file: String, identity: String, pairing: TensorPairing, rank: Int) throws -> SubspaceFactors {
        let st = try SafeTensorFile(path: file)
        guard st.metadata["mergetune.svd.identity"] == identity else { throw MergeError(message: "it was written for other inputs") }
        var norms: [String: Double] = [:]
        for item in (st.metadata["mergetune.svd.norms"] ?? "").split(separator: ";") {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let bits = UInt64(kv[1]) else { throw MergeError(message: "bad norms entry '\(item)'") }
            norms[String(kv[0])] = Double(bitPattern: bits)
        }
        var out: [String: SubspaceFactor] = [:]
        for t in pairing.tensors where SubspaceSVD.isDecomposed(t) {
            let c = t.canonical!
            guard let total = norms[c], let ui = st.info("\(c).u"), let si = st.info("\(c).s"), let vi = st.info("\(c).v"),
                  ui.shape.count == 2, ui.shape[0] == t.output.shape[0], vi.shape.count == 2, vi.shape[0] == t.output.shape[1],
                  si.shape.count == 1, ui.shape[1] == si.shape[0], vi.shape[1] == si.shape[0],
                  si.shape[0] == min(rank, t.output.shape[0], t.output.shape[1]) else {
                throw MergeError(message: "tensor '\(c)' is missing or has the wrong shape")
            }
            out[c] = SubspaceFactor(rows: t.output.shape[0], cols: t.output.shape[1], u: try st.floats(ui.name), s: try st.floats(si.name),
                                    v: try st.floats(vi.name), totalSq: total)
        }
        return SubspaceFactors(rank: rank, factors: out)
    }
}
