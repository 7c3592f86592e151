import CGSL

/// FNV-1a 64 of a byte sequence: the stable, process-independent hash behind DARE's mask keys,
/// the optimizer seeds, landscape checksums and the SVD cache's file names (Swift's
/// `hashValue` changes between processes).
@inlinable public func fnv1a64<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return h
}

/// A seeded Mersenne Twister (GSL mt19937). The same seed gives the same stream on every
/// machine, which the ledger's replay relies on. Not thread-safe: one per optimizer or run.
public final class RandomGenerator {
    private let rng: OpaquePointer
    public let seed: UInt64

    public init(seed: UInt64) {
        GSL.setUp()
        rng = OpaquePointer(gsl_rng_alloc(cgsl_rng_mt19937())!)
        self.seed = seed
        gsl_rng_set(UnsafePointer(rng), UInt(truncatingIfNeeded: seed))
    }

    deinit { gsl_rng_free(UnsafeMutablePointer(rng)) }

    private var pointer: UnsafePointer<gsl_rng> { UnsafePointer(rng) }

    /// Uniform on [0, 1).
    public func uniform() -> Double { gsl_rng_uniform(pointer) }
    /// Uniform on [a, b).
    public func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * uniform() }
    /// A point uniform in the unit box [0, 1)^d.
    public func uniformPoint(dimension: Int) -> [Double] { (0..<dimension).map { _ in uniform() } }
    /// Uniform integer in 0..<n (n ≥ 1).
    public func integer(below n: Int) -> Int {
        precondition(n >= 1)
        return Int(gsl_rng_uniform_int(pointer, UInt(n)))
    }
    /// Standard normal draw (GSL's ziggurat), scaled: mean + sd·z.
    public func normal(mean: Double = 0, sd: Double = 1) -> Double { mean + gsl_ran_gaussian_ziggurat(pointer, sd) }
    /// The raw 32-bit output of the generator.
    public func nextUInt32() -> UInt32 { UInt32(truncatingIfNeeded: gsl_rng_get(pointer)) }
    /// A 64-bit seed derived from this stream (for seeding child generators).
    public func nextSeed() -> UInt64 { (UInt64(gsl_rng_get(pointer)) << 32) ^ UInt64(gsl_rng_get(pointer)) }
}

/// The Sobol low-discrepancy sequence in [0, 1)^d (GSL qrng_sobol, d ≤ 40). Optionally
/// randomized by a Cranley–Patterson shift (a seeded uniform offset added modulo 1), which
/// keeps the sequence's equidistribution while giving each seed its own points.
public final class SobolSequence {
    private let qrng: OpaquePointer
    public let dimension: Int
    private let shift: [Double]?

    public static let maxDimension = 40

    public init(dimension: Int, shiftSeed: UInt64? = nil) throws {
        GSL.setUp()
        guard (1...Self.maxDimension).contains(dimension) else {
            throw NumericsError.invalidArgument("Sobol dimension \(dimension) outside 1...\(Self.maxDimension)")
        }
        guard let q = gsl_qrng_alloc(cgsl_qrng_sobol(), UInt32(dimension)) else {
            throw NumericsError.gsl(code: Int32(GSL_ENOMEM), operation: "qrng_alloc")
        }
        qrng = OpaquePointer(q)
        self.dimension = dimension
        if let seed = shiftSeed {
            let rng = RandomGenerator(seed: seed)
            shift = rng.uniformPoint(dimension: dimension)
        } else {
            shift = nil
        }
    }

    deinit { gsl_qrng_free(UnsafeMutablePointer(qrng)) }

    /// The next point. GSL's unshifted sequence skips the origin and starts at (0.5, ..., 0.5).
    public func next() -> [Double] {
        var x = [Double](repeating: 0, count: dimension)
        x.withUnsafeMutableBufferPointer { _ = gsl_qrng_get(UnsafePointer(qrng), $0.baseAddress) }
        if let shift {
            for i in 0..<dimension { x[i] = (x[i] + shift[i]).truncatingRemainder(dividingBy: 1) }
        }
        return x
    }

    /// The next `count` points.
    public func next(_ count: Int) -> [[Double]] { (0..<count).map { _ in next() } }
}
