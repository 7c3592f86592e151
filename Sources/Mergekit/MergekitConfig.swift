import Foundation
import Fusion
import MergetuneNumerics
import Yams

/// A mergekit config file that mergetune cannot read or a recipe mergekit cannot express;
/// the message names the file, the line and the key.
public struct MergekitError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public let message: String
    /// The offending key (dotted path, e.g. `models[1].parameters.epsilon`), when there is one.
    public let key: String?
    public init(_ message: String, key: String? = nil) { self.message = message; self.key = key }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// A parsed mergekit config: the recipe plus the keys that are not part of a merge's definition.
public struct MergekitDocument: Sendable, Equatable {
    public var recipe: MergeRecipe
    /// mergekit's `out_dtype` (the output dtype), if given.
    public var outDType: String?
    /// mergekit's `dtype` (its computation dtype; mergetune always computes in fp32).
    public var dtype: String?
}

/// mergekit's YAML config format (mergekit 0.1.5) for the methods both tools have:
/// `linear`, `task_arithmetic`, `ties`, `dare_linear`, `dare_ties`. See docs/fusion.md
/// "Recipes and mergekit YAML" for the keys, role assignment and the differences.
public enum MergekitConfig {
    /// The key on a model entry that names its role (`vlm` or `expert`); mergekit ignores it.
    public static let roleKey = "mergetune_role"
    /// The top-level mapping of mergetune's own settings (`seed`; `base_model` for linear,
    /// whose mergekit config has none); mergekit ignores it.
    public static let mergetuneKey = "mergetune"
    public static let fileName = "mergekit_config.yml"

    /// The recipe of a mergekit config. `roles` assigns roles by path (from the command line:
    /// `--vlm P` gives the role to the entry whose `model` is P, `--base P` supplies a base the
    /// file lacks); see `parseDocument`.
    public static func parse(yaml: String, file: String = "<yaml>", roles: [ModelRole: String] = [:]) throws -> MergeRecipe {
        try parseDocument(yaml: yaml, file: file, roles: roles).recipe
    }

