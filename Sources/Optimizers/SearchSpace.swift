/// A named, bounded continuous parameter (e.g. `vl_weight` in [0, 2]).
public struct Parameter: Sendable, Codable, Hashable {
    public var name: String
    public var lower: Double
    public var upper: Double

    public init(name: String, lower: Double, upper: Double) {
        self.name = name; self.lower = lower; self.upper = upper
    }
}

public enum SearchSpaceError: Error, Equatable, CustomStringConvertible {
    case empty
    case badBounds(String, Double, Double)
    case duplicateName(String)
    case wrongDimension(expected: Int, got: Int)

    public var description: String {
        switch self {
        case .empty: return "a search space needs at least one parameter"
        case .badBounds(let n, let lo, let hi): return "parameter '\(n)': bounds [\(lo), \(hi)] are not finite with lower < upper"
        case .duplicateName(let n): return "parameter '\(n)' appears twice"
        case .wrongDimension(let e, let g): return "expected a point of \(e) coordinates, got \(g)"
        }
    }
}

/// The box the optimizers search. Optimizers work in the unit box [0, 1]^d; the space maps
/// unit points to parameter values and back.
public struct SearchSpace: Sendable, Codable, Hashable {
    public let parameters: [Parameter]

    public init(_ parameters: [Parameter]) throws {
        guard !parameters.isEmpty else { throw SearchSpaceError.empty }
        var seen = Set<String>()
        for p in parameters {
            guard p.lower.isFinite, p.upper.isFinite, p.lower < p.upper else {
                throw SearchSpaceError.badBounds(p.name, p.lower, p.upper)
            }
            guard seen.insert(p.name).inserted else { throw SearchSpaceError.duplicateName(p.name) }
        }
        self.parameters = parameters
    }

    public var dimension: Int { parameters.count }
    public var names: [String] { parameters.map(\.name) }

    /// Parameter values of a unit-box point.
    public func fromUnit(_ u: [Double]) -> [Double] {
        precondition(u.count == dimension)
        return zip(u, parameters).map { $1.lower + $0 * ($1.upper - $1.lower) }
    }

    /// Unit-box coordinates of parameter values.
    public func toUnit(_ x: [Double]) -> [Double] {
        precondition(x.count == dimension)
        return zip(x, parameters).map { ($0 - $1.lower) / ($1.upper - $1.lower) }
    }
}
