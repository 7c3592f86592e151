import Foundation

// A merge recipe: one named mapping from parameters (a study trial's searched values, CLI
// options, a mergekit YAML file) to a `MergeSpec`. The registry below lists every method's
// parameters, so adding a method or a parameter is a change here (docs/fusion.md "Recipes
// and mergekit YAML"; docs/architecture.md).

/// The three checkpoints of a merge.
public enum ModelRole: String, Codable, Sendable, CaseIterable, CodingKeyRepresentable {
    case base, vlm, expert
}

/// A parameter's value. `list` is a mergekit gradient (per-layer values interpolated across
/// the decoder layers, `mergekitGradient`); only parameters marked `perLayer` take one.
public enum RecipeValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case number(Double), bool(Bool), string(String), list([Double])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let x = try? c.decode(Double.self) { self = .number(x) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let l = try? c.decode([Double].self) { self = .list(l) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a number, a boolean, a string or a list of numbers") }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .number(x): try c.encode(x)
        case let .bool(b): try c.encode(b)
        case let .string(s): try c.encode(s)
        case let .list(l): try c.encode(l)
        }
    }

    public var description: String {
        switch self {
        case let .number(x): return "\(x)"
        case let .bool(b): return "\(b)"
        case let .string(s): return "'\(s)'"
        case let .list(l): return "[" + l.map { "\($0)" }.joined(separator: ", ") + "]"
        }
    }

    var typeName: String {
        switch self {
        case .number: return "a number"
        case .bool: return "a boolean"
        case .string: return "a string"
        case .list: return "a list (gradient)"
        }
    }
}

/// The canonical parameter names (the names studies search and the recipe records).
public enum RecipeKey {
    public static let vlWeight = "vl_weight"
    public static let expWeight = "exp_weight"
    public static let density = "density"
    public static let normalize = "normalize"
    public static let rescale = "rescale"
    public static let signConsensus = "sign_consensus"
    public static let seed = "seed"
    public static let layerStart = "layer_start"
    public static let layerEnd = "layer_end"
    public static let alpha = "alpha"
    public static let prior = "prior"
    public static let decay = "decay"
    public static let schedule = "schedule"
    public static let attention = "attention"
    public static let granularity = "granularity"
    public static let bands = "bands"
    public static let gates = "gates"
    public static let layerGroup = "layer_group"
}

public enum RecipeParameterKind: Sendable, Equatable {
    case number
    /// A whole number (integral, ≥ 0).
    case integer
    case bool
    case choice([String])
    /// A file path (string); `attention` also takes the shares themselves as a list.
    case path
    /// A list of numbers (subspace's bands and gates).
    case numbers
}

public struct RecipeParameter: Sendable {
    public let name: String
    public let kind: RecipeParameterKind
    /// Continuous numbers a study can search (`MergeRecipe.spec(searched:)`).
    public let searchable: Bool
    /// The box a study searches when its spec gives no bounds.
    public let defaultBounds: ClosedRange<Double>?
    public let help: String
    /// The value when the recipe does not give one (nil: none, or `required`).
    public let defaultValue: RecipeValue?
    public let required: Bool
    /// Takes a mergekit gradient (a list of per-layer anchors).
    public let perLayer: Bool

    public init(name: String, kind: RecipeParameterKind, searchable: Bool = false, defaultBounds: ClosedRange<Double>? = nil,
                help: String, defaultValue: RecipeValue? = nil, required: Bool = false, perLayer: Bool = false) {
        self.name = name; self.kind = kind; self.searchable = searchable; self.defaultBounds = defaultBounds
        self.help = help; self.defaultValue = defaultValue; self.required = required; self.perLayer = perLayer
    }
}

public struct MergeMethodInfo: Sendable {
    public let method: MergeMethod
    /// The method's name in mergekit (nil: mergekit has no such method).
    public let mergekitName: String?
    public let parameters: [RecipeParameter]
    public let summary: String

    public func parameter(_ name: String) -> RecipeParameter? { parameters.first { $0.name == name } }
    /// The parameters a study can search, in the order of a default search box.
    public var searchable: [RecipeParameter] { parameters.filter(\.searchable) }
}

