import Crypto
import Foundation
import Fusion

/// A measured grid of merges on the testbed, written as a landscape CSV (docs/surrogate.md).
public struct TestbedGrid: Sendable {
    public let method: MergeMethod
    public let vlLevels: [Double]
    public let expLevels: [Double]
    /// Density levels (TIES/DARE); nil for methods without density.
    public let densityLevels: [Double]?

    public init(method: MergeMethod, vlLevels: [Double], expLevels: [Double], densityLevels: [Double]?) {
        self.method = method
        self.vlLevels = vlLevels
        self.expLevels = expLevels
        self.densityLevels = densityLevels
    }

    /// The paper's grids: weights in 5 levels, density in 4 for TIES/DARE. Weights span [0, 2]
    /// (the Python task-arithmetic grid of first-run.log peaks inside it, at λ_V ≈ 1.5, λ_R ≈ 1);
    /// densities 0.25…1.
    public static func paper(method: MergeMethod, vlRange: ClosedRange<Double> = 0...2,
                             expRange: ClosedRange<Double> = 0...2) -> TestbedGrid {
        func levels(_ r: ClosedRange<Double>, _ n: Int) -> [Double] {
            (0..<n).map { r.lowerBound + (r.upperBound - r.lowerBound) * Double($0) / Double(n - 1) }
        }
        let usesDensity = [.ties, .dareTies, .dareLinear].contains(method)
        return TestbedGrid(method: method, vlLevels: levels(vlRange, 5), expLevels: levels(expRange, 5),
                           densityLevels: usesDensity ? [0.25, 0.5, 0.75, 1.0] : nil)
    }

    public var parameterNames: [String] {
        densityLevels == nil ? [RecipeKey.vlWeight, RecipeKey.expWeight] : [RecipeKey.vlWeight, RecipeKey.expWeight, RecipeKey.density]
    }

    /// Every grid point, density fastest.
    public var points: [[Double]] {
        var out: [[Double]] = []
        for v in vlLevels { for e in expLevels {
            if let ds = densityLevels { for d in ds { out.append([v, e, d]) } } else { out.append([v, e]) }
        } }
        return out
    }

    public func spec(_ point: [Double], seed: UInt64 = 0) -> MergeSpec {
        MergeSpec(method: method, vlWeight: point[0], expWeight: point[1], density: point.count > 2 ? point[2] : 1, seed: seed)
    }

    public var boundsLine: String {
        var parts = ["vl_weight=\(num(vlLevels.min()!)):\(num(vlLevels.max()!))",
                     "exp_weight=\(num(expLevels.min()!)):\(num(expLevels.max()!))"]
        if let ds = densityLevels { parts.append("density=\(num(ds.min()!)):\(num(ds.max()!))") }
        return "#@bounds " + parts.joined(separator: " ")
    }
}

/// A reference point of a landscape: a closed form or a parent measured on the same split.
public struct GridReference: Sendable {
    public let name: String
    /// Parameter values in the landscape's order, or nil (per-layer coefficients have no single point).
    public let params: [Double]?
    public let score: TestbedScore
    /// A short note for the provenance (e.g. the coefficients used).
    public let note: String

    public init(name: String, params: [Double]?, score: TestbedScore, note: String) {
        self.name = name
        self.params = params
        self.score = score
        self.note = note
    }
}

func num(_ x: Double) -> String {
    if x == x.rounded() && abs(x) < 1e15 { return String(Int(x)) }
    return String(format: "%.6g", x)
}

/// Formats a landscape CSV: provenance comments, `#@bounds`, `#@reference` lines, header, rows.
public func landscapeCSV(grid: TestbedGrid, rows: [([Double], TestbedScore)], references: [GridReference],
                         provenance: [String]) -> String {
    var out = provenance.map { "# \($0)\n" }.joined()
    for r in references { out += "# reference \(r.name): \(r.note)\n" }
    out += grid.boundsLine + "\n"
    for r in references {
        var line = "#@reference \(r.name)"
        if let p = r.params {
            for (name, v) in zip(grid.parameterNames, p) { line += " \(name)=\(num(v))" }
        }
        line += " score=\(String(format: "%.6f", r.score.value))"
        out += line + "\n"
    }
    out += (grid.parameterNames + ["score"]).joined(separator: ",") + "\n"
    for (p, s) in rows {
        out += (p.map(num) + [String(format: "%.6f", s.value)]).joined(separator: ",") + "\n"
    }
    return out
}

extension TestbedFamily {
    /// SHA-256 (hex) of each model's `model.safetensors`, for provenance.
    public func modelHashes() throws -> [(name: String, sha256: String)] {
        try Self.modelNames.map { name in
            let path = directory.appendingPathComponent("models/\(name)/model.safetensors").path
            guard let data = FileManager.default.contents(atPath: path) else { throw TestbedError("\(path): cannot read") }
            return (name, sha256Hex(data))
        }
    }
}

public func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}
