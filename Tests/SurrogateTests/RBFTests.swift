import Foundation
import Testing
@testable import Surrogate

/// The fixture written by scripts/crosscheck_rbf.py from scipy.interpolate.RBFInterpolator.
struct RBFReference: Decodable {
    struct Dataset: Decodable { let name: String; let points: [[Double]]; let values: [Double]; let queries: [[Double]] }
    struct Case: Decodable {
        let dataset: String; let kernel: String; let epsilon: Double?; let smoothing: Double; let degree: Int?
        let predictions: [Double]
    }
    struct LeaveOneOut: Decodable {
        let dataset: String; let kernel: String; let epsilon: Double?; let smoothing: Double
        let held_out: [Int]; let errors: [Double]; let rmse: Double; let rmse_percent_of_range: Double
    }
    struct Rejected: Decodable {
        let kernel: String; let epsilon: Double?; let smoothing: Double; let degree: Int?; let points: Int
        let scipy_message: String
    }
    let scipy: String
    let datasets: [Dataset]
    let cases: [Case]
    let loo: [LeaveOneOut]
    let errors: [Rejected]

    static func load() throws -> RBFReference {
        let url = try #require(Bundle.module.url(forResource: "rbf_reference", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(RBFReference.self, from: Data(contentsOf: url))
    }
    func dataset(_ name: String) -> Dataset { datasets.first { $0.name == name }! }
}

/// |swift − scipy| / |scipy|: plain relative difference (every reference value lies in 0.1...1,
/// so no floor is needed).
func relativeDifference(_ a: Double, _ b: Double) -> Double { abs(a - b) / abs(b) }

@Suite struct RBFScipyAgreement {
    @Test func predictionsMatchScipyToOneInOneHundredMillion() throws {
        let reference = try RBFReference.load()
        #expect(reference.cases.count >= 60)
        var worst: [String: Double] = [:]
        for c in reference.cases {
            let data = reference.dataset(c.dataset)
            let kernel = try #require(RBFKernel(rawValue: c.kernel))
            let rbf = try RBFInterpolator(points: data.points, values: data.values, kernel: kernel,
                                          epsilon: c.epsilon, smoothing: c.smoothing, degree: c.degree)
            let predictions = rbf.predict(data.queries)
            for (p, ref) in zip(predictions, c.predictions) {
                #expect(abs(ref) > 0.05)  // keeps the relative measure meaningful
                let rel = relativeDifference(p, ref)
                worst[c.kernel] = max(worst[c.kernel] ?? 0, rel)
                #expect(rel <= 1e-8, "\(c.dataset) \(c.kernel) eps=\(String(describing: c.epsilon)) s=\(c.smoothing) deg=\(String(describing: c.degree)): \(p) vs scipy \(ref)")
            }
        }
        #expect(Set(worst.keys) == Set(RBFKernel.allCases.map(\.rawValue)))
        print("max relative difference to scipy per kernel:",
              worst.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.2e", $0.value))" }.joined(separator: " "))
    }

    @Test func leaveOneOutErrorsMatchScipy() throws {
        let reference = try RBFReference.load()
        #expect(!reference.loo.isEmpty)
        for l in reference.loo {
            let data = reference.dataset(l.dataset)
            let kernel = try #require(RBFKernel(rawValue: l.kernel))
            let errors = try leaveOneOutErrors(points: data.points, values: data.values, heldOut: l.held_out,
                                               kernel: kernel, epsilon: l.epsilon, smoothing: l.smoothing)
            #expect(errors.count == l.errors.count)
            for (e, ref) in zip(errors, l.errors) {
                // Errors are differences of values near 0.5, so compare to the score range.
                #expect(abs(e - ref) <= 1e-8 * 0.5, "\(l.dataset) \(l.kernel): \(e) vs \(ref)")
            }
            let rmse = (errors.map { $0 * $0 }.reduce(0, +) / Double(errors.count)).squareRoot()
            #expect(relativeDifference(rmse, l.rmse) <= 1e-7)
        }
    }

    @Test func rejectsWhatScipyRejects() throws {
        let reference = try RBFReference.load()
        let data = reference.dataset("grid5x5")
        #expect(reference.errors.count == 5)
        for r in reference.errors {
            let kernel = try #require(RBFKernel(rawValue: r.kernel))
            #expect(throws: RBFError.self, "scipy: \(r.scipy_message)") {
                _ = try RBFInterpolator(points: Array(data.points.prefix(r.points)), values: Array(data.values.prefix(r.points)),
                                        kernel: kernel, epsilon: r.epsilon, smoothing: r.smoothing, degree: r.degree)
            }
        }
    }
}

