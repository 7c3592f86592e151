import MergetuneNumerics

/// Quasi-random search along GSL's Sobol sequence (Bratley & Fox, ACM TOMS 14(1), 1988). With
/// `scramble` (the default) the sequence is randomized by a seeded Cranley–Patterson shift (a
/// uniform offset added modulo 1), so each seed gets its own equidistributed points; without
/// it every seed asks the same points, starting at the centre of the box.
public final class SobolSearch: ScoreFreeSearch {
    public let dimension: Int
    public let scramble: Bool

    public init(dimension: Int, seed: UInt64, scramble: Bool = true) throws {
        self.dimension = dimension; self.scramble = scramble
        super.init(dimension: dimension, stream: try IndexedPointStream {
            let sequence = try SobolSequence(dimension: dimension, shiftSeed: scramble ? seed : nil)
            return { sequence.next() }
        })
    }
}
