import Foundation
import Testing
@testable import Surrogate

@Suite struct SmoothedRBF {
    /// A 5×5 grid of a smooth function plus a fixed ±0.05 checkerboard ("noise").
    static func noisyGrid() -> (points: [[Double]], values: [Double]) {
        var p: [[Double]] = [], v: [Double] = []
        for i in 0..<5 { for j in 0..<5 {
            let x = Double(i) / 2, y = Double(j) / 2
            p.append([x, y]); v.append(sin(x) + 0.5 * y * y + ((i + j) % 2 == 0 ? 0.05 : -0.05))
        } }
        return (p, v)
    }

    @Test(arguments: [0.0, 1e-3, 0.1, 10.0])
    func closedFormLeaveOneOutEqualsRefits(smoothing: Double) throws {
        let (p, v) = Self.noisyGrid()
        let closed = try rbfLeaveOneOutErrors(points: p, values: v, smoothing: smoothing)
        let refits = try leaveOneOutErrors(points: p, values: v, heldOut: Array(p.indices), smoothing: smoothing, neighbors: .all)
        #expect(closed.count == 25)
        for (a, b) in zip(closed, refits) { #expect(abs(a - b) < 1e-8 * max(1, abs(b)), "\(a) vs \(b)") }
        // Smoothing changes the errors (the test would pass vacuously if it were ignored).
        if smoothing >= 0.1 {
            let exact = try rbfLeaveOneOutErrors(points: p, values: v)
            #expect(zip(closed, exact).contains { abs($0 - $1) > 1e-4 })
        }
    }

    @Test func tinySmoothingIsTheInterpolant() throws {
        let (p, v) = Self.noisyGrid()
        let exact = try RBFInterpolator(points: p, values: v)
        let smooth = try RBFInterpolator(points: p, values: v, smoothing: 1e-10)
        for x in [[0.3, 1.7], [1.9, 0.1], [1.0, 1.0], [0.0, 2.0]] { #expect(abs(exact(x) - smooth(x)) < 1e-8) }
        for (x, y) in zip(p, v) { #expect(abs(exact(x) - y) < 1e-9) }
    }

    /// λ → ∞ drives the kernel weights to 0 and leaves the least-squares line (degree 1).
    /// x = 0, 1, 2, 3, y = 0, 1, 1, 3: slope Sxy/Sxx = 4.5/5 = 0.9, intercept 1.25 − 0.9·1.5 = −0.1.
    @Test func hugeSmoothingIsTheLeastSquaresPolynomial() throws {
        let rbf = try RBFInterpolator(points: [[0], [1], [2], [3]], values: [0, 1, 1, 3], smoothing: 1e12)
        for (x, y) in [(0.0, -0.1), (1.5, 1.25), (3.0, 2.6), (2.0, 1.7)] { #expect(abs(rbf([x]) - y) < 1e-6, "at \(x): \(rbf([x]))") }
    }

    @Test func looChoosesSmoothingForNoisyDataAndNearZeroForSmoothData() throws {
        let (p, v) = Self.noisyGrid()
        let noisy = try chooseSmoothing(points: p, values: v)
        #expect(noisy.candidates == rbfSmoothingGrid && rbfSmoothingGrid.count == 22 && rbfSmoothingGrid[0] == 0)
        #expect(noisy.rmse == noisy.rmses.compactMap { $0 }.min())
        let interpolantRMSE = try #require(noisy.rmses[0])
        let exact = try rbfLeaveOneOutErrors(points: p, values: v)
        #expect(abs(interpolantRMSE - (exact.map { $0 * $0 }.reduce(0, +) / 25).squareRoot()) < 1e-12)
        #expect(noisy.smoothing > 0 && noisy.rmse < interpolantRMSE)
        // Without the checkerboard the best smoothing is far smaller.
        let clean = p.map { sin($0[0]) + 0.5 * $0[1] * $0[1] }
        let smooth = try chooseSmoothing(points: p, values: clean)
        #expect(smooth.smoothing < noisy.smoothing)
    }

    @Test func paperProtocolDrawsAreShared() throws {
        let land = try Landscape.load(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Surrogates/ta_branin_5x5.csv"))
        let old = try leaveOneOutFidelity(land, repeats: 20, seed: 3)
        let exact = try rbfLeaveOneOutErrors(points: land.points, values: land.scores)
        let viaClosure = try leaveOneOutFidelity(land, repeats: 20, seed: 3) { $0.map { exact[$0] } }
        #expect(viaClosure.heldOut == old.heldOut)
        for (a, b) in zip(viaClosure.errors, old.errors) { #expect(abs(a - b) < 1e-8 * max(1, abs(b))) }
    }
}
