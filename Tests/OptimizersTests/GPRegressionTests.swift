import Foundation
import Testing
@testable import Optimizers

@Suite struct GPRegressionSurrogate {
    static func grid(_ f: (Double, Double) -> Double) -> (points: [[Double]], values: [Double]) {
        var p: [[Double]] = [], v: [Double] = []
        for i in 0..<6 { for j in 0..<6 {
            let x = 2 * Double(i) / 5, y = 4 * Double(j) / 5   // a 2 × 4 box: length scales in its units
            p.append([x, y]); v.append(f(x, y))
        } }
        return (p, v)
    }

    @Test func noiseFreeDataIsInterpolated() throws {
        let (p, v) = Self.grid { x, y in sin(1.5 * x) + cos(0.8 * y) }
        let gp = try GPRegression(points: p, values: v, bounds: [0...2, 0...4])
        #expect(gp.noiseSD < 1e-2, "noise sd \(gp.noiseSD)")
        for (x, y) in zip(p, v) { #expect(abs(gp(x) - y) < 1e-2, "at \(x): \(gp(x)) vs \(y)") }
        // Between the points too (a smooth function the kernel can represent).
        #expect(abs(gp([1.1, 2.3]) - (sin(1.65) + cos(1.84))) < 0.05)
    }

    @Test func noisyDataIsSmoothedAndNoiseFitted() throws {
        // A plane plus a ±0.3 checkerboard: the GP should attribute it to noise.
        var k = 0
        let (p, v) = Self.grid { x, y in k += 1; return x + 0.5 * y + (((k / 6) + k) % 2 == 0 ? 0.3 : -0.3) }
        let gp = try GPRegression(points: p, values: v, bounds: [0...2, 0...4])
        #expect(gp.noiseSD > 0.1 && gp.noiseSD < 0.6, "noise sd \(gp.noiseSD)")
        let residual = zip(p, v).map { abs(gp($0) - $1) }.max()!
        #expect(residual > 0.1)  // does not interpolate
    }

    @Test func closedFormLeaveOneOutEqualsRefitsAtFixedHyperparameters() throws {
        var k = 0
        let (p, v) = Self.grid { x, y in k += 1; return sin(x) * y + (k % 3 == 0 ? 0.2 : 0) }
        let gp = try GPRegression(points: p, values: v, bounds: [0...2, 0...4])
        let closed = try gp.leaveOneOutErrors()
        let g = gp.gp, d = 2
        for i in [0, 7, 20, 35] {
            var x = g.inputs, y = g.targets
            x.removeSubrange((i * d)..<(i * d + d)); y.remove(at: i)
            let reduced = try GaussianProcess(inputs: x, targets: y, dimension: d, theta: g.theta, noiseFloor: g.noiseFloor)
            let mu = try reduced.predict(Array(g.inputs[(i * d)..<(i * d + d)]), count: 1).mean[0]
            let error = (mu - g.targets[i]) * gp.sd
            #expect(abs(error - closed[i]) < 1e-8, "point \(i): \(error) vs \(closed[i])")
        }
    }
}
