import Foundation
import Fusion
import Optimizers
import SafeTensors
import Testbed

// Search spaces of a merging objective (`space = "..."` on a testbed or command objective):
// which coordinates a study searches and how a point becomes the one `MergeRecipe` that the
// fusion core merges, the testbed scores and `study export --mergekit` writes
// (docs/studies.md, "Search spaces"; docs/architecture.md, "The study core"). Adding a space is
// one type here plus its entry in `MergeSpaces.kinds`.

/// A non-global space as the spec stores it (`ObjectiveSpec.space`; nil: `global`, so specs and
/// ledgers written before spaces existed keep their identity). What the space needs from the
/// checkpoints (their layer count, FRANK's per-layer norms) is recorded here when the spec is
/// read, so resume, replay and export never depend on recomputing it.
public struct MergeSpaceSpec: Codable, Sendable, Equatable {
    public var kind: String
    /// L: decoder layers of the merged checkpoints.
    public var layers: Int
    /// per_layer: consecutive layers sharing one (λ_V, λ_R) pair (nil: 1), or the number of
    /// gradient knots the values are interpolated between (exclusive with layerGroup).
    public var layerGroup: Int?
    public var knots: Int?
    /// frank_scaled: FRANK's prior (an attention prior is stored as its shares), its schedule,
    /// whether the decay α̂ is searched, and the per-layer ‖τ_V‖², ‖τ_R‖² the coefficients come from.
    public var prior: FrankPrior?
    public var schedule: FrankSchedule?
    public var searchDecay: Bool?
    public var layerNorms: LayerNorms?
    /// subspace: the rank bands (ascending boundaries; layerGroup shares one gate vector among
    /// that many layers) and the residual band's gate when it is fixed (nil: searched).
    public var bands: [Int]?
    public var residualGate: Double?
    /// subspace: λ_R when fixed by the space (`exp_weight = x`; nil: searched unless the merge fixes it).
    public var expWeight: Double?

    public init(kind: String, layers: Int) { self.kind = kind; self.layers = layers }
}

/// Per-layer squared task-vector norms (FRANK's only input at layer granularity).
public struct LayerNorms: Codable, Sendable, Equatable {
    public var sqV: [Double]
    public var sqR: [Double]
    public init(sqV: [Double], sqR: [Double]) { self.sqV = sqV; self.sqR = sqR }
    init(_ s: TaskVectorStats) { sqV = s.layers.map(\.sqV); sqR = s.layers.map(\.sqR) }
    var stats: TaskVectorStats {
        TaskVectorStats(layers: zip(sqV, sqR).map { v, r in var n = NormStats(); n.sqV = v; n.sqR = r; return n }, other: NormStats())
    }
}

/// What a space may read from the objective's checkpoints while its spec is parsed.
struct SpaceContext {
    var method: MergeMethod
    var fixed: [String: RecipeValue]
    var layers: () throws -> Int
    var stats: () throws -> TaskVectorStats
}

/// One kind of search space: its spec keys, its box, and the recipe of a point.
protocol MergeSpaceKind {
    static var name: String { get }
    /// The space's own keys of an objective table, beyond `space`.
    static var keys: [String] { get }
    /// The methods whose recipe the space can write.
    static func accepts(_ method: MergeMethod) -> Bool
    /// The one method a space with a method of its own merges by (layer_range, subspace): a
    /// testbed objective in that space takes it by default and takes no other. nil: the space
    /// lays its values over the objective's method.
    static var ownMethod: MergeMethod? { get }
    static func parse(_ t: TableReader, context: SpaceContext) throws -> MergeSpaceSpec
    /// The searched parameters with their default bounds, in a fixed order.
    static func parameters(_ s: MergeSpaceSpec, method: MergeMethod, fixed: [String: RecipeValue]) -> [Parameter]
    /// The recipe at `point` (parameter name → value): `fixed` (method, models, fixed values)
    /// with the space's values laid over it.
    static func recipe(fixed: MergeRecipe, point: [String: Double], space: MergeSpaceSpec) throws -> MergeRecipe
    /// Why a recipe of this space cannot be a mergekit config (nil: it can).
    static var mergekitLimitation: String? { get }
}

