import Foundation

/// Pareto dominance and hypervolume for maximized metric vectors (2 or 3 metrics in studies; the
/// front works for any count).
public enum Pareto {
    /// a dominates b: at least as good in every metric, better in one.
    public static func dominates(_ a: [Double], _ b: [Double]) -> Bool {
        var better = false
        for (x, y) in zip(a, b) {
            if x < y { return false }
            if x > y { better = true }
        }
        return better
    }

    /// Indices (ascending) of the non-dominated vectors. Of equal vectors only the first is kept,
    /// so the front has no duplicates. Two metrics: sort and sweep (n log n); more: pairwise.
    public static func frontIndices(_ points: [[Double]]) -> [Int] {
        guard let m = points.first?.count else { return [] }
        if m == 2 {
            // Descending in the first metric (ties: descending in the second, then by index); a point
            // is on the front iff its second metric beats every earlier one's.
            let order = points.indices.sorted { i, j in
                let a = points[i], b = points[j]
                return a[0] != b[0] ? a[0] > b[0] : a[1] != b[1] ? a[1] > b[1] : i < j
            }
            var out: [Int] = []
            var bestSecond = -Double.infinity
            for i in order where points[i][1] > bestSecond {
                out.append(i)
                bestSecond = points[i][1]
            }
            return out.sorted()
        }
        return points.indices.filter { i in
            !points.indices.contains { j in
                dominates(points[j], points[i]) || (j < i && points[j] == points[i])
            }
        }
    }

    /// The volume of the region dominated by `points` and dominating `reference` (the union of
    /// the boxes [reference, p]); a point that does not exceed the reference in every metric adds
    /// nothing. Exact: a sweep for 2 metrics, slices along the third for 3.
    public static func hypervolume(_ points: [[Double]], reference r: [Double]) -> Double {
        let inside = points.filter { p in zip(p, r).allSatisfy { $0 > $1 } }
        guard !inside.isEmpty else { return 0 }
        switch r.count {
        case 1: return inside.map { $0[0] - r[0] }.max()!
        case 2: return area(inside.map { ($0[0], $0[1]) }, r[0], r[1])
        case 3:
            // Slices between consecutive distinct third coordinates, from the top down: the
            // slice below z_k holds the area of every point with z ≥ z_k.
            let sorted = inside.sorted { $0[2] > $1[2] }
            var volume = 0.0
            var active: [(Double, Double)] = []
            for (k, p) in sorted.enumerated() {
                active.append((p[0], p[1]))
                let below = k + 1 < sorted.count ? sorted[k + 1][2] : r[2]
                if below < p[2] { volume += area(active, r[0], r[1]) * (p[2] - below) }
            }
            return volume
        default:
            preconditionFailure("hypervolume for \(r.count) metrics is not implemented (studies have 2 or 3)")
        }
    }

    /// Area dominated by 2-D points (all above the reference) and dominating (rx, ry).
    static func area(_ points: [(Double, Double)], _ rx: Double, _ ry: Double) -> Double {
        let sorted = points.sorted { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 > $1.1 }
        var total = 0.0, top = ry
        for (x, y) in sorted where y > top {
            total += (x - rx) * (y - top)
            top = y
        }
        return total
    }

    /// The additive ε-indicator of `p` against a front: the least ε with p + ε (in every metric)
    /// weakly dominating some front point. > 0: p falls short of the front by ε; ≤ 0: p reaches it.
    public static func epsilon(_ p: [Double], front: [[Double]]) -> Double? {
        front.map { f in zip(f, p).map { $0 - $1 }.max()! }.min()
    }
}