public enum MergeMethodRegistry {
    // The shared definitions; bounds are the testbed's paper grids (TestbedGrid.paper): weights
    // [0, 2], density [0.25, 1], so default study boxes stay what they were.
    static let vlWeight = RecipeParameter(name: RecipeKey.vlWeight, kind: .number, searchable: true, defaultBounds: 0...2,
                                          help: "λ_V, weight of the VLM's task vector (mergekit `weight` of the VLM)",
                                          defaultValue: .number(1), perLayer: true)
    static let expWeight = RecipeParameter(name: RecipeKey.expWeight, kind: .number, searchable: true, defaultBounds: 0...2,
                                           help: "λ_R, weight of the expert's task vector (mergekit `weight` of the expert)",
                                           defaultValue: .number(1), perLayer: true)
    static let density = RecipeParameter(name: RecipeKey.density, kind: .number, searchable: true, defaultBounds: 0.25...1,
                                         help: "fraction of task-vector entries kept, in (0, 1] (mergekit `density`)",
                                         defaultValue: .number(1))
    static let normalize = RecipeParameter(name: RecipeKey.normalize, kind: .bool,
                                           help: "divide by the sum of the weights (default: mergekit's default for the method)")
    static let rescale = RecipeParameter(name: RecipeKey.rescale, kind: .choice(["none", "l1", "inverse_density"]),
                                         help: "rescale of the kept entries: none, l1 (mergekit `rescale: true`) or inverse_density (the DARE paper); a boolean is mergekit's l1/none")
    static let signConsensus = RecipeParameter(name: RecipeKey.signConsensus, kind: .bool,
                                               help: "TIES sign election (default: on for ties and dare_ties)")
    static let seed = RecipeParameter(name: RecipeKey.seed, kind: .integer, help: "seed of DARE's random mask", defaultValue: .number(0))
    static func granularity(_ d: Granularity) -> RecipeParameter {
        RecipeParameter(name: RecipeKey.granularity, kind: .choice(Granularity.allCases.map(\.rawValue)),
                        help: "one coefficient pair per layer, tensor or model", defaultValue: .string(d.rawValue))
    }

    public static let all: [MergeMethodInfo] = [
        MergeMethodInfo(method: .linear, mergekitName: "linear", parameters: [vlWeight, expWeight, normalize],
                        summary: "(λ_V θ_V + λ_R θ_R) / (λ_V + λ_R)"),
        MergeMethodInfo(method: .taskArithmetic, mergekitName: "task_arithmetic",
                        parameters: [vlWeight, expWeight, normalize, rescale, signConsensus], summary: "θ_0 + λ_V τ_V + λ_R τ_R"),
        MergeMethodInfo(method: .ties, mergekitName: "ties", parameters: [vlWeight, expWeight, density, normalize, rescale, signConsensus],
                        summary: "magnitude top-k, sign election, normalized"),
        MergeMethodInfo(method: .dareLinear, mergekitName: "dare_linear",
                        parameters: [vlWeight, expWeight, density, seed, normalize, rescale, signConsensus],
                        summary: "random drop with L1 rescale"),
        MergeMethodInfo(method: .dareTies, mergekitName: "dare_ties",
                        parameters: [vlWeight, expWeight, density, seed, normalize, rescale, signConsensus],
                        summary: "random drop with L1 rescale, sign election"),
        MergeMethodInfo(method: .frank, mergekitName: nil, parameters: [
            RecipeParameter(name: RecipeKey.prior, kind: .choice(["none", "attention", "decay"]),
                            help: "FRANK's modality prior (default: attention or decay when that parameter is given, else none)"),
            RecipeParameter(name: RecipeKey.decay, kind: .number, searchable: true, defaultBounds: 0.01...1,
                            help: "the prior's decay α̂ given directly"),
            RecipeParameter(name: RecipeKey.attention, kind: .path,
                            help: "attention file (one visual-attention share per decoder layer), or the shares as a list; α̂ is fitted from it"),
            RecipeParameter(name: RecipeKey.schedule, kind: .choice(FrankSchedule.allCases.map(\.rawValue)),
                            help: "prior schedule: paper (eq. 16) or max", defaultValue: .string(FrankSchedule.paper.rawValue)),
            granularity(.layer),
        ], summary: "closed form ‖τ_t‖² ratios per layer, optional attention prior"),
        MergeMethodInfo(method: .metagpt, mergekitName: nil, parameters: [granularity(.model)], summary: "closed form ‖τ_t‖² ratios"),
        MergeMethodInfo(method: .nan, mergekitName: nil, parameters: [granularity(.model)], summary: "closed form inverse parameter norms"),
        MergeMethodInfo(method: .layerRange, mergekitName: nil, parameters: [
            RecipeParameter(name: RecipeKey.alpha, kind: .number, searchable: true, defaultBounds: 0...2,
                            help: "α, weight of the expert's task vector inside the layer range", defaultValue: .number(1)),
            RecipeParameter(name: RecipeKey.layerStart, kind: .integer, help: "first decoder layer of the range (0-based)", required: true),
            RecipeParameter(name: RecipeKey.layerEnd, kind: .integer, help: "last decoder layer of the range (0-based, inclusive)", required: true),
            RecipeParameter(name: RecipeKey.normalize, kind: .bool, help: "only false: θ_V + α·τ_R has no division by the weights"),
        ], summary: "θ_V + α·τ_R on decoder layers [start, end]"),
        MergeMethodInfo(method: .subspace, mergekitName: nil, parameters: [
            RecipeParameter(name: RecipeKey.expWeight, kind: .number, searchable: true, defaultBounds: 0...2,
                            help: "λ_R, weight of the expert's gated task vector", defaultValue: .number(1)),
            RecipeParameter(name: RecipeKey.bands, kind: .numbers,
                            help: "ascending rank boundaries of the bands (e.g. [4, 16, 64]); the last is the truncation rank", required: true),
            RecipeParameter(name: RecipeKey.gates, kind: .numbers,
                            help: "gates in [0, 1], per gate group: one per band then the residual's", required: true),
            RecipeParameter(name: RecipeKey.layerGroup, kind: .integer,
                            help: "consecutive decoder layers sharing one gate vector (default: all layers share one)"),
        ], summary: "θ_V + λ_R·(Σ_b g_b U_b S_b V_bᵀ + g_res·residual) per linear-layer matrix (FRISM)"),
    ]

