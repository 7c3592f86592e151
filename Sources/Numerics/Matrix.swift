import CGSL

/// A dense row-major matrix of Double that owns its storage.
public struct Matrix: Sendable, Equatable, CustomStringConvertible {
    public let rows: Int
    public let cols: Int
    public var storage: [Double]

    public init(rows: Int, cols: Int, repeating value: Double = 0) {
        precondition(rows >= 0 && cols >= 0)
        self.rows = rows; self.cols = cols
        storage = Array(repeating: value, count: rows * cols)
    }

    public init(rows: Int, cols: Int, storage: [Double]) {
        precondition(storage.count == rows * cols, "storage has \(storage.count) values for \(rows)x\(cols)")
        self.rows = rows; self.cols = cols; self.storage = storage
    }

    /// From nested rows; all rows must have the same length.
    public init(_ nested: [[Double]]) {
        let r = nested.count, c = nested.first?.count ?? 0
        precondition(nested.allSatisfy { $0.count == c }, "ragged rows")
        self.init(rows: r, cols: c, storage: nested.flatMap { $0 })
    }

    public static func identity(_ n: Int) -> Matrix {
        var m = Matrix(rows: n, cols: n)
        for i in 0..<n { m[i, i] = 1 }
        return m
    }

    public static func diagonal(_ values: [Double]) -> Matrix {
        var m = Matrix(rows: values.count, cols: values.count)
        for (i, v) in values.enumerated() { m[i, i] = v }
        return m
    }

    public subscript(i: Int, j: Int) -> Double {
        get { storage[i * cols + j] }
        set { storage[i * cols + j] = newValue }
    }

    public func row(_ i: Int) -> [Double] { Array(storage[(i * cols)..<((i + 1) * cols)]) }
    public func column(_ j: Int) -> [Double] { (0..<rows).map { self[$0, j] } }

    public var transposed: Matrix {
        var t = Matrix(rows: cols, cols: rows)
        for i in 0..<rows { for j in 0..<cols { t[j, i] = self[i, j] } }
        return t
    }

    public var description: String {
        (0..<rows).map { row($0).map { String($0) }.joined(separator: " ") }.joined(separator: "\n")
    }

    /// Matrix product through BLAS dgemm (OpenBLAS).
    public static func * (a: Matrix, b: Matrix) -> Matrix {
        precondition(a.cols == b.rows, "product of \(a.rows)x\(a.cols) and \(b.rows)x\(b.cols)")
        var c = Matrix(rows: a.rows, cols: b.cols)
        if a.rows == 0 || b.cols == 0 || a.cols == 0 { return c }
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                c.storage.withUnsafeMutableBufferPointer { pc in
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                Int32(a.rows), Int32(b.cols), Int32(a.cols), 1.0,
                                pa.baseAddress, Int32(a.cols), pb.baseAddress, Int32(b.cols),
                                0.0, pc.baseAddress, Int32(b.cols))
                }
            }
        }
        return c
    }

    /// Matrix-vector product through BLAS dgemv.
    public static func * (a: Matrix, x: [Double]) -> [Double] {
        precondition(a.cols == x.count, "product of \(a.rows)x\(a.cols) and a vector of \(x.count)")
        var y = [Double](repeating: 0, count: a.rows)
        if a.rows == 0 || a.cols == 0 { return y }
        a.storage.withUnsafeBufferPointer { pa in
            x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(a.rows), Int32(a.cols), 1.0,
                                pa.baseAddress, Int32(a.cols), px.baseAddress, 1, 0.0, py.baseAddress, 1)
                }
            }
        }
        return y
    }

    /// Runs `body` with a GSL view of a copy of this matrix, and returns the copy as modified.
    func withGSLCopy<R>(_ body: (UnsafeMutablePointer<gsl_matrix>) throws -> R) rethrows -> (Matrix, R) {
        var copy = self
        let result = try copy.storage.withUnsafeMutableBufferPointer { buffer -> R in
            var view = gsl_matrix_view_array(buffer.baseAddress, rows, cols)
            return try withUnsafeMutablePointer(to: &view.matrix) { try body($0) }
        }
        return (copy, result)
    }
}

/// Runs `body` with a GSL vector view over `values` (mutated in place).
func withGSLVector<R>(_ values: inout [Double], _ body: (UnsafeMutablePointer<gsl_vector>) throws -> R) rethrows -> R {
    try values.withUnsafeMutableBufferPointer { buffer in
        var view = gsl_vector_view_array(buffer.baseAddress, buffer.count)
        return try withUnsafeMutablePointer(to: &view.vector) { try body($0) }
    }
}

func copyOut(_ v: UnsafePointer<gsl_vector>) -> [Double] {
    (0..<v.pointee.size).map { gsl_vector_get(v, $0) }
}

/// Single-precision row-major GEMM, C = alpha·op(A)·op(B) + beta·C, on raw buffers (OpenBLAS
/// sgemm). For forward passes, where copying into `Matrix` would cost more than the product.
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