public enum MergeSpaces {
    static let kinds: [any MergeSpaceKind.Type] = [GlobalSpace.self, FrankScaledSpace.self, PerLayerSpace.self, LayerRangeSpace.self,
                                                    SubspaceSpace.self]
    static var names: [String] { kinds.map { $0.name } }
    static func kind(named n: String) -> (any MergeSpaceKind.Type)? { kinds.first { $0.name == n } }
    /// Every space key an objective table may hold.
    static var keys: [String] {
        var seen = Set<String>()
        return (["space"] + kinds.flatMap { $0.keys }).filter { seen.insert($0).inserted }
    }
    static let mergingKinds = ["testbed", "command"]

    /// Space keys on an objective kind that merges nothing are an error of their own.
    static func rejectOnNonMerging(_ t: TableReader, kind: String) throws {
        guard !mergingKinds.contains(kind) else { return }
        if let k = keys.first(where: { t.table[$0] != nil }) {
            throw SpecError(file: t.file, key: t.key(k), "search spaces are for objectives that merge checkpoints (kinds \(mergingKinds.joined(separator: ", "))); a \(kind) objective has its own parameters")
        }
    }

    /// Reads `space` and its keys: nil for the global space (the stored default).
    static func parse(_ t: TableReader, context: SpaceContext) throws -> MergeSpaceSpec? {
        let name = try t.optionalString("space") ?? GlobalSpace.name
        guard let kind = kind(named: name) else {
            throw SpecError(file: t.file, key: t.key("space"), "unknown space '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        for k in keys where k != "space" && !kind.keys.contains(k) && t.table[k] != nil {
            let owners = kinds.filter { $0.keys.contains(k) }.map { "space = \"\($0.name)\"" }.joined(separator: " or ")
            throw SpecError(file: t.file, key: t.key(k), "only with \(owners) (this objective's space is \(name))")
        }
        guard kind.accepts(context.method) else {
            let ok = MergeMethod.allCases.filter(kind.accepts).map(\.rawValue)
            throw SpecError(file: t.file, key: t.key("space"), "space \(name) writes \(ok.joined(separator: " or ")) recipes; the objective's method is \(context.method.rawValue)")
        }
        guard kind != GlobalSpace.self else { return nil }
        return try kind.parse(t, context: context)
    }

    /// The method of its own of the space named `name` (nil: none, or no such space).
    static func ownMethod(ofSpace name: String?) -> MergeMethod? { name.flatMap { kind(named: $0)?.ownMethod } }

    /// Why a space's recipes cannot be mergekit configs (nil: they can, or no such space).
    public static func mergekitLimitation(of space: String) -> String? { kind(named: space)?.mergekitLimitation }

    static func kind(of s: MergeSpaceSpec?) -> any MergeSpaceKind.Type {
        s.flatMap { kind(named: $0.kind) } ?? GlobalSpace.self
    }

    /// The box: the space's parameters with their default bounds, each overridden by `bounds`
    /// (a parameter's own name, or a per-layer family's base name such as `vl_weight`).
    static func box(_ s: MergeSpaceSpec, method: MergeMethod, fixed: [String: RecipeValue], bounds: [BoundSpec]?,
                    file: String, key: String) throws -> SearchSpace {
        var params = kind(of: s).parameters(s, method: method, fixed: fixed)
        for b in bounds ?? [] {
            let hits = params.indices.filter { params[$0].name == b.name || PerLayerSpace.family(params[$0].name) == b.name }
            guard !hits.isEmpty else {
                throw SpecError(file: file, key: "\(key).bounds.\(b.name)", "space \(s.kind) has parameters \(params.map(\.name).joined(separator: ", ")) (per-layer ones also by their family: vl_weight, exp_weight)")
            }
            if b.name == RecipeKey.density, b.lower <= 0 || b.upper > 1 {
                throw SpecError(file: file, key: "\(key).bounds.density", "[\(b.lower), \(b.upper)] leaves (0, 1]")
            }
            for i in hits { params[i] = Parameter(name: params[i].name, lower: b.lower, upper: b.upper) }
        }
        do { return try SearchSpace(params) } catch { throw SpecError(file: file, key: "\(key).bounds", "\(error)") }
    }

    /// The box of a stored objective's non-global space, its bounds applied (nil: global, or
    /// not a merging objective), from the spec alone (reports).
    public static func box(of o: ObjectiveSpec) -> SearchSpace? {
        guard let s = o.space, let method = o.command?.merge?.method ?? o.method.flatMap({ MergeMethod(rawValue: $0) }) else { return nil }
        return try? box(s, method: method, fixed: o.command?.merge?.fixed ?? [:], bounds: o.bounds, file: "", key: "")
    }

    /// The recipe of a point in the objective's space (global: the values as they are).
    public static func recipe(fixed: MergeRecipe, point: [String: Double], space: MergeSpaceSpec?) throws -> MergeRecipe {
        guard let space else { return try GlobalSpace.recipe(fixed: fixed, point: point) }
        return try kind(of: space).recipe(fixed: fixed, point: point, space: space)
    }

    /// The searched parameters besides the weights (density) that a per-layer space keeps global.
    static func extraParameters(_ method: MergeMethod, fixed: [String: RecipeValue]) -> [Parameter] {
        MergeMethodRegistry.info(method).searchable.filter { p in
            p.name != RecipeKey.vlWeight && p.name != RecipeKey.expWeight && fixed[p.name] == nil
        }.map { Parameter(name: $0.name, lower: $0.defaultBounds!.lowerBound, upper: $0.defaultBounds!.upperBound) }
    }

    static func checkInteger(_ t: TableReader, _ k: String, min: Int, max: Int, what: String) throws -> Int? {
        guard let v = t.table[k] else { return nil }
        guard let n = v.int else { throw SpecError(file: t.file, key: t.key(k), "expected an integer (\(what))") }
        guard n >= min, n <= max else {
            throw SpecError(file: t.file, key: t.key(k), "\(n) is outside [\(min), \(max)] (\(what); the checkpoints have \(max == Int.max ? "more" : "\(max)") decoder layer\(max == 1 ? "" : "s"))")
        }
        return n
    }
}

/// The methods whose weights can be per-layer gradients (mergekit's gradient lists).
private func takesGradients(_ m: MergeMethod) -> Bool {
    MergeMethodRegistry.info(m).parameter(RecipeKey.vlWeight)?.perLayer == true && m != .linear
}

/// `global` (the default): the method's own searchable parameters, one value for the whole model.
enum GlobalSpace: MergeSpaceKind {
    static let name = "global"
    static let keys: [String] = []
    static let mergekitLimitation: String? = nil
    static func accepts(_ method: MergeMethod) -> Bool { true }
    static let ownMethod: MergeMethod? = nil
    static func parse(_ t: TableReader, context: SpaceContext) throws -> MergeSpaceSpec { MergeSpaceSpec(kind: name, layers: 0) }
    static func parameters(_ s: MergeSpaceSpec, method: MergeMethod, fixed: [String: RecipeValue]) -> [Parameter] {
        MergeMethodRegistry.info(method).searchable.filter { fixed[$0.name] == nil }.map {
            Parameter(name: $0.name, lower: $0.defaultBounds!.lowerBound, upper: $0.defaultBounds!.upperBound)
        }
    }
    static func recipe(fixed: MergeRecipe, point: [String: Double]) throws -> MergeRecipe {
        var r = fixed
        for (name, x) in point {
            if let v = r.parameters[name] {
                throw RecipeError(.searchedAndFixed, parameter: name, "searched and also fixed to \(v): remove one of them")
            }
            r.parameters[name] = .number(x)
        }
        return r
    }
    static func recipe(fixed: MergeRecipe, point: [String: Double], space: MergeSpaceSpec) throws -> MergeRecipe {
        try recipe(fixed: fixed, point: point)
    }
}

/// `frank_scaled`: FRANK's per-layer (λ_V^(l), λ_R^(l)) times searched scales (s_V, s_R); with
/// `search_decay`, the prior's decay α̂ is searched too and the coefficients are recomputed per
/// trial. The recipe is the method's with per-layer gradient lists s·λ^(l), one anchor per layer;
/// the embeddings, final norm and head take layer 0's pair (mergekit's gradient semantics).
enum FrankScaledSpace: MergeSpaceKind {
    static let name = "frank_scaled"
    static let keys = ["prior", "decay", "attention", "schedule", "search_decay"]
    static let mergekitLimitation: String? = nil
    static let vlScale = "vl_scale", expScale = "exp_scale"
    static let scaleBounds = 0.0...3.0
    static func accepts(_ method: MergeMethod) -> Bool { takesGradients(method) }
    static let ownMethod: MergeMethod? = nil