    /// Reads a config. Roles: `base_model` is the base (an entry of `models` naming the base is
    /// skipped, as mergekit does for the non-base parameters); the other two entries are the
    /// VLM and the expert, assigned (1) by their `mergetune_role` key, (2) by `roles` paths,
    /// (3) in order: the first unassigned entry is the VLM, the next the expert.
    public static func parseDocument(yaml: String, file: String = "<yaml>", roles: [ModelRole: String] = [:]) throws -> MergekitDocument {
        let root: Node
        do {
            guard let r = try Yams.compose(yaml: yaml) else { throw MergekitError("\(file): empty config") }
            root = r
        } catch let e as MergekitError { throw e } catch {
            throw MergekitError("\(file): not valid YAML: \(error)")
        }
        let r = Reader(file: file)
        let top = try r.mapping(root, "the config")

        // Keys mergekit has that mergetune does not implement, and why.
        let refused: [String: String] = [
            "slices": "per-slice layer ranges and sources are not supported (one model pair over all layers only); layer_range covers the common case",
            "modules": "per-module definitions are not supported",
            "tokenizer_source": "tokenizer merging is not supported: mergetune copies the VLM's tokenizer",
            "tokenizer": "tokenizer merging is not supported: mergetune copies the VLM's tokenizer",
            "chat_template": "chat templates are copied from the VLM; setting one is not supported",
        ]
        let allowed: Set<String> = ["merge_method", "base_model", "models", "parameters", "dtype", "out_dtype", mergetuneKey]
        for (k, v) in top {
            let at = r.keyNode(root, k) ?? v  // the key's line, not its value's
            if let why = refused[k] { throw r.error(at, k, "not supported: \(why)") }
            guard allowed.contains(k) else {
                throw r.error(at, k, "unknown key (mergetune reads \(allowed.sorted().joined(separator: ", ")))")
            }
        }
        guard let methodNode = top.first(where: { $0.0 == "merge_method" })?.1 else {
            throw MergekitError("\(file): missing key 'merge_method'", key: "merge_method")
        }
        let methodName = try r.string(methodNode, "merge_method")
        guard let method = MergeMethodRegistry.method(mergekitName: methodName) else {
            let names = MergeMethodRegistry.all.compactMap(\.mergekitName).joined(separator: ", ")
            throw r.error(methodNode, "merge_method", "'\(methodName)' is not supported (mergetune has \(names))")
        }
        func value(_ k: String) -> Node? { top.first { $0.0 == k }?.1 }

        var models: [ModelRole: String] = [:]
        if let b = value("base_model") {
            // mergekit's linear takes base_model as a third input that needs a weight.
            guard method != .linear else {
                throw r.error(r.keyNode(root, "base_model") ?? b, "base_model", "mergekit's linear has no base model (it would need a weight as a third input); give the base for mergetune's tensor pairing as `mergetune: {base_model: PATH}` or --base")
            }
            models[.base] = try r.modelPath(b, "base_model")
        }
        let section = try value(mergetuneKey).map { try r.mapping($0, mergetuneKey) } ?? []
        if let b = section.first(where: { $0.0 == "base_model" })?.1 {
            guard method == .linear else {
                throw r.error(b, "\(mergetuneKey).base_model", "only for linear (whose mergekit config has no base): use the top-level base_model")
            }
            models[.base] = try r.modelPath(b, "\(mergetuneKey).base_model")
        }
        if let given = roles[.base] {
            if let inFile = models[.base], !samePath(inFile, given) {
                throw MergekitError("\(file): base_model is \(inFile) but the command line gives \(given)", key: "base_model")
            }
            models[.base] = given
        }

        // The models list: entries (path, role hint, parameters).
        struct Entry { var path: String; var role: ModelRole?; var params: [(String, Node)]; var index: Int; var node: Node }
        guard let list = value("models") else { throw MergekitError("\(file): missing key 'models'", key: "models") }
        guard case let .sequence(seq) = list else { throw r.error(list, "models", "expected a list of models") }
        var entries: [Entry] = []
        for (i, item) in seq.enumerated() {
            let key = "models[\(i)]"
            let m = try r.mapping(item, key)
            var path: String? = nil, role: ModelRole? = nil, params: [(String, Node)] = []
            for (k, v) in m {
                switch k {
                case "model": path = try r.modelPath(v, "\(key).model")
                case roleKey:
                    let s = try r.string(v, "\(key).\(roleKey)")
                    guard let ro = ModelRole(rawValue: s), ro != .base else {
                        throw r.error(v, "\(key).\(roleKey)", "'\(s)' is not a role: use vlm or expert (the base is base_model)")
                    }
                    role = ro
                case "parameters": params = try r.mapping(v, "\(key).parameters")
                default: throw r.error(r.keyNode(item, k) ?? v, "\(key).\(k)", "unknown key (a model entry has model, parameters and \(roleKey))")
                }
            }
            guard let path else { throw r.error(item, "\(key).model", "missing") }
            if let b = models[.base], samePath(b, path) { continue }  // the base listed among the models
            entries.append(Entry(path: path, role: role, params: params, index: i, node: item))
        }
        guard entries.count == 2 else {
            throw r.error(list, "models", "mergetune merges exactly two models besides base_model (a VLM and an expert); this config lists \(entries.count): \(entries.map(\.path).joined(separator: ", "))")
        }
        // (1) role hints, (2) command-line paths, (3) order.
        for role in [ModelRole.vlm, .expert] {
            let hinted = entries.filter { $0.role == role }
            if hinted.count > 1 { throw r.error(list, "models", "two models have \(roleKey): \(role.rawValue)") }
        }
        for role in [ModelRole.vlm, .expert] {
            guard let p = roles[role] else { continue }
            guard let i = entries.firstIndex(where: { samePath($0.path, p) }) else {
                throw MergekitError("\(file): the command line's --\(role.rawValue) \(p) is none of the config's models (\(entries.map(\.path).joined(separator: ", ")))", key: "models")
            }
            if let h = entries[i].role, h != role {
                throw r.error(entries[i].node, "models[\(entries[i].index)].\(roleKey)", "says \(h.rawValue) but the command line gives it as --\(role.rawValue)")
            }
            entries[i].role = role
        }
        for role in [ModelRole.vlm, .expert] where !entries.contains(where: { $0.role == role }) {
            if let i = entries.firstIndex(where: { $0.role == nil }) { entries[i].role = role }
        }
        guard Set(entries.compactMap(\.role)) == [.vlm, .expert] else {
            throw r.error(list, "models", "both models have the same role: give one \(roleKey): vlm and the other \(roleKey): expert")
        }
        let vlm = entries.first { $0.role == .vlm }!, expert = entries.first { $0.role == .expert }!
        models[.vlm] = vlm.path
        models[.expert] = expert.path

        // Parameters: the model's own first, then the global ones (mergekit's precedence).
        let global = try value("parameters").map { try r.mapping($0, "parameters") } ?? []
        let perModel: Set<String> = method == .linear ? ["weight"] : ["weight", "density"]
        let globalOnly: Set<String> = method == .linear ? ["normalize"] : ["normalize", "rescale", "int8_mask", "lambda"]
        for e in [vlm, expert] {
            for (k, v) in e.params where !perModel.contains(k) {
                throw r.error(v, "models[\(e.index)].parameters.\(k)", unsupportedParameter(k, method: methodName, scope: perModel))
            }
        }
        for (k, v) in global where !perModel.contains(k) && !globalOnly.contains(k) {
            throw r.error(v, "parameters.\(k)", unsupportedParameter(k, method: methodName, scope: perModel.union(globalOnly)))
        }
        func setting(_ e: Entry, _ name: String) -> (Node, String)? {
            if let v = e.params.first(where: { $0.0 == name })?.1 { return (v, "models[\(e.index)].parameters.\(name)") }
            if let v = global.first(where: { $0.0 == name })?.1 { return (v, "parameters.\(name)") }
            return nil
        }
        var p: [String: RecipeValue] = [:]
        for (e, canonical) in [(vlm, RecipeKey.vlWeight), (expert, RecipeKey.expWeight)] {
            guard let (v, key) = setting(e, "weight") else {
                throw r.error(e.node, "models[\(e.index)].parameters.weight", "missing: \(methodName) needs a weight for \(e.path) (mergekit requires it)")
            }
            p[canonical] = try r.numberOrGradient(v, key)
        }
        if perModel.contains("density") {
            let dv = try setting(vlm, "density").map { try r.numberOrGradient($0.0, $0.1) }
            let de = try setting(expert, "density").map { try r.numberOrGradient($0.0, $0.1) }
            for (d, e) in [(dv, vlm), (de, expert)] {
                if case .list = d {
                    let (node, key) = setting(e, "density")!
                    throw r.error(node, key, "a density gradient (per-layer density) is not supported: mergetune's kernel takes one density per merge")
                }
            }
            if dv != de {
                throw r.error(expert.node, "models[\(expert.index)].parameters.density",
                              "the VLM's density (\(dv.map { "\($0)" } ?? "default 1")) and the expert's (\(de.map { "\($0)" } ?? "default 1")) differ: mergetune uses one density for both")
            }
            if let dv { p[RecipeKey.density] = dv }
        }
        for (k, v) in global where globalOnly.contains(k) {
            switch k {
            case "normalize": p[RecipeKey.normalize] = .bool(try r.bool(v, "parameters.normalize"))
            case "rescale": p[RecipeKey.rescale] = .bool(try r.bool(v, "parameters.rescale"))
            case "int8_mask": _ = try r.bool(v, "parameters.int8_mask")  // mask storage only: the output is the same
            case "lambda":
                guard case let .number(x) = try r.numberOrGradient(v, "parameters.lambda"), x == 1 else {
                    throw r.error(v, "parameters.lambda", "only 1 is supported: scale the weights instead (mergetune has no global λ)")
                }
            default: break
            }
        }
        do {
            for (k, v) in section where k != "base_model" {
                guard k == "seed" else { throw r.error(v, "\(mergetuneKey).\(k)", "unknown key (mergetune's section has seed and, for linear, base_model)") }
                guard MergeMethodRegistry.info(method).parameter(RecipeKey.seed) != nil else {
                    throw r.error(v, "\(mergetuneKey).seed", "\(methodName) has no random mask: seed applies to dare_linear and dare_ties")
                }
                p[RecipeKey.seed] = try r.numberOrGradient(v, "\(mergetuneKey).seed")
            }
        }
        let recipe = MergeRecipe(method: method, models: models, parameters: p)
        do { try recipe.check() } catch {
            throw MergekitError("\(file): \(error)", key: (error as? RecipeError)?.parameter)
        }
        return MergekitDocument(recipe: recipe,
                                outDType: try value("out_dtype").map { try r.string($0, "out_dtype") },
                                dtype: try value("dtype").map { try r.string($0, "dtype") })
    }

