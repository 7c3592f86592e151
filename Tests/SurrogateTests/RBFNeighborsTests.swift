import Foundation
import Testing
@testable import Surrogate

/// The `neighbors` part of the fixture written by scripts/crosscheck_rbf.py.
private struct NeighborsReference: Decodable {
    struct Case: Decodable {
        let dataset: String; let kernel: String; let epsilon: Double?; let smoothing: Double; let degree: Int?
        let neighbors: Int; let predictions: [Double]
    }
    let datasets: [RBFReference.Dataset]
    let neighbors: [Case]
}

/// A small deterministic generator (splitmix64) for the tests' random points.
private struct SplitMix {
    var state: UInt64
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
}

/// Brute force: indices sorted by (squared distance, index).
private func bruteNearest(_ points: [[Double]], _ x: [Double], _ k: Int) -> [Int] {
    let d = points.map { p in zip(p, x).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
    return Array(points.indices.sorted { (d[$0], $0) < (d[$1], $1) }.prefix(k))
}

@Suite struct RBFNeighbors {
    @Test func localInterpolationMatchesScipyNeighborsToOneInOneHundredMillion() throws {
        let url = try #require(Bundle.module.url(forResource: "rbf_reference", withExtension: "json", subdirectory: "Fixtures"))
        let reference = try JSONDecoder().decode(NeighborsReference.self, from: Data(contentsOf: url))
        #expect(reference.neighbors.count == 20)
        var worst = 0.0
        for c in reference.neighbors {
            let data = try #require(reference.datasets.first { $0.name == c.dataset })
            let kernel = try #require(RBFKernel(rawValue: c.kernel))
            let rbf = try RBFInterpolator(points: data.points, values: data.values, kernel: kernel, epsilon: c.epsilon,
                                          smoothing: c.smoothing, degree: c.degree, neighbors: .nearest(c.neighbors))
            #expect(rbf.neighbors == c.neighbors)
            for (p, ref) in zip(rbf.predict(data.queries), c.predictions) {
                #expect(abs(ref) > 0.05)
                let rel = relativeDifference(p, ref)
                worst = max(worst, rel)
                #expect(rel <= 1e-8, "\(c.dataset) \(c.kernel) k=\(c.neighbors): \(p) vs scipy \(ref)")
            }
        }
        print("max relative difference to scipy (neighbors):", String(format: "%.2e", worst))
    }

    @Test func kdTreeAgreesWithBruteForceIncludingTies() {
        var rng = SplitMix(state: 7)
        let scattered = (0..<500).map { _ in (0..<3).map { _ in rng.next() } }
        let tree = KDTree(points: scattered)
        for _ in 0..<40 {
            let x = (0..<3).map { _ in rng.next() * 1.2 - 0.1 }
            for k in [1, 7, 64, 500, 600] { #expect(tree.nearest(x, k: k) == bruteNearest(scattered, x, k)) }
        }
        // A grid has many equidistant points: ties go to the smaller index.
        let grid = (0..<11).flatMap { i in (0..<11).map { j in [Double(i) * 0.1, Double(j) * 0.1] } }
        let gridTree = KDTree(points: grid)
        for x in [[0.5, 0.5], [0.55, 0.5], [0.05, 0.05], [1.3, -0.2], [0.25, 0.75]] {
            for k in [1, 4, 9, 20, 64] { #expect(gridTree.nearest(x, k: k) == bruteNearest(grid, x, k), "\(x) k=\(k)") }
        }
    }

    @Test func allPointsAsNeighborsIsTheDenseInterpolant() throws {
        var rng = SplitMix(state: 11)
        let points = (0..<60).map { _ in [rng.next() * 2, rng.next()] }
        let values = points.map { 0.5 + 0.2 * sin(3 * $0[0]) * $0[1] }
        let dense = try RBFInterpolator(points: points, values: values, neighbors: .all)
        let local = try RBFInterpolator(points: points, values: values, neighbors: .nearest(1000))
        #expect(dense.neighbors == nil && local.neighbors == 60)
        for _ in 0..<10 {
            let x = [rng.next() * 2, rng.next()]
            #expect(abs(dense(x) - local(x)) <= 1e-10 * abs(dense(x)))
        }
        // Interpolates the data (smoothing 0), also from the cache on a second call.
        let small = try RBFInterpolator(points: points, values: values, neighbors: .nearest(12))
        for i in [0, 17, 59] {
            #expect(abs(small(points[i]) - values[i]) < 1e-10)
            #expect(small(points[i]) == small(points[i]))
        }
    }

    @Test func automaticSwitchesAboveTheThresholdWithANote() throws {
        #expect(RBFInterpolator.automaticThreshold == 1000 && RBFInterpolator.automaticNeighbors == 64)
        #expect(RBFInterpolator.resolve(.automatic, points: 1000, monomials: 4) == nil)
        #expect(RBFInterpolator.resolve(.automatic, points: 1001, monomials: 4) == 64)
        #expect(RBFInterpolator.resolve(.automatic, points: 5000, monomials: 45) == 90)
        #expect(RBFInterpolator.resolve(.nearest(20), points: 10, monomials: 3) == 10)
        var rng = SplitMix(state: 3)
        let points = (0..<2001).map { _ in [rng.next(), rng.next(), rng.next()] }
        let values = points.map { $0[0] * $0[1] + $0[2] }
        let rbf = try RBFInterpolator(points: points, values: values)
        #expect(rbf.neighbors == 64)
        #expect(rbf.note?.hasPrefix("local interpolation on the 64 nearest points") == true)
        #expect(rbf.kernelCoefficients.isEmpty)
        // Thin-plate spline with a linear tail reproduces a linear function exactly.
        let linear = try RBFInterpolator(points: points, values: points.map { 2 * $0[0] - $0[1] + 0.5 * $0[2] })
        #expect(abs(linear([0.3, 0.6, 0.2]) - (0.6 - 0.6 + 0.1)) < 1e-9)
        let dense = try RBFInterpolator(points: Array(points.prefix(30)), values: Array(values.prefix(30)))
        #expect(dense.neighbors == nil && dense.note == nil)
    }

    @Test func neighborCountsBelowThePolynomialAreRejected() throws {
        let points = (0..<30).map { [Double($0 % 6), Double($0 / 6)] }
        let values = points.map { $0[0] + $0[1] * $0[1] }
        #expect(throws: RBFError.tooFewPoints(points: 5, needed: 6, degree: 2, dimensions: 2)) {
            try RBFInterpolator(points: points, values: values, kernel: .quintic, neighbors: .nearest(5))
        }
        #expect(throws: RBFError.invalidInput("neighbors must be at least 1, got 0")) {
            try RBFInterpolator(points: points, values: values, neighbors: .nearest(0))
        }
        // Three collinear nearest points cannot fit a plane: NaN, and localError says why.
        let onLine = (0..<10).map { [Double($0), 0] } + [[0, 5]]
        let line = try RBFInterpolator(points: onLine, values: onLine.map { $0[0] }, neighbors: .nearest(3))
        #expect(line([5, 0]).isNaN)
        #expect(line.localError(at: [5, 0])?.contains("singular") == true)
        #expect(line.localError(at: [0.5, 4]) == nil && line([0.5, 4]).isFinite)
    }
}