@Suite struct RBFBasics {
    @Test func monomialPowersFollowScipyOrder() {
        // itertools.combinations_with_replacement order: 1, x, y, z, x², xy, xz, y², yz, z².
        #expect(monomialPowers(dimensions: 3, degree: 2) == [
            [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1],
            [2, 0, 0], [1, 1, 0], [1, 0, 1], [0, 2, 0], [0, 1, 1], [0, 0, 2]])
        #expect(monomialPowers(dimensions: 2, degree: -1).isEmpty)
        #expect(monomialCount(dimensions: 3, degree: 2) == 10)
        #expect(monomialCount(dimensions: 2, degree: 1) == 3)
        #expect(monomialCount(dimensions: 2, degree: -1) == 0)
    }

    @Test func defaultDegreesAreScipys() {
        let expected: [RBFKernel: Int] = [.linear: 0, .thinPlateSpline: 1, .cubic: 1, .quintic: 2, .multiquadric: 0,
                                          .inverseMultiquadric: 0, .inverseQuadratic: 0, .gaussian: 0]
        for k in RBFKernel.allCases { #expect(k.defaultDegree == expected[k]) }
    }

    @Test func interpolatesTheDataAndReproducesAPlane() throws {
        // A thin-plate spline with a linear tail reproduces any affine function exactly.
        let pts = (0..<5).flatMap { i in (0..<5).map { j in [Double(i) * 0.5, Double(j) * 0.5] } }
        let vals = pts.map { 0.3 + 0.2 * $0[0] - 0.1 * $0[1] }
        let rbf = try RBFInterpolator(points: pts, values: vals)
        for (p, v) in zip(pts, vals) { #expect(abs(rbf(p) - v) < 1e-12) }
        #expect(abs(rbf([1.37, 0.21]) - (0.3 + 0.2 * 1.37 - 0.1 * 0.21)) < 1e-12)
        #expect(rbf.kernelCoefficients.allSatisfy { abs($0) < 1e-10 })
    }

    @Test func repeatedPointsAreSingular() {
        #expect(throws: RBFError.self) {
            _ = try RBFInterpolator(points: [[0, 0], [1, 0], [0, 1], [1, 0]], values: [1, 2, 3, 4])
        }
    }

    @Test func collinearPointsReportRankDeficientTail() {
        // Points on a line cannot determine a plane: scipy names the rank of the monomial matrix.
        do {
            _ = try RBFInterpolator(points: [[0, 0], [1, 1], [2, 2], [3, 3]], values: [1, 2, 0, 1])
            Issue.record("collinear points were accepted")
        } catch let error as RBFError {
            #expect(error.localizedDescription.contains("(2/3)"), "\(error.localizedDescription)")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func rejectsBadOptions() {
        let pts: [[Double]] = [[0, 0], [1, 0], [0, 1], [1, 1]]
        #expect(throws: RBFError.self) { _ = try RBFInterpolator(points: pts, values: [1, 2, 3, 4], smoothing: -1) }
        #expect(throws: RBFError.self) { _ = try RBFInterpolator(points: pts, values: [1, 2, 3, 4], kernel: .gaussian, epsilon: 0) }
        #expect(throws: RBFError.self) { _ = try RBFInterpolator(points: pts, values: [1, 2, 3]) }
        #expect(throws: RBFError.self) { _ = try RBFInterpolator(points: pts, values: [1, 2, .nan, 4]) }
    }
}