    static func unsupportedParameter(_ k: String, method: String, scope: Set<String>) -> String {
        let why: String
        switch k {
        case "gamma", "epsilon": why = "it belongs to breadcrumbs/della, which mergetune does not have"
        case "filter", "value": why = "conditional parameters (filters) are not supported"
        default: why = "not a parameter mergetune takes here"
        }
        return "not supported for \(method): \(why) (supported here: \(scope.sorted().joined(separator: ", ")))"
    }

    /// Paths compare as given, or equal once standardized.
    static func samePath(_ a: String, _ b: String) -> Bool {
        a == b || URL(fileURLWithPath: a).standardizedFileURL.path == URL(fileURLWithPath: b).standardizedFileURL.path
    }

    // MARK: - Rendering

    /// The recipe as a mergekit config. Throws (naming the parameter) for what mergekit cannot
    /// express: methods it does not have (frank, metagpt, nan, layer_range: their per-layer
    /// coefficients come from the checkpoints or a layer range, and mergekit would apply a
    /// gradient's first value to the embeddings, final norm and head, so no config reproduces
    /// them exactly), `rescale: inverse_density`, sign election other than the method's own,
    /// and a recipe without model paths. DARE's seed goes into the `mergetune:` section, which
    /// mergekit ignores (its masks come from torch's generator).
    public static func render(_ recipe: MergeRecipe) throws -> String {
        let info = recipe.info
        guard let name = info.mergekitName else {
            let why = recipe.method == .layerRange
                ? "layer_range keeps the VLM outside [layer_start, layer_end] and everywhere outside the decoder; mergekit would need slices, which mergetune does not render"
                : recipe.method == .subspace
                ? "subspace gates rank bands of each matrix's SVD of the expert's task vector; mergekit's methods weight whole tensors"
                : "its coefficients are computed from the checkpoints' task-vector norms"
            throw MergekitError("\(recipe.method.rawValue) cannot be written as a mergekit config: mergekit has no such method (\(why))")
        }
        let spec: MergeSpec
        do { spec = try recipe.spec() } catch { throw MergekitError("\(error)", key: (error as? RecipeError)?.parameter) }
        for role in ModelRole.allCases where recipe.models[role] == nil && !(role == .base && recipe.method == .linear) {
            throw MergekitError("the recipe has no \(role.rawValue) path: a mergekit config names its models (give the checkpoint paths)", key: role.rawValue)
        }
        let defaults = TaskArithmeticConfig.defaults(for: recipe.method)
        if let r = spec.rescale, r == .inverseDensity {
            throw MergekitError("parameter 'rescale': inverse_density has no mergekit equivalent (mergekit's rescale is l1 or none)", key: RecipeKey.rescale)
        }
        if let s = spec.signConsensus, s != defaults.signConsensus {
            throw MergekitError("parameter 'sign_consensus': \(name) in mergekit always \(defaults.signConsensus ? "elects signs" : "skips sign election"); \(s) cannot be expressed", key: RecipeKey.signConsensus)
        }

        func num(_ x: Double) -> Node { Node(yamlNumber(x), Tag(.float), .plain) }
        func value(_ v: RecipeValue) -> Node {
            switch v {
            case let .number(x): return num(x)
            case let .list(l): return Node(l.map(num), Tag(.seq), .flow)
            case let .bool(b): return Node(b ? "true" : "false", Tag(.bool), .plain)
            case let .string(s): return Node(s)
            }
        }
        var top: [(Node, Node)] = [(Node("merge_method"), Node(name))]
        var section: [(Node, Node)] = []
        if let b = recipe.models[.base] {
            // mergekit's linear would take base_model as a weighted input: mergetune's section keeps it.
            if recipe.method == .linear { section.append((Node("base_model"), Node(b))) } else { top.append((Node("base_model"), Node(b))) }
        }
        var entries: [Node] = []
        for (role, key) in [(ModelRole.vlm, RecipeKey.vlWeight), (.expert, RecipeKey.expWeight)] {
            var params: [(Node, Node)] = [(Node("weight"), value(recipe.parameters[key] ?? .number(1)))]
            if info.parameter(RecipeKey.density) != nil, let d = recipe.parameters[RecipeKey.density] { params.append((Node("density"), value(d))) }
            entries.append(Node([(Node("model"), Node(recipe.models[role]!)), (Node(roleKey), Node(role.rawValue)),
                                 (Node("parameters"), Node(params))]))
        }
        top.append((Node("models"), Node(entries)))
        var global: [(Node, Node)] = []
        if let n = spec.normalize { global.append((Node("normalize"), value(.bool(n)))) }
        if let r = spec.rescale { global.append((Node("rescale"), value(.bool(r == .l1)))) }
        if !global.isEmpty { top.append((Node("parameters"), Node(global))) }
        if recipe.parameters[RecipeKey.seed] != nil { section.append((Node("seed"), Node(String(spec.seed), Tag(.int), .plain))) }
        if !section.isEmpty { top.append((Node(mergetuneKey), Node(section))) }
        let body = try Yams.serialize(node: Node(top), indent: 2)
        return "# mergetune recipe as a mergekit (0.1.5) config; mergekit ignores the mergetune keys.\n" + body
    }

