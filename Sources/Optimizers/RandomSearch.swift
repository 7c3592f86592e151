import Numerics

/// Uniform random search: the baseline every regret-over-random ratio divides by. Point number
/// k of a run is the k-th draw of the seeded stream, whatever was told before it, so a fresh
/// optimizer told k trials asks the same (k+1)-th point as the original run.
public final class RandomSearch: Optimizer {
    private let dimension: Int
    private let stream: IndexedPointStream
    private var told = 0

    public init(dimension: Int, seed: UInt64) {
        self.dimension = dimension
        stream = try! IndexedPointStream {
            let rng = RandomGenerator(seed: seed)
            return { rng.uniformPoint(dimension: dimension) }
        }
    }

    public func ask() throws -> [Double] { try stream.point(number: told) }

    public func tell(_ point: [Double], _ value: Double?) throws {
        try checkToldDimension(point, dimension)
        told += 1
    }
}
