import Numerics

/// Uniform random search: the baseline every regret-over-random ratio divides by. Point number
/// k of a run is the k-th draw of the seeded stream, whatever was told before it, so a fresh
/// optimizer told k trials asks the same (k+1)-th point as the original run.
public final class RandomSearch: Optimizer {
    private var rng: RandomGenerator
    private let dimension: Int
    private let seed: UInt64
    private var drawn = 0
    private var told = 0
    private var pending: [Double]? = nil

    public init(dimension: Int, seed: UInt64) {
        self.dimension = dimension
        self.seed = seed
        rng = RandomGenerator(seed: seed)
    }

    public func ask() throws -> [Double] {
        if let pending, drawn == told + 1 { return pending }
        if drawn > told { rng = RandomGenerator(seed: seed); drawn = 0 }
        while drawn < told { _ = rng.uniformPoint(dimension: dimension); drawn += 1 }
        let x = rng.uniformPoint(dimension: dimension)
        drawn += 1
        pending = x
        return x
    }

    public func tell(_ point: [Double], _ value: Double?) throws {
        guard point.count == dimension else {
            throw OptimizerError.protocolViolation("told a point of \(point.count) coordinates, expected \(dimension)")
        }
        told += 1
    }
}
