import Foundation
import MergetuneNumerics

/// Sums over a group of elements: ‖τ_V‖², ‖τ_R‖², ⟨τ_V, τ_R⟩, ‖θ_V‖², ‖θ_R‖² (in Double).
public struct NormStats: Sendable, Codable, Equatable {
    public var sqV = 0.0, sqR = 0.0, dot = 0.0, sqThetaV = 0.0, sqThetaR = 0.0
    public var elements = 0
    public init() {}
    public mutating func add(_ o: NormStats) {
        sqV += o.sqV; sqR += o.sqR; dot += o.dot; sqThetaV += o.sqThetaV; sqThetaR += o.sqThetaR; elements += o.elements
    }
    public var normV: Double { sqV.squareRoot() }
    public var normR: Double { sqR.squareRoot() }
    /// cos(τ_V, τ_R); 0 when either is zero.
    public var cosine: Double { sqV > 0 && sqR > 0 ? dot / (sqV.squareRoot() * sqR.squareRoot()) : 0 }
}

/// Task-vector statistics of a pairing, per tensor (canonical name), per layer, and the
/// "other" group (embeddings, final norm, head).
public struct TaskVectorStats: Sendable {
    public var perTensor: [String: NormStats]
    public var tensorLayer: [String: Int]
    public var layers: [NormStats]
    public var other: NormStats
    public init(perTensor: [String: NormStats] = [:], tensorLayer: [String: Int] = [:], layers: [NormStats], other: NormStats) {
        self.perTensor = perTensor; self.tensorLayer = tensorLayer; self.layers = layers; self.other = other
    }
    public var total: NormStats {
        var t = other
        layers.forEach { t.add($0) }
        return t
    }
}

/// (λ_V, λ_R) for one group.
public struct CoefficientPair: Sendable, Codable, Equatable {
    public var vl: Double
    public var exp: Double
    public init(_ vl: Double, _ exp: Double) { self.vl = vl; self.exp = exp }
}

/// Coefficients for every tensor of a merge: per layer, for the other group, and
/// optionally per tensor (tensor granularity overrides the layer value).
public struct Coefficients: Sendable, Codable, Equatable {
    public var layers: [CoefficientPair]
    public var other: CoefficientPair
    public var perTensor: [String: CoefficientPair]
    /// FRANK's prior weights w_V^(l), when a prior was used.
    public var priorV: [Double]?
    /// The fitted (or given) decay α̂, when a prior was used.
    public var decay: Double?

    public init(layers: [CoefficientPair], other: CoefficientPair, perTensor: [String: CoefficientPair] = [:],
                priorV: [Double]? = nil, decay: Double? = nil) {
        self.layers = layers
        self.other = other
        self.perTensor = perTensor
        self.priorV = priorV
        self.decay = decay
    }

    public static func constant(_ p: CoefficientPair, layers: Int) -> Coefficients {
        Coefficients(layers: Array(repeating: p, count: layers), other: p)
    }

    public func lookup(canonical: String?, layer: Int?) -> CoefficientPair {
        if let canonical, let p = perTensor[canonical] { return p }
        if let layer, layer < layers.count { return layers[layer] }
        return other
    }
}

public struct ClosedFormError: Error, Sendable, CustomStringConvertible, LocalizedError {
    public let message: String
    public var description: String { message }
    public var errorDescription: String? { message }
}

