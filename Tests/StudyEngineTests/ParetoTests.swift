import Foundation
import Testing
import MergetuneNumerics
@testable import StudyEngine

/// Pareto fronts and hypervolumes against hand-computed boxes and brute force.
@Suite("Pareto fronts and hypervolume")
struct ParetoTests {
    /// The definition: not dominated by any point, and no equal point earlier.
    static func bruteFront(_ p: [[Double]]) -> [Int] {
        p.indices.filter { i in
            !p.indices.contains { j in
                let geq = zip(p[j], p[i]).allSatisfy { $0 >= $1 }, gt = zip(p[j], p[i]).contains { $0 > $1 }
                return (geq && gt) || (j < i && p[j] == p[i])
            }
        }
    }

    /// Unit cells [c, c+1]^m of an integer grid dominated by some point (integer coordinates):
    /// exactly the hypervolume against the origin.
    static func cellCount(_ p: [[Double]], side: Int) -> Double {
        let m = p[0].count
        var count = 0
        var cell = [Int](repeating: 0, count: m)
        for _ in 0..<Int(pow(Double(side), Double(m))) {
            let upper = cell.map { Double($0 + 1) }
            if p.contains(where: { q in zip(q, upper).allSatisfy { $0 >= $1 } }) { count += 1 }
            for k in 0..<m { cell[k] += 1; if cell[k] < side { break }; cell[k] = 0 }
        }
        return Double(count)
    }

    @Test func hypervolumeOfBoxesByHand() {
        #expect(Pareto.hypervolume([[3, 2]], reference: [0, 0]) == 6)
        // Two boxes 3×1 and 1×3 overlap in 1×1.
        #expect(Pareto.hypervolume([[3, 1], [1, 3]], reference: [0, 0]) == 5)
        // A dominated point and a duplicate add nothing; points not beyond the reference add nothing.
        #expect(Pareto.hypervolume([[3, 1], [1, 3], [1, 1], [3, 1], [5, -1], [-1, 9]], reference: [0, 0]) == 5)
        #expect(Pareto.hypervolume([[1.5, 2.5]], reference: [0.5, 0.5]) == 2)
        #expect(Pareto.hypervolume([], reference: [0, 0]) == 0)
        #expect(Pareto.hypervolume([[2, 3, 4]], reference: [1, 1, 1]) == 1 * 2 * 3)
        // Three boxes of volume 2 pairwise overlapping in the unit cube, all three in it too:
        // 3·2 − 3·1 + 1 = 4.
        #expect(Pareto.hypervolume([[2, 1, 1], [1, 2, 1], [1, 1, 2]], reference: [0, 0, 0]) == 4)
        // Nested slices: (2,2,1) and (1,1,3): 4·1 + 1·3 − overlap 1·1·1 = 6.
        #expect(Pareto.hypervolume([[2, 2, 1], [1, 1, 3]], reference: [0, 0, 0]) == 6)
    }

    @Test func hypervolumeMatchesCountingGridCells() {
        let rng = RandomGenerator(seed: 42)
        for m in [2, 3] {
            for _ in 0..<40 {
                let n = 1 + rng.integer(below: 12)
                let points = (0..<n).map { _ in (0..<m).map { _ in Double(rng.integer(below: 9)) } }
                #expect(Pareto.hypervolume(points, reference: Array(repeating: 0, count: m)) == Self.cellCount(points, side: 9),
                        "\(points)")
            }
        }
    }

    @Test func frontMatchesBruteForce() {
        let rng = RandomGenerator(seed: 7)
        for m in [2, 3] {
            for trial in 0..<60 {
                let n = rng.integer(below: 30)
                // Coarse values, so ties and duplicates occur.
                let points = (0..<n).map { _ in (0..<m).map { _ in trial % 2 == 0 ? Double(rng.integer(below: 5)) : rng.uniform() } }
                #expect(Pareto.frontIndices(points) == Self.bruteFront(points), "\(points)")
            }
        }
        #expect(Pareto.frontIndices([[1, 2], [2, 1], [1, 2], [0, 0], [2, 2]]) == [4])
        #expect(Pareto.frontIndices([[1, 2], [2, 1], [1, 2]]) == [0, 1])
    }

    @Test func epsilonToTheFront() {
        let front: [[Double]] = [[3, 1], [1, 3]]
        // min over the front of the largest shortfall: max(3, 1) and max(1, 3).
        #expect(Pareto.epsilon([0, 0], front: front) == 3)
        #expect(Pareto.epsilon([2, 2], front: front) == 1)
        #expect(Pareto.epsilon([3, 3], front: front) == 0)
        #expect(Pareto.epsilon([4, 1], front: front) == 0)   // equals (3, 1) in the second metric
        #expect(Pareto.epsilon([4, 2], front: front) == -1)  // dominates (3, 1) by 1 in both
        #expect(Pareto.epsilon([0, 0], front: []) == nil)
    }
}
