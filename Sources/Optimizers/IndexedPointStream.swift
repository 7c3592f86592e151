/// Point k of a seeded stream: the shared core of the searches whose points do not depend on
/// scores (Random, Sobol) and of the multi-start fillers. Numbers are usually asked in
/// increasing order (skipped numbers are drawn and dropped); asking for an earlier number
/// restarts the stream from the seed, so point k is always the same.
final class IndexedPointStream {
    private let restart: () throws -> () -> [Double]
    private var draw: () -> [Double]
    private var generated = 0
    private var last: [Double]? = nil

    /// `restart` builds a fresh stream from the seed and returns its draw function.
    init(_ restart: @escaping () throws -> () -> [Double]) throws {
        self.restart = restart
        draw = try restart()
    }

    func point(number k: Int) throws -> [Double] {
        if let last, generated == k + 1 { return last }
        if generated > k { draw = try restart(); generated = 0 }
        while generated < k { _ = draw(); generated += 1 }
        let x = draw()
        generated += 1
        last = x
        return x
    }
}
