import Foundation

/// A straight piece of a contour line, in data coordinates.
public struct ContourSegment: Sendable, Equatable {
    public var x0, y0, x1, y1: Double
    public init(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }
}

/// Marching squares: the segments where the field `z` crosses `level`. `z[j][i]` is the value at
/// (xs[i], ys[j]); every cell (i..i+1, j..j+1) contributes 0, 1 or 2 segments whose endpoints lie
/// on the cell's edges, linearly interpolated. A corner counts as "above" when z ≥ level. The two
/// saddle cases are resolved by the mean of the four corners (above: the above-corners connect).
/// Cells with a non-finite corner are skipped.
public func marchingSquares(xs: [Double], ys: [Double], z: [[Double]], level: Double) -> [ContourSegment] {
    guard xs.count >= 2, ys.count >= 2, z.count == ys.count, z.allSatisfy({ $0.count == xs.count }) else { return [] }
    var segments: [ContourSegment] = []
    for j in 0..<(ys.count - 1) {
        for i in 0..<(xs.count - 1) {
            // Corners counter-clockwise from bottom-left: a (i,j), b (i+1,j), c (i+1,j+1), d (i,j+1).
            let za = z[j][i], zb = z[j][i + 1], zc = z[j + 1][i + 1], zd = z[j + 1][i]
            guard za.isFinite, zb.isFinite, zc.isFinite, zd.isFinite else { continue }
            let code = (za >= level ? 1 : 0) | (zb >= level ? 2 : 0) | (zc >= level ? 4 : 0) | (zd >= level ? 8 : 0)
            if code == 0 || code == 15 { continue }
            let x0 = xs[i], x1 = xs[i + 1], y0 = ys[j], y1 = ys[j + 1]
            func t(_ p: Double, _ q: Double) -> Double { p == q ? 0.5 : (level - p) / (q - p) }
            // Crossing points on the four edges: bottom (a-b), right (b-c), top (d-c), left (a-d).
            let bottom = (x0 + t(za, zb) * (x1 - x0), y0)
            let right = (x1, y0 + t(zb, zc) * (y1 - y0))
            let top = (x0 + t(zd, zc) * (x1 - x0), y1)
            let left = (x0, y0 + t(za, zd) * (y1 - y0))
            func seg(_ p: (Double, Double), _ q: (Double, Double)) { segments.append(ContourSegment(p.0, p.1, q.0, q.1)) }
            switch code {
            case 1, 14: seg(left, bottom)
            case 2, 13: seg(bottom, right)
            case 3, 12: seg(left, right)
            case 4, 11: seg(right, top)
            case 6, 9: seg(bottom, top)
            case 7, 8: seg(left, top)
            case 5:  // a and c above
                if (za + zb + zc + zd) / 4 >= level { seg(left, top); seg(bottom, right) } else { seg(left, bottom); seg(right, top) }
            case 10:  // b and d above
                if (za + zb + zc + zd) / 4 >= level { seg(left, bottom); seg(right, top) } else { seg(left, top); seg(bottom, right) }
            default: break
            }
        }
    }
    return segments
}
