import Numerics

/// Quasi-random search along GSL's Sobol sequence (Bratley & Fox, ACM TOMS 14(1), 1988). With
/// `scramble` (the default) the sequence is randomized by a seeded Cranley–Patterson shift (a
/// uniform offset added modulo 1), so each seed gets its own equidistributed points; without
/// it every seed asks the same points, starting at the centre of the box.
public final class SobolSearch: Optimizer {
    public let dimension: Int
    public let scramble: Bool
    private let seed: UInt64
    private var sequence: SobolSequence
    private var generated = 0
    private var told = 0
    private var pending: [Double]? = nil

    public init(dimension: Int, seed: UInt64, scramble: Bool = true) throws {
        self.dimension = dimension; self.seed = seed; self.scramble = scramble
        sequence = try SobolSequence(dimension: dimension, shiftSeed: scramble ? seed : nil)
    }

    /// Point number `told` of the sequence: a function of how many trials were told.
    public func ask() throws -> [Double] {
        if let pending, generated == told + 1 { return pending }
        if generated > told {
            sequence = try SobolSequence(dimension: dimension, shiftSeed: scramble ? seed : nil)
            generated = 0
        }
        while generated < told { _ = sequence.next(); generated += 1 }
        let x = sequence.next()
        generated += 1
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