    /// A closed-form or layer_range merge as the task_arithmetic config with its resolved
    /// per-layer coefficients as gradients, when that config reproduces them exactly: one pair
    /// per layer (not per tensor), the other group (embeddings, final norm, head) equal to
    /// layer 0's (mergekit gives those tensors the first anchor), and mergekit's interpolation
    /// of the L anchors at t = i/(L − 1) giving back each layer's value bit for bit. Constant
    /// coefficients (metagpt and nan at model granularity) become scalars. Otherwise it
    /// throws, saying which condition fails.
    public static func render(_ recipe: MergeRecipe, resolved c: Coefficients) throws -> String {
        guard recipe.method.isClosedForm || recipe.method == .layerRange else { return try render(recipe) }
        let m = recipe.method.rawValue
        guard c.perTensor.isEmpty else {
            throw MergekitError("\(m) at tensor granularity has one coefficient pair per tensor: a mergekit gradient has one value per layer")
        }
        guard let first = c.layers.first else { throw MergekitError("\(m): no decoder layers") }
        guard c.other == first else {
            throw MergekitError("\(m): the embeddings, final norm and head have (λ_V, λ_R) = (\(c.other.vl), \(c.other.exp)) but layer 0 has (\(first.vl), \(first.exp)); mergekit gives those tensors the gradient's first value, so no config reproduces this merge exactly")
        }
        let L = c.layers.count
        func value(_ xs: [Double], _ name: String) throws -> RecipeValue {
            if xs.allSatisfy({ $0 == xs[0] }) { return .number(xs[0]) }
            for i in 0..<L where mergekitGradient(xs, layer: i, layers: L).bitPattern != xs[i].bitPattern {
                throw MergekitError("\(m): mergekit's interpolation of \(L) \(name) anchors at layer \(i) gives \(mergekitGradient(xs, layer: i, layers: L)), not \(xs[i]) (t·(L−1) rounds below \(i)); no config reproduces this merge exactly")
            }
            return .list(xs)
        }
        let ta = MergeRecipe(method: .taskArithmetic, models: recipe.models,
                             parameters: [RecipeKey.vlWeight: try value(c.layers.map(\.vl), "λ_V"),
                                          RecipeKey.expWeight: try value(c.layers.map(\.exp), "λ_R")])
        return "# \(m) resolved on these checkpoints: its per-layer coefficients as task_arithmetic weights.\n" + (try render(ta))
    }

