import Foundation

/// The merge methods. TA, TIES and DARE are one generalized task-arithmetic method
/// configured by switches (`TaskArithmeticConfig`), as in mergekit; FRANK, MetaGPT and
/// NaN compute per-group coefficients (λ_V, λ_R) that then feed task arithmetic.
public enum MergeMethod: String, Sendable, Codable, CaseIterable {
    case linear
    case taskArithmetic = "task_arithmetic"
    case ties
    case dareLinear = "dare_linear"
    case dareTies = "dare_ties"
    case frank
    case metagpt
    case nan
    case layerRange = "layer_range"
    /// FRISM: gated rank bands of the expert's per-matrix SVD (Subspace.swift).
    case subspace

    public var isClosedForm: Bool { self == .frank || self == .metagpt || self == .nan }
}

/// The switches of generalized task arithmetic.
public struct TaskArithmeticConfig: Sendable, Codable, Equatable {
    public enum Sparsification: String, Sendable, Codable { case none, magnitude, random }
    public enum Rescale: String, Sendable, Codable, CaseIterable {
        case none
        /// Scale the kept entries so the task vector keeps its L1 norm (mergekit's DARE default).
        case l1
        /// Divide the kept entries by the density (the DARE paper's rescale).
        case inverseDensity = "inverse_density"
    }
    public var sparsification: Sparsification
    /// TIES sign election ("sum" consensus, as mergekit).
    public var signConsensus: Bool
    /// Divide the mixed delta by the sum of the weights of the contributing entries.
    public var normalize: Bool
    public var rescale: Rescale
    /// `linear`: (w_V θ_V + w_R θ_R) / (w_V + w_R) when normalizing; the base is not used.
    public var linearCombination: Bool

    public init(sparsification: Sparsification = .none, signConsensus: Bool = false, normalize: Bool = false,
                rescale: Rescale = .none, linearCombination: Bool = false) {
        self.sparsification = sparsification
        self.signConsensus = signConsensus
        self.normalize = normalize
        self.rescale = rescale
        self.linearCombination = linearCombination
    }

    /// mergekit's defaults for the methods it has (mergekit 0.1.x `generalized_task_arithmetic`
    /// and `linear`); the closed forms and layer_range use plain task arithmetic.
    public static func defaults(for method: MergeMethod) -> TaskArithmeticConfig {
        switch method {
        case .linear: return .init(normalize: true, linearCombination: true)
        case .taskArithmetic, .frank, .metagpt, .nan, .layerRange, .subspace: return .init()
        case .ties: return .init(sparsification: .magnitude, signConsensus: true, normalize: true)
        case .dareLinear: return .init(sparsification: .random, rescale: .l1)
        case .dareTies: return .init(sparsification: .random, signConsensus: true, rescale: .l1)
        }
    }
}

/// Granularity of the closed-form coefficients.
public enum Granularity: String, Sendable, Codable, CaseIterable { case layer, tensor, model }

/// FRANK's modality prior w_V^(l) over layers.
public enum FrankPrior: Sendable, Codable, Equatable {
    /// w ≡ 1 (eq. 13).
    case none
    /// Visual-attention shares a_l, one per layer; the decay α̂ is fitted from them (App. A.9).
    case attention([Double])
    /// A decay α̂ given directly.
    case decay(Double)
}

public enum FrankSchedule: String, Sendable, Codable, CaseIterable {
    /// eq. 16 as printed: w_V = e^(−α̂l) / Σ_j e^(−α̂j), w_R = 1 − w_V.
    case paper
    /// w_V = e^(−α̂l), w_R = 1 − w_V: eq. 16's numerator without the sum, so the largest
    /// weight is e^(−α̂) < 1 at layer 1 when α̂ > 0 (see docs/fusion.md).
    case maxNormalized = "max"
}