    static func parse(_ t: TableReader, context: SpaceContext) throws -> MergeSpaceSpec {
        var s = MergeSpaceSpec(kind: name, layers: try context.layers())
        if let v = t.table["schedule"] {
            guard let n = v.string, let sch = FrankSchedule(rawValue: n) else {
                throw SpecError(file: t.file, key: t.key("schedule"), "expected one of \(FrankSchedule.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.schedule = sch
        }
        if let v = t.table["search_decay"] {
            guard let b = v.bool else { throw SpecError(file: t.file, key: t.key("search_decay"), "expected true or false") }
            s.searchDecay = b ? true : nil
        }
        let priorName = try t.optionalString("prior")
        var prior = FrankPrior.none
        if let d = t.table["decay"] {
            guard let a = StudySpec.number(d), a.isFinite else { throw SpecError(file: t.file, key: t.key("decay"), "expected a number (α̂)") }
            prior = .decay(a)
        }
        if let a = t.table["attention"] {
            guard case .none = prior else { throw SpecError(file: t.file, key: t.key("attention"), "attention and decay are exclusive: the decay is fitted from the attention shares") }
            do {
                if let path = a.string { prior = .attention(try readAttentionShares(path: path)) }
                else if let list = a.array, let xs = Optional(list.compactMap(StudySpec.number)), xs.count == list.count { prior = .attention(xs) }
                else { throw SpecError(file: t.file, key: t.key("attention"), "expected an attention file or a list of shares") }
            } catch let e as SpecError { throw e } catch {
                throw SpecError(file: t.file, key: t.key("attention"), "\(error)")
            }
        }
        switch (priorName, prior) {
        case (nil, _), ("none", FrankPrior.none), ("decay", .decay), ("attention", .attention): break
        case ("decay", _): throw SpecError(file: t.file, key: t.key("decay"), "prior 'decay' needs the decay")
        case ("attention", _): throw SpecError(file: t.file, key: t.key("attention"), "prior 'attention' needs the attention file or shares")
        case ("none", _): throw SpecError(file: t.file, key: t.key("prior"), "prior 'none' with a decay or attention given: drop one")
        default: throw SpecError(file: t.file, key: t.key("prior"), "unknown prior '\(priorName!)' (known: none, attention, decay)")
        }
        if prior != FrankPrior.none {
            guard s.searchDecay != true else {
                throw SpecError(file: t.file, key: t.key("search_decay"), "the decay α̂ is searched: give no decay or attention (its prior is the decay prior at the searched α̂)")
            }
            s.prior = prior
        }
        let stats: TaskVectorStats
        do { stats = try context.stats() } catch {
            throw SpecError(file: t.file, key: t.key("space"), "cannot compute FRANK's per-layer coefficients: \(error)")
        }
        s.layerNorms = LayerNorms(stats)
        // The configured prior must give coefficients now (a searched decay is checked per trial).
        if s.searchDecay != true {
            do { _ = try coefficients(s, decay: nil) } catch { throw SpecError(file: t.file, key: t.key("prior"), "\(error)") }
        }
        return s
    }

    static func parameters(_ s: MergeSpaceSpec, method: MergeMethod, fixed: [String: RecipeValue]) -> [Parameter] {
        var p = [Parameter(name: vlScale, lower: scaleBounds.lowerBound, upper: scaleBounds.upperBound),
                 Parameter(name: expScale, lower: scaleBounds.lowerBound, upper: scaleBounds.upperBound)]
        if s.searchDecay == true {
            let b = MergeMethodRegistry.info(.frank).parameter(RecipeKey.decay)!.defaultBounds!
            p.append(Parameter(name: RecipeKey.decay, lower: b.lowerBound, upper: b.upperBound))
        }
        return p + MergeSpaces.extraParameters(method, fixed: fixed)
    }

    /// FRANK's per-layer coefficients at layer granularity (the decay prior at `decay` when searched).
    static func coefficients(_ s: MergeSpaceSpec, decay: Double?) throws -> [CoefficientPair] {
        guard let norms = s.layerNorms else { throw RecipeError(.missing, parameter: nil, "frank_scaled: the per-layer norms were not recorded") }
        let prior = decay.map { FrankPrior.decay($0) } ?? s.prior ?? FrankPrior.none
        return try ClosedForm.frank(norms.stats, prior: prior, schedule: s.schedule ?? .paper, granularity: .layer).layers
    }

    static func recipe(fixed: MergeRecipe, point: [String: Double], space: MergeSpaceSpec) throws -> MergeRecipe {
        func value(_ n: String) throws -> Double {
            guard let x = point[n] else { throw RecipeError(.missing, parameter: n, "frank_scaled searches it") }
            return x
        }
        let sV = try value(vlScale), sR = try value(expScale)
        let c = try coefficients(space, decay: space.searchDecay == true ? try value(RecipeKey.decay) : nil)
        var rest = point
        for n in [vlScale, expScale, RecipeKey.decay] { rest[n] = nil }
        var r = try GlobalSpace.recipe(fixed: fixed, point: rest)
        r.parameters[RecipeKey.vlWeight] = .list(c.map { sV * $0.vl })
        r.parameters[RecipeKey.expWeight] = .list(c.map { sR * $0.exp })
        return r
    }
}

/// `per_layer`: one (λ_V, λ_R) pair per group of `layer_group` consecutive decoder layers
/// (mergekit-evolve's genome), or `knots` anchors interpolated linearly across depth (a mergekit
/// gradient of that many values). Density, where the method has it, stays one global value.
enum PerLayerSpace: MergeSpaceKind {
    static let name = "per_layer"
    static let keys = ["layer_group", "knots"]
    static let mergekitLimitation: String? = nil
    static func accepts(_ method: MergeMethod) -> Bool { takesGradients(method) }
    static let ownMethod: MergeMethod? = nil

    /// `vl_weight_3` → `vl_weight`.
    static func family(_ name: String) -> String? {
        for f in [RecipeKey.vlWeight, RecipeKey.expWeight] where name.hasPrefix(f + "_") && Int(name.dropFirst(f.count + 1)) != nil { return f }
        return nil
    }

    static func parse(_ t: TableReader, context: SpaceContext) throws -> MergeSpaceSpec {
        let L: Int
        do { L = try context.layers() } catch { throw SpecError(file: t.file, key: t.key("space"), "cannot read the checkpoints' layers: \(error)") }
        var s = MergeSpaceSpec(kind: name, layers: L)
        for k in [RecipeKey.vlWeight, RecipeKey.expWeight] where context.fixed[k] != nil {
            throw SpecError(file: t.file, key: t.key("merge.fixed.\(k)"), "per_layer searches \(k) at every layer: it cannot be fixed")
        }
        let g = try MergeSpaces.checkInteger(t, "layer_group", min: 1, max: L, what: "layers per group")
        let k = try MergeSpaces.checkInteger(t, "knots", min: 2, max: L, what: "gradient anchors across depth")
        if g != nil && k != nil { throw SpecError(file: t.file, key: t.key("knots"), "layer_group and knots are exclusive: groups of layers, or values interpolated between knots") }
        s.layerGroup = g == 1 ? nil : g
        s.knots = k
        return s
    }

    /// Values per weight: ⌈L/g⌉ groups, or the knots.
    static func count(_ s: MergeSpaceSpec) -> Int {
        if let k = s.knots { return k }
        let g = s.layerGroup ?? 1
        return (s.layers + g - 1) / g
    }

    static func parameters(_ s: MergeSpaceSpec, method: MergeMethod, fixed: [String: RecipeValue]) -> [Parameter] {
        let n = count(s)
        var p: [Parameter] = []
        for name in [RecipeKey.vlWeight, RecipeKey.expWeight] {
            let b = MergeMethodRegistry.info(method).parameter(name)!.defaultBounds!
            p += (0..<n).map { Parameter(name: "\(name)_\($0)", lower: b.lowerBound, upper: b.upperBound) }
        }
        return p + MergeSpaces.extraParameters(method, fixed: fixed)
    }

    static func recipe(fixed: MergeRecipe, point: [String: Double], space: MergeSpaceSpec) throws -> MergeRecipe {
        let n = count(space), g = space.layerGroup ?? 1
        var rest = point
        var r = fixed
        for f in [RecipeKey.vlWeight, RecipeKey.expWeight] {
            let values = try (0..<n).map { i -> Double in
                guard let x = point["\(f)_\(i)"] else { throw RecipeError(.missing, parameter: "\(f)_\(i)", "per_layer searches it") }
                rest["\(f)_\(i)"] = nil
                return x
            }
            // Groups: one anchor per decoder layer (exact per-layer values); knots: the anchors themselves.
            r.parameters[f] = .list(space.knots != nil ? values : (0..<space.layers).map { values[$0 / g] })
        }
        return try GlobalSpace.recipe(fixed: r, point: rest)
    }
}

/// `layer_range` (Bring Reason to Vision): θ_V + α·τ_R on decoder layers [start, end]. The
/// optimizers are continuous, so `layer_start` and `layer_end` are searched on [−0.5, L − 0.5]
/// and rounded to the nearest layer (each layer gets an equal share of the box), clamped to
/// [0, L − 1] and swapped when start > end; the ledger keeps the continuous point, the recipe
/// the integers.
enum LayerRangeSpace: MergeSpaceKind {
    static let name = "layer_range"
    static let keys: [String] = []
    static let mergekitLimitation: String? = "mergekit has no layer-range method (it would need slices, which mergetune does not render)"
    static let ownMethod: MergeMethod? = .layerRange
    static func accepts(_ method: MergeMethod) -> Bool { method == ownMethod }

    static func parse(_ t: TableReader, context: SpaceContext) throws -> MergeSpaceSpec {
        for k in [RecipeKey.layerStart, RecipeKey.layerEnd] where context.fixed[k] != nil {
            throw SpecError(file: t.file, key: t.key("merge.fixed.\(k)"), "space layer_range searches \(k): it cannot be fixed")
        }
        do { return MergeSpaceSpec(kind: name, layers: try context.layers()) } catch {
            throw SpecError(file: t.file, key: t.key("space"), "cannot read the checkpoints' layers: \(error)")
        }
    }

    static func parameters(_ s: MergeSpaceSpec, method: MergeMethod, fixed: [String: RecipeValue]) -> [Parameter] {
        let hi = Double(s.layers) - 0.5
        var p = [Parameter(name: RecipeKey.layerStart, lower: -0.5, upper: hi), Parameter(name: RecipeKey.layerEnd, lower: -0.5, upper: hi)]
        if fixed[RecipeKey.alpha] == nil { p.append(Parameter(name: RecipeKey.alpha, lower: 0, upper: 2)) }
        return p
    }

    /// The layers of a continuous (start, end).
    static func layers(_ start: Double, _ end: Double, count L: Int) -> (Int, Int) {
        func layer(_ x: Double) -> Int { Int(Swift.min(Swift.max(x.rounded(), 0), Double(L - 1))) }
        let a = layer(start), b = layer(end)
        return (Swift.min(a, b), Swift.max(a, b))
    }

    static func recipe(fixed: MergeRecipe, point: [String: Double], space: MergeSpaceSpec) throws -> MergeRecipe {
        guard let s = point[RecipeKey.layerStart], let e = point[RecipeKey.layerEnd] else {
            throw RecipeError(.missing, parameter: RecipeKey.layerStart, "layer_range searches layer_start and layer_end")
        }
        guard s.isFinite, e.isFinite else { throw RecipeError(.outOfRange, parameter: RecipeKey.layerStart, "must be finite") }
        let (a, b) = layers(s, e, count: space.layers)
        var rest = point
        rest[RecipeKey.layerStart] = nil; rest[RecipeKey.layerEnd] = nil
        var r = try GlobalSpace.recipe(fixed: fixed, point: rest)
        r.parameters[RecipeKey.layerStart] = .number(Double(a))
        r.parameters[RecipeKey.layerEnd] = .number(Double(b))
        return r
    }
}

/// `subspace` (FRISM): gates in [0, 1] on rank bands of the expert's per-matrix truncated SVD,
/// one gate per band plus one for the residual beyond the last band (Fusion's subspace method,
/// docs/fusion.md), shared by all layers or by groups of `layer_group` consecutive layers;
/// λ_R (`exp_weight`) is searched unless the space's `exp_weight` key or the merge fixes it. Parameters: `gate_<b>` and
/// `gate_res` (one group), `gate_<b>_l<g>` and `gate_res_l<g>` (groups).
enum SubspaceSpace: MergeSpaceKind {
    static let name = "subspace"
    static let keys = ["bands", "layer_group", "residual_gate", "exp_weight"]
    static let mergekitLimitation: String? = "mergekit has no SVD-band gating of a task vector (its methods weight whole tensors)"
    static let defaultBands = [4, 16, 64]
    static let ownMethod: MergeMethod? = .subspace
    static func accepts(_ method: MergeMethod) -> Bool { method == ownMethod }

    static func parse(_ t: TableReader, context: SpaceContext) throws -> MergeSpaceSpec {
        let L: Int
        do { L = try context.layers() } catch { throw SpecError(file: t.file, key: t.key("space"), "cannot read the checkpoints' layers: \(error)") }
        var s = MergeSpaceSpec(kind: name, layers: L)
        for k in [RecipeKey.bands, RecipeKey.gates, RecipeKey.layerGroup] where context.fixed[k] != nil {
            throw SpecError(file: t.file, key: t.key("merge.fixed.\(k)"), "space subspace sets \(k) (the space's own keys): it cannot be fixed")
        }
        if let v = t.table["bands"] {
            guard let list = v.array, !list.isEmpty, let ints = Optional(list.compactMap(\.int)), ints.count == list.count,
                  ints[0] >= 1, zip(ints, ints.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw SpecError(file: t.file, key: t.key("bands"), "expected ascending whole rank boundaries ≥ 1, e.g. [4, 16, 64]")
            }
            s.bands = ints
        } else {
            s.bands = defaultBands
        }
        let g = try MergeSpaces.checkInteger(t, "layer_group", min: 1, max: L, what: "layers sharing one gate vector")
        s.layerGroup = g == nil || g == L ? nil : g
        if let v = t.table["residual_gate"] {
            guard let x = StudySpec.number(v), x >= 0, x <= 1 else {
                throw SpecError(file: t.file, key: t.key("residual_gate"), "expected a number in [0, 1] (the residual band's fixed gate)")
            }
            s.residualGate = x
        }
        if let v = t.table["exp_weight"] {
            guard let x = StudySpec.number(v), x.isFinite else {
                throw SpecError(file: t.file, key: t.key("exp_weight"), "expected a number (λ_R, fixed for every trial)")
            }
            guard context.fixed[RecipeKey.expWeight] == nil else {
                throw SpecError(file: t.file, key: t.key("exp_weight"), "λ_R is fixed twice (here and in merge.fixed): keep one")
            }
            s.expWeight = x
        }
        return s
    }

    static func groups(_ s: MergeSpaceSpec) -> Int { SubspaceConfig.groups(layers: s.layers, layerGroup: s.layerGroup) }

    /// The gate names of one group, bands then the residual (nil: fixed).
    static func gateNames(_ s: MergeSpaceSpec, group: Int) -> [String?] {
        let suffix = groups(s) == 1 ? "" : "_l\(group)"
        return (0..<(s.bands ?? defaultBands).count).map { "gate_\($0)\(suffix)" } + [s.residualGate == nil ? "gate_res\(suffix)" : nil]
    }

    static func parameters(_ s: MergeSpaceSpec, method: MergeMethod, fixed: [String: RecipeValue]) -> [Parameter] {
        var p = (0..<groups(s)).flatMap { gateNames(s, group: $0).compactMap { $0 } }.map { Parameter(name: $0, lower: 0, upper: 1) }
        if fixed[RecipeKey.expWeight] == nil && s.expWeight == nil {
            let b = MergeMethodRegistry.info(.subspace).parameter(RecipeKey.expWeight)!.defaultBounds!
            p.append(Parameter(name: RecipeKey.expWeight, lower: b.lowerBound, upper: b.upperBound))
        }
        return p
    }

    static func recipe(fixed: MergeRecipe, point: [String: Double], space: MergeSpaceSpec) throws -> MergeRecipe {
        var rest = point
        var gates: [Double] = []
        for g in 0..<groups(space) {
            for n in gateNames(space, group: g) {
                guard let n else { gates.append(space.residualGate!); continue }
                guard let x = point[n] else { throw RecipeError(.missing, parameter: n, "subspace searches it") }
                gates.append(x)
                rest[n] = nil
            }
        }
        var r = try GlobalSpace.recipe(fixed: fixed, point: rest)
        r.parameters[RecipeKey.bands] = .list((space.bands ?? defaultBands).map(Double.init))
        r.parameters[RecipeKey.gates] = .list(gates)
        if let x = space.expWeight { r.parameters[RecipeKey.expWeight] = .number(x) }
        if let g = space.layerGroup { r.parameters[RecipeKey.layerGroup] = .number(Double(g)) }
        return r
    }
}

// MARK: The kinds' glue

extension MergeSpaces {
    /// The testbed's context: the family's layer count and the scenario's task-vector statistics.
    static func testbedContext(directory: String, scenario: String, method: MergeMethod, fixed: [String: RecipeValue]) -> SpaceContext {
        let family = { () throws -> (TestbedFamily, Scenario) in
            guard let sc = Scenario(rawValue: scenario) else { throw ObjectiveError.failed("unknown scenario '\(scenario)'") }
            return (try TestbedFamily.shared(directory: URL(fileURLWithPath: directory)), sc)
        }
        return SpaceContext(method: method, fixed: fixed,
                            layers: { let (f, s) = try family(); return f.pairings[s]!.layerCount },
                            stats: { let (f, s) = try family(); return try f.stats(s) })
    }

    /// A command objective's context: its merge table's checkpoints.
    static func commandContext(_ merge: MergeTable) -> SpaceContext {
        let pairing = { () throws -> TensorPairing in
            try TensorPairing(base: try Checkpoint(path: merge.base), vlm: try Checkpoint(path: merge.vlm), expert: try Checkpoint(path: merge.expert))
        }
        return SpaceContext(method: merge.method, fixed: merge.fixed, layers: { try pairing().layerCount },
                            stats: { try computeTaskVectorStats(try pairing()) })
    }
}
