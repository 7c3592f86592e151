/// The k-th point of a seeded stream, k = the number of trials told: the shared core of the
/// searches whose points do not depend on scores (Random, Sobol). Asking twice without a tell
/// returns the same point; a stream that has run ahead of `told` restarts from the seed, so
/// point k is always the same whatever was asked before.
final class IndexedPointStream {
    private let restart: () throws -> () -> [Double]
    private var draw: () -> [Double]
    private var generated = 0
    private var pending: [Double]? = nil

    /// `restart` builds a fresh stream from the seed and returns its draw function.
    init(_ restart: @escaping () throws -> () -> [Double]) throws {
        self.restart = restart
        draw = try restart()
    }

    func point(number told: Int) throws -> [Double] {
        if let pending, generated == told + 1 { return pending }
        if generated > told { draw = try restart(); generated = 0 }
        while generated < told { _ = draw(); generated += 1 }
        let x = draw()
        generated += 1
        pending = x
        return x
    }
}