public enum ClosedForm {
    /// FRANK App. A.9: least-squares fit of ln a_l ≈ b0 − α̂·l over l = 1..L; returns α̂.
    public static func fitDecay(shares: [Double]) throws -> Double {
        guard shares.count >= 2 else { throw ClosedFormError(message: "need at least 2 attention shares to fit a decay") }
        guard shares.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ClosedFormError(message: "attention shares must be positive and finite")
        }
        let n = Double(shares.count)
        let xs = (1...shares.count).map(Double.init)
        let ys = shares.map { Foundation.log($0) }
        let mx = xs.reduce(0, +) / n, my = ys.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0
        for (x, y) in zip(xs, ys) { sxy += (x - mx) * (y - my); sxx += (x - mx) * (x - mx) }
        return -(sxy / sxx)
    }

    /// FRANK eq. 16 (paper) or the max-normalized schedule: w_V^(l) for l = 1..L.
    public static func priorWeights(decay alpha: Double, layers L: Int, schedule: FrankSchedule) -> [Double] {
        switch schedule {
        case .paper:
            let e = (1...L).map { Foundation.exp(-alpha * Double($0)) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        case .maxNormalized:
            return (1...L).map { Foundation.exp(-alpha * Double($0)) }
        }
    }

    /// The paper's prior needs 0 < w_V^(l) < 1 (so w_R = 1 − w_V > 0) at every layer
    /// (eq. 15): otherwise the coefficients leave [0, 1] or a layer loses one model.
    public static func checkPrior(_ w: [Double], decay alpha: Double, schedule: FrankSchedule) throws {
        for (i, x) in w.enumerated() where !(x > 0 && x < 1) {
            throw ClosedFormError(message: "FRANK prior: w_V = \(x) at layer \(i + 1) of \(w.count) (schedule \(schedule.rawValue), decay α̂ = \(alpha)) "
                + "gives w_R = 1 − w_V = \(1 - x); the prior needs 0 < w_V, w_R (paper eq. 15). "
                + (schedule == .maxNormalized && alpha <= 0 ? "The max schedule needs a positive decay; " : "")
                + (w.count < 2 && schedule == .paper ? "the paper schedule needs at least 2 decoder layers; " : "")
                + "use a positive --decay, or merge without a prior")
        }
    }

    /// λ_t = w_t n_t / (w_V n_V + w_R n_R); equal halves when both terms vanish.
    static func ratio(_ nV: Double, _ nR: Double, wV: Double = 1, wR: Double = 1) -> CoefficientPair {
        let d = wV * nV + wR * nR
        guard d > 0, d.isFinite else { return CoefficientPair(0.5, 0.5) }
        return CoefficientPair(wV * nV / d, wR * nR / d)
    }

    /// FRANK (eq. 13 without a prior, eq. 15 with one).
    /// `warn` receives a warning when the decay is not positive (the paper assumes α > 0).
    public static func frank(_ stats: TaskVectorStats, prior: FrankPrior, schedule: FrankSchedule, granularity: Granularity,
                             warn: ((String) -> Void)? = nil) throws -> Coefficients {
        let L = stats.layers.count
        var alpha: Double? = nil
        switch prior {
        case .none: break
        case let .decay(a): alpha = a
        case let .attention(shares):
            guard shares.count == L else {
                throw ClosedFormError(message: "attention file has \(shares.count) shares but the model has \(L) decoder layers")
            }
            alpha = try fitDecay(shares: shares)
        }
        var wVs: [Double]? = nil
        if let alpha {
            guard granularity != .model else {
                throw ClosedFormError(message: "FRANK's attention prior is per layer: use granularity layer or tensor")
            }
            guard L > 0 else { throw ClosedFormError(message: "no decoder layers to place the prior on") }
            if alpha <= 0 {
                let source = if case .attention = prior { "fitted from the attention file" } else { "given" }
                warn?("FRANK prior: decay α̂ = \(alpha) (\(source)) is not positive: visual attention does not fall with depth, "
                      + "while the paper assumes α > 0; the prior then gives deeper layers more VLM weight, not less")
            }
            let w = priorWeights(decay: alpha, layers: L, schedule: schedule)
            try checkPrior(w, decay: alpha, schedule: schedule)
            wVs = w
        }
        func w(_ layer: Int?) -> (Double, Double) {
            guard let wVs, let layer else { return (1, 1) }
            return (wVs[layer], 1 - wVs[layer])
        }
        var c: Coefficients
        switch granularity {
        case .model:
            let t = stats.total
            c = .constant(ratio(t.sqV, t.sqR), layers: L)
        case .layer, .tensor:
            let layers = (0..<L).map { l -> CoefficientPair in
                let (a, b) = w(l)
                return ratio(stats.layers[l].sqV, stats.layers[l].sqR, wV: a, wR: b)
            }
            c = Coefficients(layers: layers, other: ratio(stats.other.sqV, stats.other.sqR))
            if granularity == .tensor {
                for (name, s) in stats.perTensor {
                    let (a, b) = w(stats.tensorLayer[name])
                    c.perTensor[name] = ratio(s.sqV, s.sqR, wV: a, wR: b)
                }
            }
        }
        c.priorV = wVs
        c.decay = alpha
        return c
    }

    /// MetaGPT: λ_t = ‖τ_t‖² / Σ_k ‖τ_k‖² (over the whole model by default).
    public static func metagpt(_ stats: TaskVectorStats, granularity: Granularity = .model) throws -> Coefficients {
        try frank(stats, prior: .none, schedule: .paper, granularity: granularity)
    }

    /// NaN (arXiv 2505.16148): coefficients from the inverse of each model's parameter
    /// norm, normalized to sum to one: λ_t = ‖θ_t‖⁻¹ / Σ_k ‖θ_k‖⁻¹ (see docs/fusion.md).
    public static func nan(_ stats: TaskVectorStats, granularity: Granularity = .model) -> Coefficients {
        func inv(_ s: NormStats) -> CoefficientPair {
            let a = s.sqThetaV.squareRoot(), b = s.sqThetaR.squareRoot()
            guard a > 0, b > 0 else { return CoefficientPair(0.5, 0.5) }
            let ia = 1 / a, ib = 1 / b
            return CoefficientPair(ia / (ia + ib), ib / (ia + ib))
        }
        let L = stats.layers.count
        switch granularity {
        case .model:
            return .constant(inv(stats.total), layers: L)
        case .layer, .tensor:
            var c = Coefficients(layers: stats.layers.map(inv), other: inv(stats.other))
            if granularity == .tensor {
                for (name, s) in stats.perTensor { c.perTensor[name] = inv(s) }
            }
            return c
        }
    }

    /// The coefficients a spec resolves to; `stats` is needed only by the closed forms.
    public static func coefficients(for spec: MergeSpec, layerCount L: Int, stats: TaskVectorStats?,
                                    warn: ((String) -> Void)? = nil) throws -> Coefficients {
        switch spec.method {
        case .linear, .taskArithmetic, .ties, .dareLinear, .dareTies:
            if spec.vlWeightGradient == nil && spec.expWeightGradient == nil {
                return .constant(CoefficientPair(spec.vlWeight, spec.expWeight), layers: L)
            }
            // mergekit: decoder layer i takes the gradient at t = i/(L−1); the tensors before
            // and after the decoder (embeddings, final norm, head) take it at t = 0.
            func at(_ g: [Double]?, _ scalar: Double, _ layer: Int?) -> Double {
                guard let g, !g.isEmpty else { return scalar }
                return layer.map { mergekitGradient(g, layer: $0, layers: L) } ?? g[0]
            }
            let layers = (0..<L).map { CoefficientPair(at(spec.vlWeightGradient, spec.vlWeight, $0), at(spec.expWeightGradient, spec.expWeight, $0)) }
            return Coefficients(layers: layers, other: CoefficientPair(at(spec.vlWeightGradient, spec.vlWeight, nil),
                                                                      at(spec.expWeightGradient, spec.expWeight, nil)))
        case .layerRange:
            guard let r = spec.layerRange else { throw ClosedFormError(message: "layer_range needs --layers A-B") }
            guard r.upperBound < L else {
                throw ClosedFormError(message: "layer range \(r.lowerBound)-\(r.upperBound) exceeds the \(L) decoder layers (0-\(L - 1))")
            }
            // θ = θ_V + α·τ_R inside the range, θ_V elsewhere: task arithmetic with λ_V = 1.
            let layers = (0..<L).map { r.contains($0) ? CoefficientPair(1, spec.expWeight) : CoefficientPair(1, 0) }
            return Coefficients(layers: layers, other: CoefficientPair(1, 0))
        case .subspace:
            // The gates act inside the tensors (Subspace.swift); the pair is (1, λ_R) everywhere.
            return .constant(CoefficientPair(1, spec.expWeight), layers: L)
        case .frank, .metagpt, .nan:
            guard let stats else { throw ClosedFormError(message: "\(spec.method.rawValue) needs task-vector statistics") }
            switch spec.method {
            case .frank: return try frank(stats, prior: spec.prior, schedule: spec.schedule, granularity: spec.effectiveGranularity, warn: warn)
            case .metagpt: return try metagpt(stats, granularity: spec.effectiveGranularity)
            default: return nan(stats, granularity: spec.effectiveGranularity)
            }
        }
    }
}

