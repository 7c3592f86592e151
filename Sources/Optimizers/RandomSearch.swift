import Numerics

/// Uniform random search: the baseline every regret-over-random ratio divides by.
public final class RandomSearch: Optimizer {
    private let rng: RandomGenerator
    private let dimension: Int

    public init(dimension: Int, seed: UInt64) {
        self.dimension = dimension
        rng = RandomGenerator(seed: seed)
    }

    public func ask() throws -> [Double] { rng.uniformPoint(dimension: dimension) }
    public func tell(_ point: [Double], _ value: Double?) throws {}
}
