import Foundation
import Fusion
import Optimizers

/// One kind of objective, the study core's extension point for what is evaluated: the keys
/// of its spec table, how that table becomes an `ObjectiveSpec`, and how a stored spec becomes
/// the runtime objective. Adding a kind is one type here plus its entry in
/// `ObjectiveRegistry.kinds` (docs/architecture.md, "The study core").
protocol ObjectiveKind {
    static var kind: String { get }
    /// The kind's own keys of an `[[objectives]]` table, beyond `Spec.commonObjectiveKeys`.
    static var keys: [String] { get }
    /// Reads the kind's keys (and the name, whose default is the kind's) into `o`.
    static func parse(_ t: TableReader, into o: inout ObjectiveSpec, baseDirectory: URL) throws
    static func make(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective
}

/// The objective kinds a study knows, in the order their names are listed in errors.
enum ObjectiveRegistry {
    static let kinds: [any ObjectiveKind.Type] = [SurrogateKind.self, AnalyticKind.self, TestbedKind.self, CommandKind.self]
    static var names: [String] { kinds.map { $0.kind } }
    static func kind(named name: String) -> (any ObjectiveKind.Type)? { kinds.first { $0.kind == name } }
}

/// Builds the runtime objective of a stored spec. `file` is named in errors.
public enum ObjectiveFactory {
    public static func make(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective {
        guard let kind = ObjectiveRegistry.kind(named: spec.kind) else {
            throw SpecError(file: file, key: "\(key).kind", "unknown objective kind '\(spec.kind)' (known: \(ObjectiveRegistry.names.joined(separator: ", ")))")
        }
        return try kind.make(spec, file: file, key: key)
    }
}

/// The RBF interpolant of a measured landscape (`landscape = "file.csv"`).
enum SurrogateKind: ObjectiveKind {
    static let kind = "surrogate"
    static let keys = ["landscape", "kernel", "surrogate", "smoothing"]

