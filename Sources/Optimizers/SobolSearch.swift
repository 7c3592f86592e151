import Numerics

/// Quasi-random search along GSL's Sobol sequence (Bratley & Fox, ACM TOMS 14(1), 1988). With
/// `scramble` (the default) the sequence is randomized by a seeded Cranley–Patterson shift (a
/// uniform offset added modulo 1), so each seed gets its own equidistributed points; without
/// it every seed asks the same points, starting at the centre of the box.
public final class SobolSearch: Optimizer {
    public let dimension: Int
    public let scramble: Bool
    private let stream: IndexedPointStream
    private var told = 0

    public init(dimension: Int, seed: UInt64, scramble: Bool = true) throws {
        self.dimension = dimension; self.scramble = scramble
        stream = try IndexedPointStream {
            let sequence = try SobolSequence(dimension: dimension, shiftSeed: scramble ? seed : nil)
            return { sequence.next() }
        }
    }

    /// Point number `told` of the sequence: a function of how many trials were told.
    public func ask() throws -> [Double] { try stream.point(number: told) }

    public func tell(_ point: [Double], _ value: Double?) throws {
        try checkToldDimension(point, dimension)
        told += 1
    }
}
