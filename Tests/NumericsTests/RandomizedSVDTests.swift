import Foundation
import Testing
@testable import MergetuneNumerics

/// A random m×n matrix with orthonormal singular vectors and the given singular values.
private func matrix(_ m: Int, _ n: Int, singularValues s: [Double], seed: UInt64) throws -> Matrix {
    let rng = RandomGenerator(seed: seed)
    func gaussian(_ r: Int, _ c: Int) -> Matrix { Matrix(rows: r, cols: c, storage: (0..<(r * c)).map { _ in rng.normal() }) }
    let u = try orthonormalBasis(gaussian(m, s.count)), v = try orthonormalBasis(gaussian(n, s.count))
    return u * Matrix.diagonal(s) * v.transposed
}

private func frobenius(_ a: Matrix) -> Double { a.storage.reduce(0) { $0 + $1 * $1 }.squareRoot() }

private func reconstruct(_ t: TruncatedSVD) -> Matrix { t.u * Matrix.diagonal(t.singularValues) * t.v.transposed }

private func maxOrthogonalityError(_ q: Matrix) -> Double {
    let g = q.transposed * q
    var worst = 0.0
    for i in 0..<g.rows { for j in 0..<g.cols { worst = max(worst, abs(g[i, j] - (i == j ? 1 : 0))) } }
    return worst
}

@Suite struct RandomizedSVDTests {
    @Test func orthonormalBasisSpansTheColumns() throws {
        let a = try matrix(30, 6, singularValues: [6, 5, 4, 3, 2, 1], seed: 3)
        let q = try orthonormalBasis(a)
        #expect(q.rows == 30 && q.cols == 6)
        #expect(maxOrthogonalityError(q) < 1e-12)
        // A = Q Qᵀ A when Q spans A's columns.
        let back = q * (q.transposed * a)
        #expect(frobenius(Matrix(rows: 30, cols: 6, storage: zip(back.storage, a.storage).map { $0 - $1 })) < 1e-12)
    }

    /// An exactly rank-5 matrix: the range finder captures its range, so the singular values
    /// and the matrix itself come back to rounding, through the randomized path (k + p < min(m, n)).
    @Test func exactlyLowRankIsRecoveredToRounding() throws {
        let s = [10.0, 5, 3, 2, 1]
        let a = try matrix(60, 40, singularValues: s, seed: 11)
        let t = try TruncatedSVD(a, rank: 5, oversampling: 5, powerIterations: 1, seed: 7)
        #expect(!t.exact)
        for (x, y) in zip(t.singularValues, s) { #expect(abs(x - y) < 1e-10) }
        let diff = zip(reconstruct(t).storage, a.storage).map { $0 - $1 }
        #expect(frobenius(Matrix(rows: 60, cols: 40, storage: diff)) < 1e-10)
        #expect(maxOrthogonalityError(t.u) < 1e-12 && maxOrthogonalityError(t.v) < 1e-12)
        // The same seed gives the same factors bit for bit.
        let again = try TruncatedSVD(a, rank: 5, oversampling: 5, powerIterations: 1, seed: 7)
        #expect(again.u == t.u && again.singularValues == t.singularValues && again.v == t.v)
    }

    /// A general matrix (full rank, decaying spectrum) against GSL's full SVD: the top-k singular
    /// values agree, and the rank-k error is within 1% of the optimal (Eckart–Young) tail.
    @Test func generalMatrixMatchesFullSVDOnTheTopK() throws {
        let spectrum = (0..<50).map { 3 * pow(0.8, Double($0)) }
        let a = try matrix(80, 50, singularValues: spectrum, seed: 5)
        let full = try SVD(a)
        for (x, y) in zip(full.singularValues, spectrum) { #expect(abs(x - y) < 1e-10) }
        let k = 8
        let t = try TruncatedSVD(a, rank: k, oversampling: 10, powerIterations: 2, seed: 1)
        #expect(!t.exact && t.singularValues.count == k)
        for j in 0..<k { #expect(abs(t.singularValues[j] - full.singularValues[j]) < 1e-4 * full.singularValues[0]) }
        let err = frobenius(Matrix(rows: 80, cols: 50, storage: zip(reconstruct(t).storage, a.storage).map { $0 - $1 }))
        let optimal = full.singularValues[k...].reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(err >= optimal * (1 - 1e-12) && err <= optimal * 1.01)
    }

    /// When k + p reaches min(m, n), the full SVD is taken: exact truncation.
    @Test func smallMatricesUseTheFullSVD() throws {
        let a = try matrix(12, 9, singularValues: [4, 3, 2, 1], seed: 2)
        let t = try TruncatedSVD(a, rank: 3, oversampling: 10, seed: 0)
        #expect(t.exact)
        for (x, y) in zip(t.singularValues, [4.0, 3, 2]) { #expect(abs(x - y) < 1e-12) }
        // A wide matrix goes through its transpose.
        let w = try TruncatedSVD(a.transposed, rank: 2, oversampling: 2, seed: 0)
        #expect(w.u.rows == 9 && w.v.rows == 12)
        for (x, y) in zip(w.singularValues, [4.0, 3]) { #expect(abs(x - y) < 1e-10) }
    }
}