    public static func info(_ m: MergeMethod) -> MergeMethodInfo {
        guard let i = all.first(where: { $0.method == m }) else { fatalError("method \(m.rawValue) missing from MergeMethodRegistry.all") }
        return i
    }

    /// The method mergekit calls `name`, if mergetune has it.
    public static func method(mergekitName name: String) -> MergeMethod? {
        all.first { $0.mergekitName == name }?.method
    }
}

/// A recipe that does not give a valid merge; `parameter` names the culprit.
public struct RecipeError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public enum Kind: String, Sendable, Equatable {
        case unknown, wrongType = "wrong_type", outOfRange = "out_of_range", searchedAndFixed = "searched_and_fixed"
        case notSearchable = "not_searchable", missing, invalid
    }
    public let kind: Kind
    public let parameter: String?
    public let message: String
    public init(_ kind: Kind, parameter: String?, _ message: String) {
        self.kind = kind; self.parameter = parameter; self.message = message
    }
    public var description: String { parameter.map { "parameter '\($0)': \(message)" } ?? message }
    public var errorDescription: String? { description }
}

/// A merge as data: the method, the checkpoints by role, and fixed parameter values by
/// canonical name. A study searches some parameters and fixes the rest; `spec(searched:)`
/// layers the searched values over the fixed ones and checks everything against the registry.
public struct MergeRecipe: Codable, Sendable, Equatable {
    public var method: MergeMethod
    /// Checkpoint paths (empty when the caller supplies the models, e.g. the testbed).
    public var models: [ModelRole: String]
    /// Fixed values by parameter name.
    public var parameters: [String: RecipeValue]

    public init(method: MergeMethod, models: [ModelRole: String] = [:], parameters: [String: RecipeValue] = [:]) {
        self.method = method
        self.models = models
        self.parameters = parameters
    }

    public var info: MergeMethodInfo { MergeMethodRegistry.info(method) }

    /// The parameters a study can still search: the method's searchable ones not fixed here.
    public var searchable: [RecipeParameter] { info.searchable.filter { parameters[$0.name] == nil } }

    /// The merge at the searched values layered over the fixed ones. Errors name the parameter:
    /// unknown to the method, wrong type, out of range, searched and fixed at once.
    public func spec(searched: [String: Double] = [:]) throws -> MergeSpec {
        try resolve(searched: searched, readFiles: true)
    }