    /// Shortest round-trip decimal with a '.' in the mantissa, so PyYAML (YAML 1.1) reads a float.
    static func yamlNumber(_ x: Double) -> String {
        var s = "\(x)"
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }), !s[..<e].contains(".") { s.insert(contentsOf: ".0", at: e) }
        if let e = s.firstIndex(of: "e"), s[s.index(after: e)] != "-" && s[s.index(after: e)] != "+" { s.insert("+", at: s.index(after: e)) }
        return s
    }
}

/// Typed access to YAML nodes with errors that name the file, line and key.
struct Reader {
    let file: String

    func error(_ node: Node, _ key: String, _ message: String) -> MergekitError {
        let at = node.mark.map { "\(file):\($0.line)" } ?? file
        return MergekitError("\(at): key '\(key)': \(message)", key: key)
    }

    /// The key node of `key` in a mapping (for its line).
    func keyNode(_ node: Node, _ key: String) -> Node? {
        guard case let .mapping(m) = node else { return nil }
        return m.first { $0.key.scalar?.string == key }?.key
    }

    func mapping(_ node: Node, _ key: String) throws -> [(String, Node)] {
        guard case let .mapping(m) = node else { throw error(node, key, "expected a mapping (key: value lines)") }
        var out: [(String, Node)] = []
        for (k, v) in m {
            guard let s = k.scalar?.string else { throw error(k, key, "keys must be strings") }
            if out.contains(where: { $0.0 == s }) { throw error(k, "\(key).\(s)", "appears twice") }
            out.append((s, v))
        }
        return out
    }