    static func parse(_ t: TableReader, into o: inout ObjectiveSpec, baseDirectory: URL) throws {
        let path = try t.requiredString("landscape")
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : baseDirectory.appendingPathComponent(path)
        o.landscape = url.standardizedFileURL.path
        o.kernel = try t.optionalString("kernel") ?? "thin_plate_spline"
        guard SurrogateSupport.kernels.contains(o.kernel!) else {
            throw SpecError(file: t.file, key: t.key("kernel"), "unknown kernel '\(o.kernel!)' (known: \(SurrogateSupport.kernels.joined(separator: ", ")))")
        }
        // The defaults ("rbf", smoothing 0) are stored as absent, so a spec that spells them out
        // is the same study as one that does not.
        if let kind = try t.optionalString("surrogate") {
            guard let k = SurrogateModelKind(rawValue: kind) else {
                throw SpecError(file: t.file, key: t.key("surrogate"), "unknown surrogate '\(kind)' (known: \(SurrogateModelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            o.surrogate = k == .rbf ? nil : kind
        }
        if let v = t.table["smoothing"] {
            guard let x = StudySpec.number(v), x.isFinite, x >= 0 else {
                throw SpecError(file: t.file, key: t.key("smoothing"), "expected a non-negative number (the RBF's smoothing; 0 interpolates)")
            }
            guard o.surrogate == nil else {
                throw SpecError(file: t.file, key: t.key("smoothing"), "only with surrogate = \"rbf\" (\(o.surrogate!) chooses or fits its own smoothing)")
            }
            o.smoothing = x == 0 ? nil : x
        }
        o.name = try t.optionalString("name") ?? url.deletingPathExtension().lastPathComponent
    }

    static func make(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective {
        try SurrogateSupport.makeObjective(spec, file: file, key: key)
    }
}

/// An analytic test function (`function = "branin"`).
enum AnalyticKind: ObjectiveKind {
    static let kind = "analytic"
    static let keys = ["function"]

    static func parse(_ t: TableReader, into o: inout ObjectiveSpec, baseDirectory: URL) throws {
        let function = try t.requiredString("function")
        guard TestFunction.named(function) != nil else {
            throw SpecError(file: t.file, key: t.key("function"), "unknown function '\(function)' (known: \(TestFunction.all.map(\.name).joined(separator: ", ")))")
        }
        o.function = function
        o.name = try t.optionalString("name") ?? function
    }

    static func make(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective {
        let function = TestFunction.named(spec.function ?? "")!
        var space = function.space
        if let bounds = spec.bounds {
            let names = function.space.names
            guard Set(bounds.map(\.name)) == Set(names) else {
                throw SpecError(file: file, key: "\(key).bounds", "function '\(function.name)' has parameters \(names.joined(separator: ", ")); bounds name \(bounds.map(\.name).sorted().joined(separator: ", "))")
            }
            space = try SearchSpace(names.map { n in
                let b = bounds.first { $0.name == n }!
                return Parameter(name: n, lower: b.lower, upper: b.upper)
            })
        }
        return AnalyticObjective(name: spec.name, function: function, space: space, delayMs: spec.delayMs)
    }
}

/// The shipped testbed family merged in memory per trial (`scenario = "language"`).
enum TestbedKind: ObjectiveKind {
    static let kind = "testbed"
    static let keys = ["scenario", "method", "split", "metric", "objective", "directory", "seed", "metrics", "constraints", "fidelities",
                       "frism_alpha"] + MergeSpaces.keys

    static func parse(_ t: TableReader, into o: inout ObjectiveSpec, baseDirectory: URL) throws {
        o.scenario = try t.requiredString("scenario")
        // A space with a method of its own (layer_range, subspace) merges by it.
        o.method = try t.optionalString("method")
            ?? (MergeSpaces.ownMethod(ofSpace: try t.optionalString("space")) ?? .taskArithmetic).rawValue
        o.split = try t.optionalString("split") ?? "validation"
        o.metric = try t.optionalString("metric") ?? "mean_logprob"
        o.objective = try t.optionalString("objective") ?? "target"
        o.directory = try TestbedSupport.resolveDirectory(try t.optionalString("directory"), baseDirectory: baseDirectory,
                                                          file: t.file, key: t.path)
        if let s = t.table["seed"] {
            guard let n = s.int, n >= 0 else { throw SpecError(file: t.file, key: t.key("seed"), "expected a non-negative integer (DARE's mask seed)") }
            o.mergeSeed = n
        }
        if t.table["sum_to_one"] != nil {
            throw SpecError(file: t.file, key: t.key("sum_to_one"), "not for a live testbed objective (the analysis is a dense grid of ~4,700 evaluations); analyse the measured landscape's surrogate instead")
        }
        if let m = MergeMethod(rawValue: o.method!) {
            o.space = try MergeSpaces.parse(t, context: MergeSpaces.testbedContext(directory: o.directory!, scenario: o.scenario!, method: m, fixed: [:]))
        } else if t.table["space"] != nil {
            throw SpecError(file: t.file, key: t.key("method"), "unknown method '\(o.method!)' (known: \(TestbedSupport.methods.map(\.rawValue).joined(separator: ", ")))")
        }
        o.metrics = try MultiObjective.parseMetrics(t, known: TestbedObjective.recordedMetrics)
        // FRISM's spectral magnitude exists only for subspace merges.
        let subspace = o.space?.kind == SubspaceSpace.name
        if o.objective == "frism", !subspace {
            throw SpecError(file: t.file, key: t.key("objective"), "frism (−KL + α·spectral) scores subspace merges: set space = \"subspace\"")
        }
        if o.metrics?.contains("spectral") == true, !subspace {
            throw SpecError(file: t.file, key: t.key("metrics"), "spectral is recorded for subspace merges only: set space = \"subspace\"")
        }
        if let a = t.table["frism_alpha"] {
            guard o.objective == "frism" else {
                throw SpecError(file: t.file, key: t.key("frism_alpha"), "only with objective = \"frism\"")
            }
            guard let x = StudySpec.number(a), x.isFinite, x >= 0 else {
                throw SpecError(file: t.file, key: t.key("frism_alpha"), "expected a number ≥ 0 (α of −KL + α·spectral)")
            }
            o.frismAlpha = x
        }
        let constraints = try CommandKind.parseConstraints(t, references: TestbedObjective.referenceNames, none: "")
        o.constraints = constraints.isEmpty ? nil : constraints
        o.name = try t.optionalString("name") ?? "testbed-\(o.scenario!)-\(o.method!)" + (o.space.map { "-\($0.kind)" } ?? "")
            + (o.objective == "target" ? "" : "-\(o.objective!)")
        try FidelitySupport.parse(t, into: &o)
    }

    static func make(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective {
        try TestbedSupport.makeObjective(spec, file: file, key: key)
    }
}