    /// Every check of `spec(searched:)` except reading files (the attention file): for
    /// validating options before any input is opened.
    public func check(searched: [String: Double] = [:]) throws {
        _ = try resolve(searched: searched, readFiles: false)
    }

    /// JSON (sorted keys), as recorded in a checkpoint's provenance.
    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? e.encode(self), let s = String(data: data, encoding: .utf8) else { return "{}" }
        return s
    }

    private func resolve(searched: [String: Double], readFiles: Bool) throws -> MergeSpec {
        let info = self.info
        let m = method.rawValue
        let known = info.parameters.map(\.name).joined(separator: ", ")
        for name in parameters.keys.sorted() where info.parameter(name) == nil {
            throw RecipeError(.unknown, parameter: name, "not a parameter of \(m) (its parameters: \(known.isEmpty ? "none" : known))")
        }
        for name in searched.keys.sorted() {
            guard let p = info.parameter(name) else {
                throw RecipeError(.unknown, parameter: name, "not a parameter of \(m) (searchable: \(info.searchable.map(\.name).joined(separator: ", ")))")
            }
            guard p.searchable else { throw RecipeError(.notSearchable, parameter: name, "\(m) cannot search it: it is not a continuous number") }
            guard parameters[name] == nil else {
                throw RecipeError(.searchedAndFixed, parameter: name, "searched and also fixed to \(parameters[name]!): remove one of them")
            }
        }
        var values = parameters
        for (k, x) in searched { values[k] = .number(x) }
        for p in info.parameters where p.required && values[p.name] == nil {
            throw RecipeError(.missing, parameter: p.name, "\(m) needs it: \(p.help)")
        }

        // Typed readers; each error names the parameter and what it expected.
        func wrong(_ name: String, _ v: RecipeValue, _ expected: String) -> RecipeError {
            RecipeError(.wrongType, parameter: name, "expected \(expected), got \(v.typeName) \(v)")
        }
        func number(_ name: String) throws -> Double? {
            guard let v = values[name] else { return nil }
            guard case let .number(x) = v else { throw wrong(name, v, "a number") }
            guard x.isFinite else { throw RecipeError(.outOfRange, parameter: name, "must be finite, got \(x)") }
            return x
        }
        func numberOrGradient(_ name: String) throws -> (Double?, [Double]?) {
            guard let v = values[name] else { return (nil, nil) }
            switch v {
            case .number: return (try number(name), nil)
            case let .list(g):
                guard !g.isEmpty else { throw RecipeError(.outOfRange, parameter: name, "the gradient is empty: give at least one value") }
                guard g.allSatisfy(\.isFinite) else { throw RecipeError(.outOfRange, parameter: name, "gradient values must be finite, got \(v)") }
                return (g[0], g)
            default: throw wrong(name, v, "a number or a list of numbers (gradient)")
            }
        }
        func integer(_ name: String) throws -> Int? {
            guard let v = values[name] else { return nil }
            guard case let .number(x) = v else { throw wrong(name, v, "a whole number") }
            guard x.isFinite, x == x.rounded(), x >= 0, x < 9.0e15 else {
                throw RecipeError(.outOfRange, parameter: name, "must be a whole number ≥ 0, got \(x)")
            }
            return Int(x)
        }
        func bool(_ name: String) throws -> Bool? {
            guard let v = values[name] else { return nil }
            guard case let .bool(b) = v else { throw wrong(name, v, "true or false") }
            return b
        }
        func choice<T: RawRepresentable & CaseIterable>(_ name: String, _: T.Type) throws -> T? where T.RawValue == String {
            guard let v = values[name] else { return nil }
            let options = T.allCases.map(\.rawValue).joined(separator: ", ")
            guard case let .string(s) = v else { throw wrong(name, v, "one of \(options)") }
            guard let t = T(rawValue: s) else { throw RecipeError(.outOfRange, parameter: name, "unknown value '\(s)' (known: \(options))") }
            return t
        }

        var spec = MergeSpec(method: method)
        switch method {
        case .linear, .taskArithmetic, .ties, .dareLinear, .dareTies:
            let (vl, vlg) = try numberOrGradient(RecipeKey.vlWeight)
            let (ex, exg) = try numberOrGradient(RecipeKey.expWeight)
            spec.vlWeight = vl ?? 1
            spec.expWeight = ex ?? 1
            spec.vlWeightGradient = vlg
            spec.expWeightGradient = exg
            if let d = try number(RecipeKey.density) {
                guard d > 0, d <= 1 else { throw RecipeError(.outOfRange, parameter: RecipeKey.density, "must be in (0, 1], got \(d)") }
                spec.density = d
            }
            if let s = try integer(RecipeKey.seed) { spec.seed = UInt64(s) }
            spec.normalize = try bool(RecipeKey.normalize)
            spec.signConsensus = try bool(RecipeKey.signConsensus)
            if let v = values[RecipeKey.rescale] {
                if case let .bool(b) = v { spec.rescale = b ? .l1 : TaskArithmeticConfig.Rescale.none }  // mergekit's boolean
                else { spec.rescale = try choice(RecipeKey.rescale, TaskArithmeticConfig.Rescale.self) }
            }
            if method == .linear, spec.vlWeightGradient == nil, spec.expWeightGradient == nil, spec.config.normalize,
               spec.vlWeight + spec.expWeight == 0 {
                throw RecipeError(.outOfRange, parameter: RecipeKey.vlWeight, "linear with normalize divides by vl_weight + exp_weight, which is 0")
            }
        case .layerRange:
            spec.expWeight = try number(RecipeKey.alpha) ?? 1
            spec.vlWeight = 1
            let a = try integer(RecipeKey.layerStart)!, b = try integer(RecipeKey.layerEnd)!
            guard a <= b else {
                throw RecipeError(.outOfRange, parameter: RecipeKey.layerEnd, "the range \(a)-\(b) is empty: layer_end must be ≥ layer_start")
            }
            spec.layerRange = a...b
            if let n = try bool(RecipeKey.normalize) {
                guard !n else {
                    throw RecipeError(.outOfRange, parameter: RecipeKey.normalize, "layer_range takes only false: its formula θ_V + α·τ_R has no division by the weights")
                }
                spec.normalize = false
            }
        case .frank:
            spec.schedule = try choice(RecipeKey.schedule, FrankSchedule.self) ?? .paper
            spec.granularity = try choice(RecipeKey.granularity, Granularity.self)
            let decay = try number(RecipeKey.decay)
            var shares: [Double]? = nil
            if let v = values[RecipeKey.attention] {
                switch v {
                case let .list(s): shares = s
                case let .string(path):
                    if readFiles {
                        do { shares = try readAttentionShares(path: path) } catch {
                            throw RecipeError(.invalid, parameter: RecipeKey.attention, "\(error)")
                        }
                    } else { shares = [] }
                default: throw wrong(RecipeKey.attention, v, "a file path or a list of shares")
                }
            }
            if decay != nil && shares != nil {
                throw RecipeError(.invalid, parameter: RecipeKey.decay, "attention and decay are exclusive: the decay is fitted from the attention shares")
            }
            let prior = try string(values[RecipeKey.prior], RecipeKey.prior, ["none", "attention", "decay"])
                ?? (shares != nil ? "attention" : decay != nil ? "decay" : "none")
            switch prior {
            case "attention":
                guard let shares else { throw RecipeError(.missing, parameter: RecipeKey.attention, "prior 'attention' needs the attention file") }
                spec.prior = readFiles ? .attention(shares) : .none
            case "decay":
                guard let decay else { throw RecipeError(.missing, parameter: RecipeKey.decay, "prior 'decay' needs the decay") }
                spec.prior = .decay(decay)
            default:
                guard shares == nil && decay == nil else {
                    throw RecipeError(.invalid, parameter: RecipeKey.prior, "prior 'none' with \(shares != nil ? "attention" : "decay") given: drop one")
                }
            }
        case .metagpt, .nan:
            spec.granularity = try choice(RecipeKey.granularity, Granularity.self)
        case .subspace:
            spec.vlWeight = 1
            spec.expWeight = try number(RecipeKey.expWeight) ?? 1
            func list(_ name: String) throws -> [Double] {
                guard let v = values[name] else { throw RecipeError(.missing, parameter: name, "subspace needs it") }
                guard case let .list(l) = v else { throw wrong(name, v, "a list of numbers") }
                guard l.allSatisfy(\.isFinite) else { throw RecipeError(.outOfRange, parameter: name, "values must be finite, got \(v)") }
                return l
            }
            let bands = try list(RecipeKey.bands)
            guard !bands.isEmpty, bands.allSatisfy({ $0 >= 1 && $0 == $0.rounded() && $0 < 1e9 }),
                  zip(bands, bands.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw RecipeError(.outOfRange, parameter: RecipeKey.bands, "expected ascending whole rank boundaries ≥ 1, got \(bands)")
            }
            let gates = try list(RecipeKey.gates)
            guard !gates.isEmpty, gates.count % (bands.count + 1) == 0 else {
                throw RecipeError(.outOfRange, parameter: RecipeKey.gates, "\(gates.count) gates: expected a multiple of \(bands.count + 1) (the bands and the residual, per gate group)")
            }
            let group = try integer(RecipeKey.layerGroup)
            if let group, group < 1 { throw RecipeError(.outOfRange, parameter: RecipeKey.layerGroup, "must be ≥ 1") }
            spec.subspace = SubspaceConfig(bands: bands.map { Int($0) }, gates: gates, layerGroup: group)
        }
        do { try spec.validate() } catch {
            throw RecipeError(.invalid, parameter: nil, "\(method.rawValue): \(error)")
        }
        return spec
    }

    private func string(_ v: RecipeValue?, _ name: String, _ options: [String]) throws -> String? {
        guard let v else { return nil }
        guard case let .string(s) = v else {
            throw RecipeError(.wrongType, parameter: name, "expected one of \(options.joined(separator: ", ")), got \(v.typeName) \(v)")
        }
        guard options.contains(s) else { throw RecipeError(.outOfRange, parameter: name, "unknown value '\(s)' (known: \(options.joined(separator: ", ")))") }
        return s
    }
}

