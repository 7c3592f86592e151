import MergetuneNumerics

/// The searches whose points do not depend on scores (Random, Sobol): trial k of a run is
/// point k of a seeded stream, whatever was told (or is pending) before it, so replay and any
/// batch size ask the same points; warm starts are ignored (validated only).
public class ScoreFreeSearch: Optimizer {
    private let stream: IndexedPointStream
    private var book: TrialBook

    init(dimension: Int, stream: IndexedPointStream) {
        self.stream = stream
        book = TrialBook(dimension: dimension)
    }

    public func ask() throws -> [Double] {
        let x = try stream.point(number: book.count)
        try book.handOut(x)
        return x
    }

    public func adopt(_ point: [Double]) throws { try book.handOut(point) }
    public func tell(_ id: Int, _ value: Double?) throws { try book.tell(id, value) }
    public func warmStart(_ point: [Double], _ value: Double?) throws { try book.warmStart(point, value) }
}

/// Uniform random search: the baseline every regret-over-random ratio divides by.
public final class RandomSearch: ScoreFreeSearch {
    public init(dimension: Int, seed: UInt64) {
        super.init(dimension: dimension, stream: try! IndexedPointStream {
            let rng = RandomGenerator(seed: seed)
            return { rng.uniformPoint(dimension: dimension) }
        })
    }
}