/// Everything that defines a merge, as one value (Codable so a study can record it).
public struct MergeSpec: Sendable, Codable, Equatable {
    public var method: MergeMethod
    /// λ_V: weight of the VLM's task vector (mergekit `weight` of the VLM).
    public var vlWeight: Double
    /// λ_R: weight of the expert's task vector (for layer_range: α).
    public var expWeight: Double
    /// Fraction of entries kept by TIES/DARE (mergekit `density`, default 1).
    public var density: Double
    public var seed: UInt64
    /// Overrides of the method's defaults (nil = mergekit's default for the method).
    public var normalize: Bool?
    public var rescale: TaskArithmeticConfig.Rescale?
    public var signConsensus: Bool?
    /// layer_range: decoder layers [lo, hi] (0-based, inclusive) that receive α·τ_R.
    public var layerRange: ClosedRange<Int>?
    public var prior: FrankPrior
    public var schedule: FrankSchedule
    /// nil = the method's default (frank: layer, metagpt: model, nan: model).
    public var granularity: Granularity?
    /// Per-layer λ_V as a mergekit gradient: anchor values spread evenly over the decoder
    /// layers and interpolated linearly between them (`mergekitGradient`); the embeddings,
    /// final norm and head take the first anchor, as in mergekit. nil: `vlWeight` everywhere.
    public var vlWeightGradient: [Double]?
    /// Per-layer λ_R as a mergekit gradient (as `vlWeightGradient`).
    public var expWeightGradient: [Double]?
    /// subspace: the rank bands and their gates (θ = θ_V + λ_R·gated τ_R, λ_R = `expWeight`).
    public var subspace: SubspaceConfig?

    public init(method: MergeMethod, vlWeight: Double = 1, expWeight: Double = 1, density: Double = 1, seed: UInt64 = 0,
                normalize: Bool? = nil, rescale: TaskArithmeticConfig.Rescale? = nil, signConsensus: Bool? = nil,
                layerRange: ClosedRange<Int>? = nil, prior: FrankPrior = .none, schedule: FrankSchedule = .paper,
                granularity: Granularity? = nil, vlWeightGradient: [Double]? = nil, expWeightGradient: [Double]? = nil,
                subspace: SubspaceConfig? = nil) {
        self.method = method
        self.vlWeight = vlWeight
        self.expWeight = expWeight
        self.density = density
        self.seed = seed
        self.normalize = normalize
        self.rescale = rescale
        self.signConsensus = signConsensus
        self.layerRange = layerRange
        self.prior = prior
        self.schedule = schedule
        self.granularity = granularity
        self.vlWeightGradient = vlWeightGradient
        self.expWeightGradient = expWeightGradient
        self.subspace = subspace
    }

    /// The generalized task-arithmetic switches this spec resolves to.
    public var config: TaskArithmeticConfig {
        var c = TaskArithmeticConfig.defaults(for: method)
        if let normalize { c.normalize = normalize }
        if let rescale { c.rescale = rescale }
        if let signConsensus { c.signConsensus = signConsensus }
        return c
    }

    public var effectiveGranularity: Granularity {
        granularity ?? (method == .frank ? .layer : .model)
    }

    /// Checks ranges; the message names the offending field.
    public func validate() throws {
        func bad(_ m: String) -> PairingError { PairingError(message: "invalid merge spec: \(m)") }
        guard vlWeight.isFinite, expWeight.isFinite else { throw bad("weights must be finite") }
        for (name, g) in [("vl_weight", vlWeightGradient), ("exp_weight", expWeightGradient)] {
            guard let g else { continue }
            guard !g.isEmpty else { throw bad("\(name) gradient is empty: give at least one value") }
            guard g.allSatisfy(\.isFinite) else { throw bad("\(name) gradient values must be finite") }
            guard !method.isClosedForm && method != .layerRange else {
                throw bad("\(method.rawValue) computes its own per-layer coefficients: a \(name) gradient applies to linear, task_arithmetic, ties, dare_linear and dare_ties")
            }
        }
        guard density > 0, density <= 1 else { throw bad("density must be in (0, 1], got \(density)") }
        if method == .layerRange && layerRange == nil { throw bad("layer_range needs a layer range") }
        if let r = layerRange, r.lowerBound < 0 { throw bad("layer range must start at 0 or later") }
        // layer_range is θ_V + α·τ_R: dividing by λ_V + λ_R (or electing signs) would change that formula.
        if method == .layerRange && normalize == true {
            throw bad("layer_range does not take --normalize: its formula θ_V + α·τ_R has no division by the weights")
        }
        if method == .subspace {
            guard subspace != nil else { throw bad("subspace needs its bands and gates") }
            guard normalize != true, signConsensus != true, density == 1 else {
                throw bad("subspace is θ_V + λ_R·(gated τ_R): it takes no normalize, sign consensus or density")
            }
        }
        if method == .layerRange && signConsensus == true { throw bad("layer_range does not take sign consensus") }
        if case let .decay(a) = prior, !a.isFinite { throw bad("decay must be finite") }
        if case let .attention(s) = prior {
            guard s.count >= 2 else { throw bad("attention shares need at least 2 layers") }
            guard s.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw bad("attention shares must be positive (their log is fitted)") }
        }
    }
}