/// The value of a mergekit gradient (anchor list) at decoder layer `layer` of `layers`, as
/// mergekit 0.1.5 computes it (`plan.py`, `config.evaluate_setting`): t = layer/(layers − 1)
/// (t = 1 for a single layer), s = t·(n − 1) for n anchors, i = ⌊s⌋, f = s − i, and the value
/// (1 − f)·g[i] + f·g[min(i + 1, n − 1)], in that floating-point order so results match.
public func mergekitGradient(_ g: [Double], layer: Int, layers: Int) -> Double {
    precondition(!g.isEmpty, "empty gradient")
    let t = layers > 1 ? Double(layer) / Double(layers - 1) : 1
    let scaled = t * Double(g.count - 1)
    let i0 = Int(scaled)
    let i1 = min(g.count - 1, i0 + 1)
    let frac = scaled - Double(i0)
    return (1 - frac) * g[i0] + frac * g[i1]
}

/// Reads an attention file: one visual-attention share per layer, either one number per
/// line (in layer order) or `layer,share` rows, where the layer column places each share,
/// so rows may come in any order; the layers must be exactly 0..N−1 (HF indices) or 1..N
/// (the paper's numbering), each once.
/// A header line, `#` comments and blank lines are skipped.
public func readAttentionShares(path: String) throws -> [Double] {
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
        throw ClosedFormError(message: "\(path): cannot read attention file: \(error.localizedDescription)")
    }
    var rows: [(line: Int, layer: Int?, share: Double)] = []
    var sawData = false
    for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") { continue }
        let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        // Decimal numbers only (Numerics.DecimalNumber): a hex float or nan here is a corrupt file.
        guard let last = fields.last, let v = DecimalNumber.parse(last) else {
            if !sawData { sawData = true; continue }  // header
            throw ClosedFormError(message: "\(path): line \(i + 1): \(DecimalNumber.problem(fields.last ?? "")) in '\(line)'")
        }
        sawData = true
        guard v > 0, v.isFinite else { throw ClosedFormError(message: "\(path): line \(i + 1): share must be positive, got \(v)") }
        var layer: Int? = nil
        if fields.count >= 2 {
            guard let l = Int(fields[0]), l >= 0 else {
                throw ClosedFormError(message: "\(path): line \(i + 1): layer '\(fields[0])' is not a non-negative integer (HF layer index)")
            }
            layer = l
        }
        rows.append((i + 1, layer, v))
    }
    guard !rows.isEmpty else { throw ClosedFormError(message: "\(path): no attention shares") }
    let withLayer = rows.filter { $0.layer != nil }
    if withLayer.isEmpty { return rows.map(\.share) }
    guard withLayer.count == rows.count else {
        throw ClosedFormError(message: "\(path): some rows have a layer column and some do not: use `layer,share` on every row")
    }
    // Layers numbered 0..N−1 (HF indices) or 1..N (the paper's l, as the testbed's probe
    // writes them): the two sets differ, so the numbering is never ambiguous.
    let first = rows.contains { $0.layer == 0 } ? 0 : 1
    var shares = [Double?](repeating: nil, count: rows.count)
    for r in rows {
        let l = r.layer! - first
        guard l >= 0, l < rows.count else {
            throw ClosedFormError(message: "\(path): line \(r.line): layer \(r.layer!) is out of range: \(rows.count) rows need layers 0-\(rows.count - 1) (HF indices) or 1-\(rows.count) (the paper's numbering)")
        }
        guard shares[l] == nil else { throw ClosedFormError(message: "\(path): line \(r.line): layer \(r.layer!) appears twice") }
        shares[l] = r.share
    }
    return shares.map { $0! }
}
