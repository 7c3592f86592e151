import Foundation
import Optimizers
import Surrogate

/// Glue between study specs and the Surrogate module.
enum SurrogateSupport {
    static var kernels: [String] { RBFKernel.allCases.map(\.rawValue) }

    static func makeObjective(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective {
        guard let path = spec.landscape else { throw SpecError(file: file, key: "\(key).landscape", "missing") }
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: path) else {
            throw SpecError(file: file, key: "\(key).landscape", "landscape file not found: \(path)")
        }
        let landscape: Landscape
        do {
            // The file's own parameters (its `#@params` line, or every column but score); a file
            // with other columns too (an index, notes) is read with the spec's bounds as names.
            do { landscape = try Landscape.load(url) } catch {
                guard let names = spec.bounds?.map(\.name) else { throw error }
                landscape = try Landscape.load(url, parameters: names)
            }
        } catch {
            throw SpecError(file: file, key: "\(key).landscape", "cannot load \(path): \(error)")
        }
        if let note = landscape.ignoredNote {
            FileHandle.standardError.write(Data("note: \(path): \(note)\n".utf8))
        }
        guard let kernel = RBFKernel(rawValue: spec.kernel ?? "thin_plate_spline") else {
            throw SpecError(file: file, key: "\(key).kernel", "unknown kernel '\(spec.kernel ?? "")' (known: \(kernels.joined(separator: ", ")))")
        }
        // The box: the landscape's own, or the spec's bounds, which must name the landscape's
        // parameters and stay inside its box (an RBF extrapolates badly outside its data).
        var box = zip(landscape.parameterNames, landscape.bounds).map { Parameter(name: $0, lower: $1.lowerBound, upper: $1.upperBound) }
        if let bounds = spec.bounds {
            guard Set(bounds.map(\.name)) == Set(landscape.parameterNames) else {
                throw SpecError(file: file, key: "\(key).bounds", "the landscape \(path) has parameters \(landscape.parameterNames.joined(separator: ", ")); bounds name \(bounds.map(\.name).sorted().joined(separator: ", "))")
            }
            box = try zip(landscape.parameterNames, landscape.bounds).map { name, range in
                let b = bounds.first { $0.name == name }!
                guard b.lower >= range.lowerBound - 1e-12, b.upper <= range.upperBound + 1e-12 else {
                    throw SpecError(file: file, key: "\(key).bounds.\(name)", "[\(b.lower), \(b.upper)] leaves the landscape's box [\(range.lowerBound), \(range.upperBound)] (\(path))")
                }
                return Parameter(name: name, lower: b.lower, upper: b.upper)
            }
        }
        let space: SearchSpace
        do { space = try SearchSpace(box) } catch {
            throw SpecError(file: file, key: "\(key).bounds", "\(error)")
        }
        let surrogateKind: SurrogateModelKind
        if let raw = spec.surrogate {
            guard let k = SurrogateModelKind(rawValue: raw) else {
                throw SpecError(file: file, key: "\(key).surrogate", "unknown surrogate '\(raw)' (known: \(SurrogateModelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            surrogateKind = k
        } else {
            surrogateKind = .rbf
        }
        let model: SurrogateModel
        do { model = try SurrogateModel.fit(landscape, kind: surrogateKind, kernel: kernel, smoothing: spec.smoothing) } catch {
            let what = surrogateKind == .gp ? "a GP" : "an RBF (\(kernel.rawValue))"
            throw SpecError(file: file, key: "\(key).landscape", "cannot fit \(what) surrogate (\(surrogateKind.rawValue)) to \(path): \(error)")
        }
        let references = landscape.references.map { r in
            ReferenceSpec(name: r.name,
                          params: r.params.map { Dictionary(uniqueKeysWithValues: zip(landscape.parameterNames, $0)) },
                          score: r.score)
        }
        return SurrogateObjective(name: spec.name, space: space, model: model, delayMs: spec.delayMs, builtInReferences: references)
    }
}

/// A surrogate of a measured landscape over its box: the RBF interpolant by default, or a
/// smoothed RBF / GP mean (`surrogate = "rbf_loo" | "gp"`, docs/surrogate.md).
public struct SurrogateObjective: Objective {
    public let name: String
    public var kind: String { "surrogate" }
    public let space: SearchSpace
    let model: SurrogateModel
    let delayMs: Int
    public var trialDelayMs: Int { delayMs }
    public let builtInReferences: [ReferenceSpec]

    public func evaluate(_ x: [Double]) throws -> Double {
        return model(x)
    }

    /// Dense Sobol search plus Nelder–Mead polish (Surrogate.findExtrema).
    public func extrema() throws -> (minimum: Double, maximum: Double) {
        let e = try findExtrema(bounds: space.parameters.map { $0.lower...$0.upper }) { model($0) }
        return (e.minimum, e.maximum)
    }
}
