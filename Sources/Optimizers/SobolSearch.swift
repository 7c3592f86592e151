import Numerics

/// Quasi-random search along GSL's Sobol sequence (Bratley & Fox, ACM TOMS 14(1), 1988). With
/// `scramble` (the default) the sequence is randomized by a seeded Cranley–Patterson shift (a
/// uniform offset added modulo 1), so each seed gets its own equidistributed points; without
/// it every seed asks the same points, starting at the centre of the box. Trial k is point k of
/// the sequence, whatever was told or is pending; warm starts are ignored (validated only).
public final class SobolSearch: Optimizer {
    public let dimension: Int
    public let scramble: Bool
    private let stream: IndexedPointStream
    private var book: TrialBook

    public init(dimension: Int, seed: UInt64, scramble: Bool = true) throws {
        self.dimension = dimension; self.scramble = scramble
        book = TrialBook(dimension: dimension)
        stream = try IndexedPointStream {
            let sequence = try SobolSequence(dimension: dimension, shiftSeed: scramble ? seed : nil)
            return { sequence.next() }
        }
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
