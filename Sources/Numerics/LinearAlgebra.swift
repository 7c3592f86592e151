import CGSL

/// Cholesky factor L of a symmetric positive-definite matrix A = L·Lᵀ (GSL cholesky_decomp1).
public struct Cholesky: Sendable {
    public let n: Int
    /// The factored matrix as GSL leaves it: L in the lower triangle (the upper holds Lᵀ).
    let factor: Matrix

    public init(_ a: Matrix) throws {
        guard a.rows == a.cols else { throw NumericsError.dimensionMismatch("Cholesky of \(a.rows)x\(a.cols)") }
        GSL.setUp()
        n = a.rows
        let (copy, status) = a.withGSLCopy { gsl_linalg_cholesky_decomp1($0) }
        if status == GSL_EDOM { throw NumericsError.notPositiveDefinite }
        try GSL.check(status, "cholesky_decomp1")
        factor = copy
    }

    /// The lower-triangular factor L.
    public var lower: Matrix {
        var l = Matrix(rows: n, cols: n)
        for i in 0..<n { for j in 0...i { l[i, j] = factor[i, j] } }
        return l
    }

    /// log det A = 2 Σ log L_ii.
    public var logDeterminant: Double {
        (0..<n).reduce(0) { $0 + 2 * log(factor[$1, $1]) }
    }

    /// Solves A x = b.
    public func solve(_ b: [Double]) throws -> [Double] {
        guard b.count == n else { throw NumericsError.dimensionMismatch("right-hand side of \(b.count) for \(n)x\(n)") }
        var x = b
        // svx reads the factor (const), so a view on it needs no copy.
        let status = factor.storage.withUnsafeBufferPointer { fb -> Int32 in
            let view = gsl_matrix_const_view_array(fb.baseAddress, n, n)
            return withUnsafePointer(to: view.matrix) { m in withGSLVector(&x) { gsl_linalg_cholesky_svx(m, $0) } }
        }
        try GSL.check(status, "cholesky_svx")
        return x
    }

    /// Solves L X = B for a matrix of right-hand sides (BLAS dtrsm), e.g. L⁻¹K* for GP variances.
    public func solveLower(_ b: Matrix) throws -> Matrix {
        var x = b
        try solveLower(inPlace: &x)
        return x
    }

    /// Solves L X = B in place (B is overwritten by X): no copy of a large right-hand side.
    public func solveLower(inPlace x: inout Matrix) throws {
        guard x.rows == n else { throw NumericsError.dimensionMismatch("\(x.rows) rows for \(n)x\(n)") }
        if x.cols == 0 || n == 0 { return }
        let cols = x.cols
        factor.storage.withUnsafeBufferPointer { fb in
            x.storage.withUnsafeMutableBufferPointer { xb in
                cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
                            Int32(n), Int32(cols), 1.0, fb.baseAddress, Int32(n), xb.baseAddress, Int32(cols))
            }
        }
    }

    /// Solves L x = b (forward substitution).
    public func solveLower(_ b: [Double]) throws -> [Double] {
        try solveLower(Matrix(rows: b.count, cols: 1, storage: b)).storage
    }

    /// A⁻¹.
    public func inverse() throws -> Matrix {
        let (inv, status) = factor.withGSLCopy { gsl_linalg_cholesky_invert($0) }
        try GSL.check(status, "cholesky_invert")
        return inv
    }
}

/// LU factorization with partial pivoting (GSL LU_decomp) for general square systems.
public struct LU: Sendable {
    public let n: Int
    let factor: Matrix
    let permutation: [Int]
    public let sign: Int32

    public init(_ a: Matrix) throws {
        guard a.rows == a.cols else { throw NumericsError.dimensionMismatch("LU of \(a.rows)x\(a.cols)") }
        GSL.setUp()
        n = a.rows
        let p = gsl_permutation_alloc(max(n, 1))!
        defer { gsl_permutation_free(p) }
        var signum: Int32 = 0
        let (copy, status) = a.withGSLCopy { gsl_linalg_LU_decomp($0, p, &signum) }
        try GSL.check(status, "LU_decomp")
        factor = copy
        sign = signum
        permutation = (0..<n).map { gsl_permutation_get(p, $0) }
        // An exactly zero pivot means a singular matrix; GSL would divide by it in the solve.
        for i in 0..<n where copy[i, i] == 0 { throw NumericsError.singular }
    }

    /// log |det A|.
    public var logAbsDeterminant: Double { (0..<n).reduce(0) { $0 + log(abs(factor[$1, $1])) } }

