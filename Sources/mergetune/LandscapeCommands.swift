import ArgumentParser
import Foundation
import StudyEngine
import MergetuneNumerics
import Surrogate

extension MergeTune {
    /// The landscape subcommands (owned by this file, so the root command needs no edits).
    static var landscapeCommands: [ParsableCommand.Type] { [LandscapeCommand.self] }
}

extension RBFKernel: ExpressibleByArgument {}
extension SurrogateModelKind: ExpressibleByArgument {}

struct LandscapeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "landscape",
        abstract: "Fit, query and export RBF surrogates of measured landscapes (CSV: parameters..., score).",
        discussion: "File format, kernels and the leave-one-out protocol: docs/surrogate.md.",
        subcommands: [LandscapeFit.self, LandscapePredict.self, LandscapeExport.self]
    )
}

/// Options of the RBF surrogate, shared by the landscape subcommands (scipy's defaults).
struct SurrogateOptions: ParsableArguments {
    @Option(help: ArgumentHelp("RBF kernel.", valueName: RBFKernel.allCases.map(\.rawValue).joined(separator: "|")))
    var kernel: RBFKernel = .thinPlateSpline

    @Option(name: .customLong("epsilon"), help: "Shape parameter (required for multiquadric, inverse_multiquadric, inverse_quadratic, gaussian; default 1 otherwise).")
    var epsilonArgument: DecimalArgument?

    @Option(name: .customLong("smoothing"), help: "Smoothing added to the kernel matrix's diagonal (0 interpolates the data exactly).")
    var smoothingArgument: DecimalArgument = DecimalArgument(0)

    var epsilon: Double? { epsilonArgument?.value }
    var smoothing: Double { smoothingArgument.value }

    @Option(help: "Degree of the polynomial tail (-1 for none; default: scipy's minimum for the kernel, else 0).")
    var degree: Int?

    @Option(help: ArgumentHelp("Interpolate each point on its K nearest data points (scipy's neighbors), or 'all' for one dense solve "
                               + "(default: all up to \(RBFInterpolator.automaticThreshold) points, else \(RBFInterpolator.automaticNeighbors)).",
                               valueName: "K|all"))
    var neighbors: NeighborsArgument?

    var neighborhood: RBFNeighborhood { neighbors?.value ?? .automatic }

    func validate() throws {
        if epsilon == nil && !kernel.isScaleInvariant {
            throw ValidationError("--kernel \(kernel.rawValue) needs --epsilon (only linear, thin_plate_spline, cubic and quintic default to 1)")
        }
        if let epsilon, !(epsilon.isFinite && epsilon > 0) { throw ValidationError("--epsilon must be a positive number") }
        if !(smoothing.isFinite && smoothing >= 0) { throw ValidationError("--smoothing must be a non-negative number") }
        if let degree, degree < -1 { throw ValidationError("--degree must be at least -1") }
    }

    func fit(_ landscape: Landscape) throws -> RBFInterpolator {
        try landscape.interpolator(kernel: kernel, epsilon: epsilon, smoothing: smoothing, degree: degree, neighbors: neighborhood)
    }
}

/// `--neighbors`: a positive count or `all`.
struct NeighborsArgument: ExpressibleByArgument {
    let value: RBFNeighborhood
    init?(argument: String) {
        if argument == "all" { value = .all; return }
        guard let k = Int(argument), k >= 1 else { return nil }
        value = .nearest(k)
    }
}

/// Which columns of a landscape file are parameters (the rest, but `score`, are ignored).
struct LandscapeInput: ParsableArguments {
    @Option(help: ArgumentHelp("The parameter columns, comma-separated (default: the file's #@params line, else every column but score).",
                               valueName: "a,b"))
    var params: String?