    func string(_ node: Node, _ key: String) throws -> String {
        guard let s = node.scalar, node.tag.rawValue != Tag.Name.null.rawValue else { throw error(node, key, "expected a string") }
        return s.string
    }

    /// mergekit's model references are strings (a local path or a hub id); `model+lora` and
    /// the mapping form are not supported.
    func modelPath(_ node: Node, _ key: String) throws -> String {
        if case .mapping = node { throw error(node, key, "the mapping form of a model reference (path, revision, lora) is not supported: give the checkpoint's path") }
        let s = try string(node, key)
        guard !s.isEmpty else { throw error(node, key, "empty model path") }
        if s.contains("+") { throw error(node, key, "'\(s)': LoRA references (model+lora) are not supported: merge the adapter first") }
        return s
    }

    func bool(_ node: Node, _ key: String) throws -> Bool {
        guard let s = node.scalar, node.tag.rawValue == Tag.Name.bool.rawValue, let b = Bool.construct(from: s) else {
            throw error(node, key, "expected true or false, got '\(node.scalar?.string ?? "a collection")'")
        }
        return b
    }

    /// A number (YAML int or float, or a string holding a decimal number, which mergekit's
    /// validation also converts), or a list of them (a gradient).
    func numberOrGradient(_ node: Node, _ key: String) throws -> RecipeValue {
        func number(_ n: Node, _ k: String) throws -> Double {
            guard let s = n.scalar else { throw error(n, k, "expected a number") }
            switch Tag.Name(rawValue: n.tag.rawValue) {
            case .bool: throw error(n, k, "expected a number, got the boolean '\(s.string)'")
            case .null: throw error(n, k, "expected a number, got null")
            default:
                guard let x = DecimalNumber.parse(s.string.replacingOccurrences(of: "_", with: "")), x.isFinite else {
                    throw error(n, k, "expected a number, got '\(s.string)'")
                }
                return x
            }
        }
        switch node {
        case .sequence(let seq):
            guard !seq.isEmpty else { throw error(node, key, "an empty gradient list") }
            return .list(try seq.enumerated().map { i, n in
                if case .mapping = n { throw error(n, "\(key)[\(i)]", "conditional parameters (filter/value) are not supported") }
                return try number(n, "\(key)[\(i)]")
            })
        case .mapping:
            throw error(node, key, "conditional parameters (filter/value) are not supported: give a number or a gradient list")
        default:
            return .number(try number(node, key))
        }
    }
}