extension MergeRecipe {
    /// The recipe of a spec (the inverse of `spec()` for the values the method takes): weights
    /// always, density and seed where the method has them, overrides (normalize, rescale, sign
    /// consensus, granularity) only when set. An attention prior is recorded as its shares.
    public init(spec: MergeSpec, models: [ModelRole: String] = [:]) {
        var p: [String: RecipeValue] = [:]
        let info = MergeMethodRegistry.info(spec.method)
        func has(_ n: String) -> Bool { info.parameter(n) != nil }
        switch spec.method {
        case .linear, .taskArithmetic, .ties, .dareLinear, .dareTies:
            p[RecipeKey.vlWeight] = spec.vlWeightGradient.map { .list($0) } ?? .number(spec.vlWeight)
            p[RecipeKey.expWeight] = spec.expWeightGradient.map { .list($0) } ?? .number(spec.expWeight)
            if has(RecipeKey.density) { p[RecipeKey.density] = .number(spec.density) }
            if has(RecipeKey.seed) { p[RecipeKey.seed] = .number(Double(spec.seed)) }
            if let r = spec.rescale { p[RecipeKey.rescale] = .string(r.rawValue) }
            if let s = spec.signConsensus { p[RecipeKey.signConsensus] = .bool(s) }
        case .layerRange:
            p[RecipeKey.alpha] = .number(spec.expWeight)
            if let r = spec.layerRange {
                p[RecipeKey.layerStart] = .number(Double(r.lowerBound))
                p[RecipeKey.layerEnd] = .number(Double(r.upperBound))
            }
        case .frank:
            switch spec.prior {
            case .none: break
            case let .decay(a): p[RecipeKey.decay] = .number(a)
            case let .attention(s): p[RecipeKey.attention] = .list(s)
            }
            p[RecipeKey.schedule] = .string(spec.schedule.rawValue)
            if let g = spec.granularity { p[RecipeKey.granularity] = .string(g.rawValue) }
        case .metagpt, .nan:
            if let g = spec.granularity { p[RecipeKey.granularity] = .string(g.rawValue) }
        case .subspace:
            p[RecipeKey.expWeight] = .number(spec.expWeight)
            if let s = spec.subspace {
                p[RecipeKey.bands] = .list(s.bands.map(Double.init))
                p[RecipeKey.gates] = .list(s.gates)
                if let g = s.layerGroup { p[RecipeKey.layerGroup] = .number(Double(g)) }
            }
        }
        if let n = spec.normalize, has(RecipeKey.normalize) { p[RecipeKey.normalize] = .bool(n) }
        self.init(method: spec.method, models: models, parameters: p)
    }
}