    var parameterNames: [String]? {
        params.map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    func validate() throws {
        if let names = parameterNames {
            if names.contains(where: \.isEmpty) { throw ValidationError("--params lists an empty name: '\(params!)' (write --params a,b)") }
            if Set(names).count != names.count { throw ValidationError("--params names a column twice: '\(params!)'") }
        }
    }

    /// Loads the landscape; a note on stderr lists the columns skipped.
    func load(_ file: String) throws -> Landscape {
        let landscape = try Landscape.load(URL(fileURLWithPath: file), parameters: parameterNames)
        if let note = landscape.ignoredNote { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        return landscape
    }
}

/// A number option read like numbers in landscape files (Numerics.DecimalNumber): decimal and
/// finite, so `0x1p-2`, `nan` and `inf` are usage errors.
struct DecimalArgument: ExpressibleByArgument, CustomStringConvertible {
    let value: Double
    init(_ value: Double) { self.value = value }
    init?(argument: String) {
        guard let v = DecimalNumber.parse(argument) else { return nil }
        value = v
    }
    var description: String { "\(value)" }
}

/// CSV cells: the shortest text that reads back as the same Double.
func cell(_ x: Double) -> String { "\(x)" }
/// Table cells: six significant digits.
func short(_ x: Double) -> String { String(format: "%.6g", x) }

func writeText(_ text: String, to path: String?) throws {
    guard let path, path != "-" else { print(text, terminator: ""); return }
    do { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) } catch {
        throw SurrogateError(file: path, message: "cannot write (\(error.localizedDescription))")
    }
}

// MARK: fit

struct LandscapeFit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit the surrogate and report points, bounds, global extrema and leave-one-out fidelity."
    )

    @Argument(help: "Landscape CSV.") var file: String
    @OptionGroup var input: LandscapeInput
    @OptionGroup var surrogate: SurrogateOptions
    @Option(help: "Output format: table, csv (one row) or json.") var format: OutputFormat = .table
    @Option(help: "Sobol samples for the global extrema.") var samples: Int = 4096
    @Option(help: "Leave-one-out repeats (the paper uses 20).") var repeats: Int = 20
    @Option(help: "Seed of the leave-one-out draws and the Sobol shift.") var seed: UInt64 = 0
    @Option(name: .customLong("surrogate"),
            help: ArgumentHelp("Surrogate kind: rbf (the interpolant, or --smoothing), rbf_loo (smoothing by leave-one-out), gp (GP regression mean).",
                               valueName: SurrogateModelKind.allCases.map(\.rawValue).joined(separator: "|")))
    var kind: SurrogateModelKind = .rbf

    func validate() throws {
        if samples < 1 { throw ValidationError("--samples must be at least 1") }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
        if kind != .rbf && surrogate.smoothing != 0 {
            throw ValidationError("--smoothing is for --surrogate rbf (\(kind.rawValue) chooses or fits its own)")
        }
    }

    struct Report: Codable {
        struct Parameter: Codable { let name: String; let lower: Double; let upper: Double }
        struct Reference: Codable { let name: String; let params: [Double]?; let score: Double; let surrogate: Double? }
        let file: String
        let points: Int
        let mergedDuplicates: Int
        let interiorPoints: Int
        let parameters: [Parameter]
        let scoreMin: Double
        let scoreMax: Double
        /// rbf, rbf_loo or gp; the RBF fields below are absent for gp (`model` says what it is).
        let surrogate: String
        let model: String
        let kernel: String
        let epsilon: Double?
        let smoothing: Double?
        let degree: Int?
        /// k of local interpolation (absent: one dense solve) and the note saying so.
        let neighbors: Int?
        let note: String?
        let extrema: Extrema
        let loocv: LeaveOneOutResult?
        let loocvError: String?
        /// Closed-form leave-one-out RMSE over every point (rbf_loo's criterion), and the
        /// overshoot: the surrogate's maximum minus the best measured score.
        let looAllRMSE: Double?
        let bestMeasured: Double
        let overshoot: Double
        let references: [Reference]
        let provenance: [String]
        let ignoredColumns: [IgnoredColumn]
    }

    func run() throws {
        let landscape = try input.load(file)
        let model = try SurrogateModel.fit(landscape, kind: kind, kernel: surrogate.kernel, epsilon: surrogate.epsilon,
                                           smoothing: kind == .rbf ? surrogate.smoothing : nil, degree: surrogate.degree,
                                           neighbors: surrogate.neighborhood)
        let rbf = model.rbf
        let extrema = try findExtrema(bounds: landscape.bounds, samples: samples, seed: seed) { model($0) }
        var loocv: LeaveOneOutResult?, loocvError: String?
        do {
            loocv = try model.leaveOneOutFidelity(landscape, repeats: repeats, seed: seed, neighbors: surrogate.neighborhood)
        } catch let error as SurrogateError {
            loocvError = error.message  // a landscape without interior points still has a surrogate
        }
        // The all-points closed form needs one dense solve.
        var looAll: Double?
        if rbf?.neighbors == nil, let e = try? model.leaveOneOutErrors(landscape) {
            looAll = (e.map { $0 * $0 }.reduce(0, +) / Double(e.count)).squareRoot()
        }
        let best = landscape.scoreRange.upperBound
        let report = Report(
            file: file, points: landscape.points.count, mergedDuplicates: landscape.mergedDuplicates,
            interiorPoints: landscape.interiorIndices.count,
            parameters: zip(landscape.parameterNames, landscape.bounds).map { .init(name: $0, lower: $1.lowerBound, upper: $1.upperBound) },
            scoreMin: landscape.scoreRange.lowerBound, scoreMax: landscape.scoreRange.upperBound,
            surrogate: kind.rawValue, model: model.summary,
            kernel: rbf?.kernel.rawValue ?? "matern52", epsilon: rbf?.epsilon, smoothing: rbf?.smoothing, degree: rbf?.degree,
            neighbors: rbf?.neighbors, note: rbf?.note, extrema: extrema, loocv: loocv, loocvError: loocvError,
            looAllRMSE: looAll, bestMeasured: best, overshoot: extrema.maximum - best,
            references: landscape.references.map { .init(name: $0.name, params: $0.params, score: $0.score, surrogate: $0.params.map { model($0) }) },
            provenance: landscape.provenance, ignoredColumns: landscape.ignoredColumns)
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        case .csv:
            print(csv(report, names: landscape.parameterNames), terminator: "")
        case .table:
            print(table(report, names: landscape.parameterNames), terminator: "")
        }
    }

    func csv(_ r: Report, names: [String]) -> String {
        var columns = ["file", "points", "kernel", "epsilon", "smoothing", "degree", "score_min", "score_max",
                       "surrogate_min"] + names.map { "argmin_\($0)" } + ["surrogate_max"] + names.map { "argmax_\($0)" }
        columns += ["loocv_repeats", "loocv_rmse", "loocv_rmse_percent"]
        var values = [r.file, "\(r.points)", r.kernel, r.epsilon.map(cell) ?? "", r.smoothing.map(cell) ?? "", r.degree.map { "\($0)" } ?? "",
                      cell(r.scoreMin), cell(r.scoreMax),
                      cell(r.extrema.minimum)] + r.extrema.argmin.map(cell) + [cell(r.extrema.maximum)] + r.extrema.argmax.map(cell)
        values += r.loocv.map { ["\($0.repeats)", cell($0.rmse), cell($0.rmsePercentOfRange)] } ?? ["0", "", ""]
        columns += ["surrogate", "loo_all_rmse", "overshoot"]
        values += [r.surrogate, r.looAllRMSE.map(cell) ?? "", cell(r.overshoot)]
        return columns.map(csvField).joined(separator: ",") + "\n" + values.map(csvField).joined(separator: ",") + "\n"
    }

    func table(_ r: Report, names: [String]) -> String {
        func at(_ x: [Double]) -> String { zip(names, x).map { "\($0)=\(short($1))" }.joined(separator: " ") }
        var lines: [String] = []
        lines.append("landscape   \(r.file)")
        for p in r.provenance { lines.append("            # \(p)") }
        if !r.ignoredColumns.isEmpty { lines.append("ignored     " + r.ignoredColumns.map(\.description).joined(separator: ", ")) }
        lines.append("points      \(r.points) (\(r.interiorPoints) interior" + (r.mergedDuplicates > 0 ? ", \(r.mergedDuplicates) duplicate rows merged)" : ")"))
        let width = max(9, names.map(\.count).max() ?? 0)
        lines.append("bounds      " + "parameter".padding(toLength: width, withPad: " ", startingAt: 0) + "  lower       upper")
        for p in r.parameters {
            lines.append("            " + p.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                         + short(p.lower).padding(toLength: 10, withPad: " ", startingAt: 0) + "  " + short(p.upper))
        }
        lines.append("scores      \(short(r.scoreMin)) ... \(short(r.scoreMax)) (measured)")
        if let e = r.epsilon, let s = r.smoothing, let d = r.degree, r.surrogate == "rbf" {
            lines.append("surrogate   \(r.kernel), epsilon \(short(e)), smoothing \(short(s)), degree \(d)")
        } else {
            lines.append("surrogate   \(r.model)")
        }
        if let note = r.note { lines.append("            \(note)") }
        lines.append("maximum     \(short(r.extrema.maximum)) at \(at(r.extrema.argmax))")
        lines.append("minimum     \(short(r.extrema.minimum)) at \(at(r.extrema.argmin))")
        if let l = r.loocv {
            lines.append("LOOCV       RMSE \(short(l.rmse)) = \(String(format: "%.2f", l.rmsePercentOfRange))% of the score range (\(l.repeats) repeats, seed \(seed))")
        } else {
            lines.append("LOOCV       unavailable: \(r.loocvError ?? "")")
        }
        if let all = r.looAllRMSE { lines.append("LOO (all)   RMSE \(short(all)) over all \(r.points) points (closed form)") }
        lines.append("overshoot   \(String(format: "%+.4g", r.overshoot)): surrogate maximum \(short(r.extrema.maximum)) vs best measured \(short(r.bestMeasured))")
        for ref in r.references {
            var line = "reference   \(ref.name) \(short(ref.score))"
            if let p = ref.params, let s = ref.surrogate { line += " at \(at(p)) (surrogate \(short(s)))" }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

// MARK: predict

struct LandscapePredict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict scores at given points: prints the points CSV with a `prediction` column."
    )

    @Argument(help: "Landscape CSV.") var file: String
    @OptionGroup var input: LandscapeInput
    @Option(name: .customLong("at"), help: "CSV of points with the landscape's parameter columns (other columns are kept).")
    var points: String
    @OptionGroup var surrogate: SurrogateOptions
    @Option(name: .shortAndLong, help: "Write the CSV here instead of standard output.") var output: String?

    func run() throws {
        let landscape = try input.load(file)
        let query = try PointsFile.load(URL(fileURLWithPath: points), parameterNames: landscape.parameterNames)
        let rbf = try surrogate.fit(landscape)
        var text = (query.columns + ["prediction"]).map(csvField).joined(separator: ",") + "\n"
        var outside = 0
        for (cells, p) in zip(query.cells, query.points) {
            if !zip(landscape.bounds, p).allSatisfy({ $0.contains($1) }) { outside += 1 }
            text += (cells.map(csvField) + [cell(rbf(p))]).joined(separator: ",") + "\n"
        }
        try writeText(text, to: output)
        if let note = rbf.note { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        if outside > 0 {
            FileHandle.standardError.write(Data("warning: \(outside) of \(query.points.count) points lie outside the landscape's bounds (extrapolated)\n".utf8))
        }
    }
}

// MARK: export

struct LandscapeExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the surrogate on a dense grid over the bounds (a landscape CSV, e.g. for contour plots)."
    )

    @Argument(help: "Landscape CSV.") var file: String
    @OptionGroup var input: LandscapeInput
    @Option(help: "Grid levels per parameter (both bounds included).") var resolution: Int
    @Option(name: .shortAndLong, help: "Output CSV ('-' for standard output).") var output: String
    @OptionGroup var surrogate: SurrogateOptions

    static let maxRows = 10_000_000

    func validate() throws {
        if resolution < 2 { throw ValidationError("--resolution must be at least 2") }
    }

    func run() throws {
        let landscape = try input.load(file)
        let rows = pow(Double(resolution), Double(landscape.dimension))
        guard rows <= Double(Self.maxRows) else {
            throw SurrogateError(file: file, message: "a grid of \(resolution)^\(landscape.dimension) points exceeds \(Self.maxRows) rows; lower --resolution")
        }
        let rbf = try surrogate.fit(landscape)
        var text = "# RBF surrogate of \(file): \(rbf.kernel.rawValue), epsilon \(cell(rbf.epsilon)), "
            + "smoothing \(cell(rbf.smoothing)), degree \(rbf.degree)"
            + (rbf.note.map { "; \($0)" } ?? "") + "; \(resolution) levels per parameter\n"
        text += "#@bounds " + zip(landscape.parameterNames, landscape.bounds).map { "\($0)=\(cell($1.lowerBound)):\(cell($1.upperBound))" }.joined(separator: " ") + "\n"
        text += (landscape.parameterNames + ["score"]).map(csvField).joined(separator: ",") + "\n"
        for p in landscape.grid(resolution: resolution) {
            text += (p.map(cell) + [cell(rbf(p))]).joined(separator: ",") + "\n"
        }
        try writeText(text, to: output)
        if output != "-" {
            FileHandle.standardError.write(Data("wrote \(Int(rows)) grid points to \(output)\n".utf8))
        }
    }
}