    /// Reciprocal condition estimate is not in GSL 2.7's LU API; callers needing it use SVD.
    public func solve(_ b: [Double]) throws -> [Double] {
        guard b.count == n else { throw NumericsError.dimensionMismatch("right-hand side of \(b.count) for \(n)x\(n)") }
        let p = gsl_permutation_alloc(max(n, 1))!
        defer { gsl_permutation_free(p) }
        for (i, v) in permutation.enumerated() { p.pointee.data[i] = v }
        var x = b
        var f = factor
        let status = f.storage.withUnsafeMutableBufferPointer { fb -> Int32 in
            var view = gsl_matrix_view_array(fb.baseAddress, n, n)
            return withGSLVector(&x) { gsl_linalg_LU_svx(&view.matrix, p, $0) }
        }
        try GSL.check(status, "LU_svx")
        return x
    }

    /// Solves A x = b in one call.
    public static func solve(_ a: Matrix, _ b: [Double]) throws -> [Double] { try LU(a).solve(b) }
}

/// Eigen-decomposition of a symmetric matrix (GSL eigen_symmv): A = V diag(values) Vᵀ,
/// eigenvalues ascending, eigenvectors in the columns of `vectors`.
public struct SymmetricEigen: Sendable {
    public let values: [Double]
    public let vectors: Matrix

    public init(_ a: Matrix) throws {
        guard a.rows == a.cols else { throw NumericsError.dimensionMismatch("eigen of \(a.rows)x\(a.cols)") }
        GSL.setUp()
        let n = a.rows
        guard n > 0 else { values = []; vectors = Matrix(rows: 0, cols: 0); return }
        let eval = gsl_vector_alloc(n)!, evec = gsl_matrix_alloc(n, n)!
        let work = gsl_eigen_symmv_alloc(n)!
        defer { gsl_vector_free(eval); gsl_matrix_free(evec); gsl_eigen_symmv_free(work) }
        let (_, status) = a.withGSLCopy { gsl_eigen_symmv($0, eval, evec, work) }
        try GSL.check(status, "eigen_symmv")
        try GSL.check(gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_ASC), "eigen_symmv_sort")
        values = copyOut(eval)
        var v = Matrix(rows: n, cols: n)
        for i in 0..<n { for j in 0..<n { v[i, j] = gsl_matrix_get(evec, i, j) } }
        vectors = v
    }
}

/// Thin singular value decomposition A = U diag(s) Vᵀ (GSL SV_decomp), singular values
/// descending. Works for any shape: a wide matrix is decomposed through its transpose.
public struct SVD: Sendable {
    public let u: Matrix
    public let singularValues: [Double]
    public let v: Matrix

    public init(_ a: Matrix) throws {
        GSL.setUp()
        if a.rows < a.cols {
            let t = try SVD(a.transposed)
            u = t.v; singularValues = t.singularValues; v = t.u
            return
        }
        let n = a.cols
        guard n > 0 else { u = a; singularValues = []; v = Matrix(rows: 0, cols: 0); return }
        let vm = gsl_matrix_alloc(n, n)!, s = gsl_vector_alloc(n)!, work = gsl_vector_alloc(n)!
        defer { gsl_matrix_free(vm); gsl_vector_free(s); gsl_vector_free(work) }
        let (uCopy, status) = a.withGSLCopy { gsl_linalg_SV_decomp($0, vm, s, work) }
        try GSL.check(status, "SV_decomp")
        u = uCopy
        singularValues = copyOut(s)
        var vv = Matrix(rows: n, cols: n)
        for i in 0..<n { for j in 0..<n { vv[i, j] = gsl_matrix_get(vm, i, j) } }
        v = vv
    }
}

/// Ordinary least squares y ≈ c0 + c1·x (GSL fit_linear).
public func linearFit(x: [Double], y: [Double]) throws -> (intercept: Double, slope: Double) {
    guard x.count == y.count, x.count >= 2 else {
        throw NumericsError.invalidArgument("a linear fit needs two or more (x, y) pairs of equal count")
    }
    GSL.setUp()
    var c0 = 0.0, c1 = 0.0, cov00 = 0.0, cov01 = 0.0, cov11 = 0.0, sumsq = 0.0
    let status = x.withUnsafeBufferPointer { px in
        y.withUnsafeBufferPointer { py in
            gsl_fit_linear(px.baseAddress, 1, py.baseAddress, 1, x.count, &c0, &c1, &cov00, &cov01, &cov11, &sumsq)
        }
    }
    try GSL.check(status, "fit_linear")
    guard c0.isFinite, c1.isFinite else { throw NumericsError.singular }
    return (c0, c1)
}
