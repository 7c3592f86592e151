import Foundation
import Testing
@testable import MergetuneNumerics

private func close(_ a: Double, _ b: Double, _ tol: Double = 1e-10) -> Bool { abs(a - b) <= tol * max(1, abs(b)) }

@Suite struct LinearAlgebraTests {
    // The textbook example with an integer factor: A = L Lᵀ, L = [[2,0,0],[6,1,0],[-8,5,3]].
    let spd = Matrix([[4, 12, -16], [12, 37, -43], [-16, -43, 98]])

    @Test func choleskyFactorSolveAndDeterminant() throws {
        let c = try Cholesky(spd)
        #expect(c.lower == Matrix([[2, 0, 0], [6, 1, 0], [-8, 5, 3]]))
        #expect(close(c.logDeterminant, 2 * log(6.0)))
        let x = try c.solve([1, 2, 3])
        let back = spd * x
        for (a, b) in zip(back, [1.0, 2, 3]) { #expect(close(a, b, 1e-9)) }
        let inv = try c.inverse()
        let eye = spd * inv
        for i in 0..<3 { for j in 0..<3 { #expect(abs(eye[i, j] - (i == j ? 1 : 0)) < 1e-9) } }
        // L y = b by forward substitution: y = (0.5, (2 - 3)/1, ...)
        let y = try c.solveLower([2, 7, 0])
        #expect(close(y[0], 1) && close(y[1], 1) && close(y[2], (0 + 8 - 5) / 3.0))
    }

    @Test func choleskyRejectsIndefinite() {
        #expect(throws: NumericsError.notPositiveDefinite) { try Cholesky(Matrix([[1, 2], [2, 1]])) }
    }

    @Test func luSolvesAndDetectsSingular() throws {
        let a = Matrix([[0, 2, 1], [1, -2, -3], [-1, 1, 2]])
        let x = try LU.solve(a, [-8, 0, 3])   // solution (-4, -5, 2)
        #expect(close(x[0], -4) && close(x[1], -5) && close(x[2], 2))
        #expect(close(try LU(a).logAbsDeterminant, log(1.0)))
        #expect(throws: NumericsError.singular) { try LU(Matrix([[1, 2], [2, 4]])) }
    }

    @Test func symmetricEigen() throws {
        let e = try SymmetricEigen(Matrix([[2, 1], [1, 2]]))
        #expect(close(e.values[0], 1) && close(e.values[1], 3))
        // A v = λ v for each column.
        for k in 0..<2 {
            let v = e.vectors.column(k)
            let av = Matrix([[2, 1], [1, 2]]) * v
            for i in 0..<2 { #expect(close(av[i], e.values[k] * v[i])) }
        }
    }

    @Test func svdOfTallAndWide() throws {
        let a = Matrix([[3, 0], [4, 5]])
        let s = try SVD(a)
        #expect(close(s.singularValues[0], 3 * 5.0.squareRoot()) && close(s.singularValues[1], 5.0.squareRoot()))
        let recon = s.u * Matrix.diagonal(s.singularValues) * s.v.transposed
        for i in 0..<2 { for j in 0..<2 { #expect(close(recon[i, j], a[i, j], 1e-9)) } }
        let wide = Matrix([[1, 0, 0], [0, 2, 0]])
        let sw = try SVD(wide)
        #expect(close(sw.singularValues[0], 2) && close(sw.singularValues[1], 1))
        let r2 = sw.u * Matrix.diagonal(sw.singularValues) * sw.v.transposed
        for i in 0..<2 { for j in 0..<3 { #expect(close(r2[i, j], wide[i, j], 1e-9)) } }
    }

    @Test func linearFitIsExactOnALine() throws {
        let f = try linearFit(x: [1, 2, 3, 4], y: [1.5, 1.0, 0.5, 0.0])
        #expect(close(f.intercept, 2) && close(f.slope, -0.5))
    }

    @Test func sgemmMatchesDgemm() {
        let a: [Float] = [1, 2, 3, 4, 5, 6]        // 2x3
        let b: [Float] = [7, 8, 9, 10, 11, 12]     // 3x2
        var c = [Float](repeating: 0, count: 4)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            sgemm(m: 2, n: 2, k: 3, a: pa.baseAddress!, lda: 3, b: pb.baseAddress!, ldb: 2, c: pc.baseAddress!, ldc: 2)
        } } }
        #expect(c == [58, 64, 139, 154])
    }
}

@Suite struct MinimizerTests {
    @Test func bfgsFindsRosenbrockMinimum() throws {
        let r = try minimizeBFGS(start: [-1.2, 1], gradientTolerance: 1e-8, maxIterations: 500) { x in
            let a = 1 - x[0], b = x[1] - x[0] * x[0]
            return (a * a + 100 * b * b, [-2 * a - 400 * x[0] * b, 200 * b])
        }
        #expect(r.converged)
        #expect(abs(r.x[0] - 1) < 1e-5 && abs(r.x[1] - 1) < 1e-5)
    }

    /// GSL asks for f and then ∇f at the same point; the objective runs once per distinct point
    /// (it is the expensive part of a GP fit), and the result is the same minimum.
    @Test func bfgsEvaluatesEachPointOnce() throws {
        var seen: [[UInt64]] = []
        let r = try minimizeBFGS(start: [-1.2, 1], gradientTolerance: 1e-8, maxIterations: 500) { x in
            seen.append(x.map(\.bitPattern))
            let a = 1 - x[0], b = x[1] - x[0] * x[0]
            return (a * a + 100 * b * b, [-2 * a - 400 * x[0] * b, 200 * b])
        }
        #expect(r.converged && abs(r.x[0] - 1) < 1e-5)
        #expect(seen.count > 10)
        // No two consecutive requests at one point (the memo); repeats further apart may recompute.
        for i in 1..<seen.count { #expect(seen[i] != seen[i - 1], "evaluation \(i) repeats \(i - 1)") }
    }

    @Test func choleskySolveLowerInPlaceMatchesForwardSubstitution() throws {
        let c = try Cholesky(Matrix([[4, 12, -16], [12, 37, -43], [-16, -43, 98]]))
        var b = Matrix([[2, 4], [7, 13], [0, 3]])
        try c.solveLower(inPlace: &b)
        // L = [[2,0,0],[6,1,0],[-8,5,3]]: column 0 → (1, 1, 1), column 1 → (2, 1, (3 + 16 − 5)/3).
        let expected: [Double] = [1, 2, 1, 1, 1, 14.0 / 3]
        for (a, e) in zip(b.storage, expected) { #expect(abs(a - e) < 1e-12) }
        var wrong = Matrix(rows: 2, cols: 1)
        #expect(throws: NumericsError.self) { try c.solveLower(inPlace: &wrong) }
    }

    @Test func nelderMeadFindsQuadraticMinimum() throws {
        let r = try minimizeNelderMead(start: [0, 0], stepSizes: [1, 1], sizeTolerance: 1e-6, maxIterations: 2000) { x in
            (x[0] - 3) * (x[0] - 3) + 2 * (x[1] + 1) * (x[1] + 1) + 5
        }
        #expect(r.converged)
        #expect(abs(r.x[0] - 3) < 1e-5 && abs(r.x[1] + 1) < 1e-5 && abs(r.value - 5) < 1e-9)
    }

    @Test func brentFindsPi() throws {
        let r = try minimizeBrent(lower: 0, upper: 6, guess: 2, absoluteTolerance: 1e-6) { cos($0) }
        #expect(r.converged)
        #expect(abs(r.x[0] - Double.pi) < 1e-6)
    }

    @Test func brentRejectsNonBracketingGuess() {
        #expect(throws: NumericsError.self) { try minimizeBrent(lower: 0, upper: 1, guess: 0.5) { $0 } }
    }

    /// A NaN answer stops Brent at the first unknown point: the basis of ask/tell replay.
    @Test func brentInterruptsOnNaNAndReplaysDeterministically() throws {
        var asked: [Double] = []
        let known = 5
        let r = try minimizeBrent(lower: 0, upper: 6, guess: 2) { x in
            asked.append(x)
            return asked.count > known ? .nan : cos(x)
        }
        #expect(r.interrupted)
        #expect(asked.count == known + 1)
        var again: [Double] = []
        _ = try minimizeBrent(lower: 0, upper: 6, guess: 2) { x in
            again.append(x)
            return again.count > known ? .nan : cos(x)
        }
        #expect(asked == again)
    }
}

@Suite struct RandomTests {
    /// FNV-1a 64 against the reference vectors of Fowler, Noll and Vo ("", "a", "foobar").
    @Test func fnv1a64MatchesTheReferenceVectors() {
        #expect(fnv1a64("".utf8) == 0xcbf2_9ce4_8422_2325)
        #expect(fnv1a64("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(fnv1a64("foobar".utf8) == 0x8594_4171_f739_67e8)
    }

    /// GSL's own test suite (rng/test.c): the 1000th output of mt19937 seeded with 4357 is 1186927261.
    @Test func mt19937MatchesGSLReferenceValue() {
        let g = RandomGenerator(seed: 4357)
        var last: UInt32 = 0
        for _ in 0..<1000 { last = g.nextUInt32() }
        #expect(last == 1186927261)
    }

    @Test func sameSeedSameStream() {
        let a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42), c = RandomGenerator(seed: 43)
        let xa = (0..<10).map { _ in a.normal() }, xb = (0..<10).map { _ in b.normal() }
        #expect(xa == xb)
        #expect(xa != (0..<10).map { _ in c.normal() })
    }

    @Test func uniformMomentsAndRange() {
        let g = RandomGenerator(seed: 7)
        let xs = (0..<20000).map { _ in g.uniform() }
        #expect(xs.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = xs.reduce(0, +) / Double(xs.count)
        #expect(abs(mean - 0.5) < 0.01)
        let ints = (0..<1000).map { _ in g.integer(below: 3) }
        #expect(Set(ints) == [0, 1, 2])
    }

    @Test func sobolFirstPoints() throws {
        let s = try SobolSequence(dimension: 2)
        #expect(s.next(4) == [[0.5, 0.5], [0.75, 0.25], [0.25, 0.75], [0.375, 0.375]])
        #expect(throws: NumericsError.self) { try SobolSequence(dimension: 41) }
    }

    @Test func shiftedSobolIsSeededAndInBox() throws {
        let a = try SobolSequence(dimension: 3, shiftSeed: 1).next(64)
        let b = try SobolSequence(dimension: 3, shiftSeed: 1).next(64)
        let c = try SobolSequence(dimension: 3, shiftSeed: 2).next(64)
        #expect(a == b && a != c)
        #expect(a.allSatisfy { $0.allSatisfy { $0 >= 0 && $0 < 1 } })
    }
}

@Suite struct NormalTests {
    // Reference values from scipy.stats.norm.
    @Test func matchesScipy() {
        #expect(close(StandardNormal.cdf(1.96), 0.9750021048517795, 1e-14))
        #expect(close(StandardNormal.quantile(0.975), 1.959963984540054, 1e-12))
        #expect(close(StandardNormal.logCDF(-40), -804.6084420137539, 1e-12))
        #expect(close(StandardNormal.logCDF(3), -0.0013508099647481925, 1e-10))
        #expect(close(StandardNormal.pdf(0), 1 / (2 * Double.pi).squareRoot(), 1e-15))
    }
}

@Suite(.serialized) struct BLASThreadTests {
    /// pinThreads sets OpenBLAS's thread count from MERGETUNE_BLAS_THREADS (default 1), and
    /// `threads` reads it back; a bad value is an error naming the variable.
    @Test func pinThreadsFollowsTheEnvironment() throws {
        // Never set another count here: tests run in parallel, and fixtures recorded with one
        // BLAS thread would see a second one mid-computation.
        #expect(try BLAS.configuredThreads(["MERGETUNE_BLAS_THREADS": "2"]) == 2)
        #expect(try BLAS.configuredThreads([:]) == 1)
        #expect(try BLAS.pinThreads([:]) == 1)
        #expect(BLAS.threads == 1)
        #expect(throws: BLASError.badThreadCount("zero")) { try BLAS.pinThreads(["MERGETUNE_BLAS_THREADS": "zero"]) }
        #expect(throws: BLASError.badThreadCount("0")) { try BLAS.configuredThreads(["MERGETUNE_BLAS_THREADS": "0"]) }
        #expect("\(BLASError.badThreadCount("0"))".contains("MERGETUNE_BLAS_THREADS"))
    }
}
