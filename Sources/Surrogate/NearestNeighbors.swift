import Foundation

/// A k-d tree over a fixed set of points for exact k-nearest-neighbour queries (Euclidean).
/// Splits the widest coordinate of each node at its median; leaves hold ≤ `leafSize` points.
/// Ties in distance are broken by the smaller point index, so a query is deterministic.
public struct KDTree: Sendable {
    public let count: Int
    public let dimension: Int
    /// Points flattened row-major.
    private let coordinates: [Double]
    /// Point indices, permuted so that every node owns a contiguous range.
    private let order: [Int]
    private let nodes: [Node]
    static let leafSize = 12

    private struct Node: Sendable {
        var start: Int, end: Int          // range of `order`
        var axis: Int                     // -1 for a leaf
        var split: Double
        var left: Int, right: Int         // child node indices
        var lower: [Double], upper: [Double]  // bounding box of the node's points
    }

    public init(points: [[Double]]) {
        count = points.count
        dimension = points.first?.count ?? 0
        let d = dimension
        let flat = points.flatMap { $0 }
        coordinates = flat
        var order = Array(0..<count)
        var nodes: [Node] = []
        func build(_ start: Int, _ end: Int) -> Int {
            var lower = [Double](repeating: .infinity, count: d), upper = [Double](repeating: -.infinity, count: d)
            for i in start..<end {
                for k in 0..<d {
                    let v = flat[order[i] * d + k]
                    lower[k] = Swift.min(lower[k], v); upper[k] = Swift.max(upper[k], v)
                }
            }
            let id = nodes.count
            nodes.append(Node(start: start, end: end, axis: -1, split: 0, left: -1, right: -1, lower: lower, upper: upper))
            guard end - start > KDTree.leafSize else { return id }
            var axis = 0
            for k in 1..<Swift.max(d, 1) where upper[k] - lower[k] > upper[axis] - lower[axis] { axis = k }
            guard upper[axis] > lower[axis] else { return id }   // all points equal: a leaf
            // Median split (a full sort of the range: O(n log² n) overall, fine for 10⁵ points).
            order[start..<end].sort { (flat[$0 * d + axis], $0) < (flat[$1 * d + axis], $1) }
            let mid = (start + end) / 2
            let left = build(start, mid)
            let right = build(mid, end)
            nodes[id].axis = axis
            nodes[id].split = flat[order[mid] * d + axis]
            nodes[id].left = left
            nodes[id].right = right
            return id
        }
        if count > 0 { _ = build(0, count) }
        self.order = order
        self.nodes = nodes
    }

    /// The indices of the `k` points nearest to `x` (all points if k ≥ count), nearest first.
    public func nearest(_ x: [Double], k: Int) -> [Int] {
        precondition(x.count == dimension, "query of \(x.count) coordinates for a \(dimension)-D tree")
        let k = Swift.min(k, count)
        guard k > 0 else { return [] }
        let d = dimension
        // The best k so far, sorted by (squared distance, index).
        var bestD: [Double] = [], bestI: [Int] = []
        bestD.reserveCapacity(k + 1); bestI.reserveCapacity(k + 1)
        func worse(_ a: (Double, Int), than b: (Double, Int)) -> Bool { a.0 > b.0 || (a.0 == b.0 && a.1 > b.1) }
        func offer(_ dist: Double, _ index: Int) {
            if bestD.count == k && !worse((bestD[k - 1], bestI[k - 1]), than: (dist, index)) { return }
            var pos = bestD.count
            while pos > 0 && worse((bestD[pos - 1], bestI[pos - 1]), than: (dist, index)) { pos -= 1 }
            bestD.insert(dist, at: pos); bestI.insert(index, at: pos)
            if bestD.count > k { bestD.removeLast(); bestI.removeLast() }
        }
        func boxDistance(_ n: Node) -> Double {
            var s = 0.0
            for j in 0..<d {
                let v = x[j]
                let gap = v < n.lower[j] ? n.lower[j] - v : (v > n.upper[j] ? v - n.upper[j] : 0)
                s += gap * gap
            }
            return s
        }
        func visit(_ id: Int) {
            let node = nodes[id]
            // `<=` rather than `<`: an equally distant point with a smaller index may still win a tie.
            if bestD.count == k && boxDistance(node) > bestD[k - 1] { return }
            if node.axis < 0 {
                for i in node.start..<node.end {
                    let p = order[i]
                    var s = 0.0
                    for j in 0..<d { let diff = x[j] - coordinates[p * d + j]; s += diff * diff }
                    offer(s, p)
                }
                return
            }
            if x[node.axis] < node.split { visit(node.left); visit(node.right) } else { visit(node.right); visit(node.left) }
        }
        visit(0)
        return bestI
    }
}
