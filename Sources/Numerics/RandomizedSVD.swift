import CGSL

/// Orthonormal basis of the column space of `a` (m×ℓ, m ≥ ℓ): the thin Q of a Householder QR
/// (GSL QR_decomp), built column by column with QR_Qvec so no m×m matrix is formed.
public func orthonormalBasis(_ a: Matrix) throws -> Matrix {
    GSL.setUp()
    let m = a.rows, l = a.cols
    guard m >= l else { throw NumericsError.dimensionMismatch("orthonormal basis of \(m)x\(l): needs rows ≥ columns") }
    guard l > 0 else { return Matrix(rows: m, cols: 0) }
    var tau = [Double](repeating: 0, count: l)
    var qr = a
    let status = qr.storage.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var view = gsl_matrix_view_array(buffer.baseAddress, m, l)
        return withGSLVector(&tau) { gsl_linalg_QR_decomp(&view.matrix, $0) }
    }
    try GSL.check(status, "QR_decomp")
    var q = Matrix(rows: m, cols: l)
    for j in 0..<l {
        var e = [Double](repeating: 0, count: m)
        e[j] = 1
        let s = qr.storage.withUnsafeBufferPointer { fb -> Int32 in
            let view = gsl_matrix_const_view_array(fb.baseAddress, m, l)
            return withUnsafePointer(to: view.matrix) { mp in
                tau.withUnsafeBufferPointer { tb in
                    let tv = gsl_vector_const_view_array(tb.baseAddress, l)
                    return withUnsafePointer(to: tv.vector) { tp in withGSLVector(&e) { gsl_linalg_QR_Qvec(mp, tp, $0) } }
                }
            }
        }
        try GSL.check(s, "QR_Qvec")
        for i in 0..<m { q[i, j] = e[i] }
    }
    return q
}

/// Rank-k truncated SVD A ≈ U diag(s) Vᵀ by the randomized range finder of Halko, Martinsson &
/// Tropp (2011, Algorithms 4.4 and 5.1): Y = (A Aᵀ)^q A Ω for a Gaussian Ω with k + p columns,
/// re-orthonormalized after every product (subspace iteration), Q = orth(Y), then the exact SVD
/// of the small B = Qᵀ A. When k + p reaches min(m, n) the range finder would gain nothing, so
/// GSL's full SVD is taken and truncated (exact). Deterministic for a seed (mt19937).
public struct TruncatedSVD: Sendable {
    /// m×k, orthonormal columns.
    public let u: Matrix
    /// k values, descending.
    public let singularValues: [Double]
    /// n×k, orthonormal columns.
    public let v: Matrix
    /// true: GSL's full SVD (exact up to rounding); false: the randomized range finder.
    public let exact: Bool

    public init(_ a: Matrix, rank k: Int, oversampling p: Int = 10, powerIterations q: Int = 2, seed: UInt64 = 0) throws {
        let m = a.rows, n = a.cols, r = min(m, n)
        guard k >= 0, p >= 0, q >= 0 else { throw NumericsError.invalidArgument("rank, oversampling and power iterations must be ≥ 0") }
        let k = min(k, r)
        if k + p >= r {
            let full = try SVD(a)
            u = Self.leading(full.u, k)
            v = Self.leading(full.v, k)
            singularValues = Array(full.singularValues.prefix(k))
            exact = true
            return
        }
        let l = k + p
        let rng = RandomGenerator(seed: seed)
        var omega = Matrix(rows: n, cols: l)
        for i in 0..<omega.storage.count { omega.storage[i] = rng.normal() }
        let at = a.transposed
        var basis = try orthonormalBasis(a * omega)
        for _ in 0..<q {
            let z = try orthonormalBasis(at * basis)
            basis = try orthonormalBasis(a * z)
        }
        let b = basis.transposed * a  // l×n
        let small = try SVD(b)
        u = Self.leading(basis * small.u, k)
        v = Self.leading(small.v, k)
        singularValues = Array(small.singularValues.prefix(k))
        exact = false
    }

    /// The first k columns of `a`.
    static func leading(_ a: Matrix, _ k: Int) -> Matrix {
        var out = Matrix(rows: a.rows, cols: k)
        for i in 0..<a.rows { for j in 0..<k { out[i, j] = a[i, j] } }
        return out
    }
}
