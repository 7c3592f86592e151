import Foundation
import MergetuneNumerics

/// The radial basis functions of scipy.interpolate.RBFInterpolator, with the same names and
/// the same signs (r = epsilon · distance).
public enum RBFKernel: String, CaseIterable, Sendable, Codable {
    case linear                                              // -r
    case thinPlateSpline = "thin_plate_spline"               // r² log r
    case cubic                                               // r³
    case quintic                                             // -r⁵
    case multiquadric                                        // -sqrt(1 + r²)
    case inverseMultiquadric = "inverse_multiquadric"        // 1 / sqrt(1 + r²)
    case inverseQuadratic = "inverse_quadratic"              // 1 / (1 + r²)
    case gaussian                                            // exp(-r²)

    /// Kernels for which epsilon only rescales the smoothing; scipy defaults epsilon to 1 for
    /// them and requires it for the others.
    public var isScaleInvariant: Bool {
        switch self {
        case .linear, .thinPlateSpline, .cubic, .quintic: return true
        default: return false
        }
    }

    /// Minimum polynomial degree for a well-posed interpolant (conditionally positive definite
    /// of order m needs degree ≥ m − 1; Fasshauer ch. 8, as scipy). -1: positive definite.
    public var minimumDegree: Int {
        switch self {
        case .multiquadric, .linear: return 0
        case .thinPlateSpline, .cubic: return 1
        case .quintic: return 2
        case .inverseMultiquadric, .inverseQuadratic, .gaussian: return -1
        }
    }

    /// scipy's default degree: the minimum degree, or 0 (a constant) where there is none.
    public var defaultDegree: Int { max(minimumDegree, 0) }

    @inline(__always)
    func callAsFunction(_ r: Double) -> Double {
        switch self {
        case .linear: return -r
        case .thinPlateSpline: return r == 0 ? 0 : r * r * Foundation.log(r)
        case .cubic: return r * r * r
        case .quintic: return -(r * r * r * r * r)
        case .multiquadric: return -(r * r + 1).squareRoot()
        case .inverseMultiquadric: return 1 / (r * r + 1).squareRoot()
        case .inverseQuadratic: return 1 / (r * r + 1)
        case .gaussian: return Foundation.exp(-(r * r))
        }
    }
}

/// Why an interpolator could not be built.
public enum RBFError: Error, Equatable, LocalizedError {
    case invalidInput(String)
    case tooFewPoints(points: Int, needed: Int, degree: Int, dimensions: Int)
    case singular(String)

    public var errorDescription: String? {
        switch self {
        case .invalidInput(let text): return text
        case .tooFewPoints(let points, let needed, let degree, let dimensions):
            return "at least \(needed) data points are required when the polynomial degree is \(degree) "
                + "and the number of dimensions is \(dimensions); there are \(points)"
        case .singular(let text): return text
        }
    }
}

/// The number of monomials of total degree ≤ `degree` in `dimensions` variables: C(d + n, n).
public func monomialCount(dimensions: Int, degree: Int) -> Int {
    guard degree >= 0 else { return 0 }
    var c = 1
    for i in stride(from: 1, through: dimensions, by: 1) { c = c * (degree + i) / i }
    return c
}

/// Exponents of the monomials, in scipy's order: by total degree, then as
/// itertools.combinations_with_replacement over the variables.
func monomialPowers(dimensions: Int, degree: Int) -> [[Int]] {
    guard degree >= 0 else { return [] }
    var out: [[Int]] = []
    // Multisets of variables of size `deg`, in lexicographic order of non-decreasing indices.
    func combinations(_ deg: Int, from start: Int, _ current: inout [Int]) {
        if current.count == deg {
            var powers = [Int](repeating: 0, count: dimensions)
            for v in current { powers[v] += 1 }
            out.append(powers)
            return
        }
        for v in start..<dimensions {
            current.append(v)
            combinations(deg, from: v, &current)
            current.removeLast()
        }
    }
    for deg in 0...degree {
        var current: [Int] = []
        combinations(deg, from: 0, &current)
    }
    return out
}

/// Which data points each evaluation uses (scipy's `neighbors`).
public enum RBFNeighborhood: Sendable, Equatable {
    /// All of them up to `RBFInterpolator.automaticThreshold` points, else the
    /// `RBFInterpolator.automaticNeighbors` nearest.
    case automatic
    /// Every data point: one dense solve (scipy's `neighbors=None`).
    case all
    /// The k nearest data points to each evaluation point (scipy's `neighbors=k`; k > points means all).
    case nearest(Int)
}

/// Radial basis function interpolation with the semantics of scipy.interpolate.RBFInterpolator
/// (scalar smoothing, scalar values):
///
///     f(x) = Σᵢ aᵢ φ(ε‖x − yᵢ‖) + Σⱼ bⱼ pⱼ((x − shift) / scale)
///
/// where pⱼ are the monomials of total degree ≤ `degree`, shift and scale map the data's
/// bounding box onto [-1, 1] per coordinate (scale 1 where a coordinate is constant), and
/// (a, b) solve the augmented system [[K + smoothing·I, P], [Pᵀ, 0]] [a; b] = [values; 0].
///
/// With `neighbors` = k (scipy's `neighbors` option), each evaluation point x uses the system
/// above built on the k data points nearest to x only (in increasing index order, with shift
/// and scale from those k points' bounding box), so a fit costs a k-d tree and an evaluation a
/// (k + monomials)² solve; the last few local solutions are cached, as neighbouring evaluation
/// points (a Nelder–Mead simplex) share neighbourhoods. Above `automaticThreshold` points
/// `.automatic` uses k = `automaticNeighbors` (docs/surrogate.md, "Large landscapes").
public struct RBFInterpolator: Sendable {
    public let kernel: RBFKernel
    public let epsilon: Double
    public let smoothing: Double
    public let degree: Int
    public let dimension: Int
    public let centers: [[Double]]
    public let values: [Double]
    /// The k of local interpolation, or nil for one dense solve on every point.
    public let neighbors: Int?

    /// Above this many data points, `.automatic` interpolates locally (a dense solve is O(n³)
    /// time and O(n²) memory: `landscape fit`, with its 20 leave-one-out refits, takes 3.5 s at
    /// 1,000 points and 21 s at 2,000 on 2 cores; Benchmarks/surrogate.md).
    public static let automaticThreshold = 1000
    /// The k of `.automatic` local interpolation (at least twice the monomial count).
    public static let automaticNeighbors = 64

    private let powerRows: [[Int]]
    /// Monomial exponents, flattened row-major (monomials × dimension).
    private let powers: [Int]
    private let monomials: Int
    /// The dense solution (neighbors == nil).
    private let dense: LocalFit?
    private let tree: KDTree?
    private let cache: FitCache?

    /// One solved system: centers (times epsilon), the polynomial's shift and scale, coefficients.
    struct LocalFit: @unchecked Sendable {
        let scaledCenters: [Double]
        let shift: [Double]
        let scale: [Double]
        let a: [Double]
        let b: [Double]
    }

    /// The most recent local fits, keyed by their (sorted) neighbour indices.
    final class FitCache: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [[Int]: LocalFit] = [:]
        private var keys: [[Int]] = []
        static let capacity = 512
        func get(_ key: [Int]) -> LocalFit? { lock.lock(); defer { lock.unlock() }; return entries[key] }
        func put(_ key: [Int], _ fit: LocalFit) {
            lock.lock(); defer { lock.unlock() }
            if entries[key] != nil { return }
            if keys.count >= Self.capacity { entries[keys.removeFirst()] = nil }
            entries[key] = fit; keys.append(key)
        }
    }

    /// Kernel weights a (one per center) and polynomial coefficients b of the dense solve
    /// (empty with local interpolation: each neighbourhood has its own).
    public var kernelCoefficients: [Double] { dense?.a ?? [] }
    public var polynomialCoefficients: [Double] { dense?.b ?? [] }

    /// "local interpolation on the k nearest points" where that applies, else nil.
    public var note: String? {
        neighbors.map { "local interpolation on the \($0) nearest points (of \(centers.count); scipy's neighbors=\($0))" }
    }

    public init(points: [[Double]], values: [Double], kernel: RBFKernel = .thinPlateSpline,
                epsilon: Double? = nil, smoothing: Double = 0, degree: Int? = nil,
                neighbors: RBFNeighborhood = .automatic) throws {
        let n = points.count
        guard n > 0 else { throw RBFError.invalidInput("no data points") }
        let d = points[0].count
        guard d > 0 else { throw RBFError.invalidInput("data points have no coordinates") }
        guard points.allSatisfy({ $0.count == d }) else {
            throw RBFError.invalidInput("data points have different numbers of coordinates")
        }
        guard values.count == n else {
            throw RBFError.invalidInput("\(values.count) values for \(n) data points")
        }
        guard points.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
            throw RBFError.invalidInput("data point coordinates must be finite")
        }
        guard values.allSatisfy(\.isFinite) else { throw RBFError.invalidInput("data values must be finite") }
        // scipy raises for a missing epsilon on kernels that are not scale invariant; it accepts
        // any float otherwise, but a zero, negative or non-finite shape parameter is a mistake.
        let eps: Double
        if let epsilon {
            guard epsilon.isFinite, epsilon > 0 else {
                throw RBFError.invalidInput("epsilon must be a positive finite number, got \(epsilon)")
            }
            eps = epsilon
        } else if kernel.isScaleInvariant {
            eps = 1
        } else {
            throw RBFError.invalidInput("epsilon must be given for the \(kernel.rawValue) kernel "
                + "(only linear, thin_plate_spline, cubic and quintic default to 1)")
        }
        guard smoothing.isFinite, smoothing >= 0 else {
            throw RBFError.invalidInput("smoothing must be a non-negative finite number, got \(smoothing)")
        }
        let deg = degree ?? kernel.defaultDegree
        guard deg >= -1 else { throw RBFError.invalidInput("degree must be at least -1, got \(deg)") }
        let powerRows = monomialPowers(dimensions: d, degree: deg)
        let r = powerRows.count
        // scipy: neighbors = min(neighbors, points); the polynomial needs that many points.
        if case .nearest(let value) = neighbors, value < 1 {
            throw RBFError.invalidInput("neighbors must be at least 1, got \(value)")
        }
        let k = Self.resolve(neighbors, points: n, monomials: r)
        let observations = k ?? n
        guard r <= observations else {
            throw RBFError.tooFewPoints(points: observations, needed: r, degree: deg, dimensions: d)
        }

        self.kernel = kernel
        self.epsilon = eps
        self.smoothing = smoothing
        self.degree = deg
        self.dimension = d
        self.centers = points
        self.values = values
        self.neighbors = k
        self.powerRows = powerRows
        self.powers = powerRows.flatMap { $0 }
        self.monomials = r
        if k == nil {
            dense = try Self.solve(points: points, values: values, kernel: kernel, epsilon: eps,
                                   smoothing: smoothing, powerRows: powerRows)
            tree = nil
            cache = nil
        } else {
            dense = nil
            tree = KDTree(points: points)
            cache = FitCache()
        }
    }

    /// The k that `neighborhood` means for `points` data points (nil: dense).
    public static func resolve(_ neighborhood: RBFNeighborhood, points n: Int, monomials r: Int) -> Int? {
        switch neighborhood {
        case .all: return nil
        case .nearest(let value): return Swift.min(Swift.max(value, 1), n)
        case .automatic: return n > automaticThreshold ? Swift.min(n, Swift.max(automaticNeighbors, 2 * r)) : nil
        }
    }

    /// Builds and solves the augmented system on `points` (scipy's _build_and_solve_system).
    static func solve(points: [[Double]], values: [Double], kernel: RBFKernel, epsilon eps: Double,
                      smoothing: Double, powerRows: [[Int]]) throws -> LocalFit {
        let (lhs, shift, scale, scaledCenters) = system(points: points, kernel: kernel, epsilon: eps,
                                                        smoothing: smoothing, powerRows: powerRows)
        let n = points.count, r = powerRows.count
        let rhs = values + [Double](repeating: 0, count: r)
        let solution: [Double]
        do {
            solution = try LU.solve(lhs, rhs)
        } catch {
            throw RBFError.singular(Self.singularMessage(points: points, shift: shift, scale: scale, powers: powerRows))
        }
        guard solution.allSatisfy(\.isFinite) else {
            throw RBFError.singular(Self.singularMessage(points: points, shift: shift, scale: scale, powers: powerRows))
        }
        return LocalFit(scaledCenters: scaledCenters, shift: shift, scale: scale,
                        a: Array(solution[0..<n]), b: Array(solution[n...]))
    }

    /// The augmented matrix [[K + smoothing·I, P], [Pᵀ, 0]] of `solve`, with the polynomial's
    /// shift and scale and the scaled centers (the closed-form leave-one-out reuses it).
    static func system(points: [[Double]], kernel: RBFKernel, epsilon eps: Double, smoothing: Double,
                       powerRows: [[Int]]) -> (lhs: Matrix, shift: [Double], scale: [Double], scaledCenters: [Double]) {
        let n = points.count, d = points[0].count, r = powerRows.count
        // Shift and scale the polynomial's domain onto [-1, 1] (scipy: (max + min)/2, (max − min)/2).
        var shift = [Double](repeating: 0, count: d), scale = [Double](repeating: 1, count: d)
        for k in 0..<d {
            var lo = points[0][k], hi = points[0][k]
            for p in points { lo = Swift.min(lo, p[k]); hi = Swift.max(hi, p[k]) }
            shift[k] = (hi + lo) / 2
            let s = (hi - lo) / 2
            scale[k] = s == 0 ? 1 : s
        }
        let scaledCenters = points.flatMap { $0.map { $0 * eps } }

        let m = n + r
        var lhs = Matrix(rows: m, cols: m)
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for k in 0..<d {
                    let diff = scaledCenters[i * d + k] - scaledCenters[j * d + k]
                    s += diff * diff
                }
                lhs[i, j] = kernel(s.squareRoot())
            }
            lhs[i, i] += smoothing
            let yhat = (0..<d).map { (points[i][$0] - shift[$0]) / scale[$0] }
            for j in 0..<r {
                var p = 1.0
                for k in 0..<d { p *= Self.power(yhat[k], powerRows[j][k]) }
                lhs[i, n + j] = p
                lhs[n + j, i] = p
            }
        }
        return (lhs, shift, scale, scaledCenters)
    }

    /// The local fit for evaluation point x: its k nearest data points, in increasing index
    /// order as scipy sorts them. Throws where that local system is singular.
    func localFit(_ x: [Double]) throws -> LocalFit {
        let indices = tree!.nearest(x, k: neighbors!).sorted()
        if let hit = cache!.get(indices) { return hit }
        let fit = try Self.solve(points: indices.map { centers[$0] }, values: indices.map { values[$0] },
                                 kernel: kernel, epsilon: epsilon, smoothing: smoothing, powerRows: powerRows)
        cache!.put(indices, fit)
        return fit
    }

    /// The local system's error at x (nil with a dense solve or where it is solvable): the
    /// CLI names it, since `callAsFunction` answers NaN there.
    public func localError(at x: [Double]) -> String? {
        guard neighbors != nil else { return nil }
        do { _ = try localFit(x); return nil } catch { return error.localizedDescription }
    }

    /// scipy's diagnosis of a singular system: is the monomial matrix rank deficient?
    static func singularMessage(points: [[Double]], shift: [Double], scale: [Double], powers: [[Int]]) -> String {
        guard !powers.isEmpty else { return "singular matrix (are there repeated data points?)" }
        let rows = points.map { p in
            powers.map { pw in (0..<p.count).reduce(1.0) { $0 * power((p[$1] - shift[$1]) / scale[$1], pw[$1]) } }
        }
        if let svd = try? SVD(Matrix(rows)) {
            let sv = svd.singularValues
            let tol = (sv.first ?? 0) * Double(max(rows.count, powers.count)) * Double.ulpOfOne
            let rank = sv.filter { $0 > tol }.count
            if rank < powers.count {
                return "singular matrix: the matrix of monomials evaluated at the data point coordinates "
                    + "does not have full column rank (\(rank)/\(powers.count))"
            }
        }
        return "singular matrix (are there repeated data points?)"
    }

    @inline(__always)
    static func power(_ x: Double, _ k: Int) -> Double {
        switch k {
        case 0: return 1
        case 1: return x
        case 2: return x * x
        default: return Foundation.pow(x, Double(k))
        }
    }

    /// The interpolant at one point (which must have `dimension` coordinates). With a dense
    /// solve it allocates nothing; the kernel is chosen once per call, outside the loop over
    /// centers. With local interpolation a singular neighbourhood (e.g. its points on one line
    /// under a linear tail) gives NaN; `localError(at:)` says why.
    public func callAsFunction(_ x: [Double]) -> Double {
        precondition(x.count == dimension, "point of \(x.count) coordinates for a \(dimension)-D interpolator")
        let fit: LocalFit
        if let dense { fit = dense } else {
            guard let local = try? localFit(x) else { return .nan }
            fit = local
        }
        return x.withUnsafeBufferPointer { xb -> Double in
            let radial: Double
            switch kernel {
            case .linear: radial = kernelSum(xb, fit) { -$0 }
            case .thinPlateSpline: radial = kernelSum(xb, fit) { $0 == 0 ? 0 : $0 * $0 * Foundation.log($0) }
            case .cubic: radial = kernelSum(xb, fit) { $0 * $0 * $0 }
            case .quintic: radial = kernelSum(xb, fit) { -($0 * $0 * $0 * $0 * $0) }
            case .multiquadric: radial = kernelSum(xb, fit) { -($0 * $0 + 1).squareRoot() }
            case .inverseMultiquadric: radial = kernelSum(xb, fit) { 1 / ($0 * $0 + 1).squareRoot() }
            case .inverseQuadratic: radial = kernelSum(xb, fit) { 1 / ($0 * $0 + 1) }
            case .gaussian: radial = kernelSum(xb, fit) { Foundation.exp(-($0 * $0)) }
            }
            return radial + polynomialSum(xb, fit)
        }
    }

    /// Σᵢ aᵢ φ(‖εx − εyᵢ‖), with φ inlined by the caller's switch.
    @inline(__always)
    private func kernelSum(_ xb: UnsafeBufferPointer<Double>, _ fit: LocalFit, _ phi: (Double) -> Double) -> Double {
        let d = dimension, eps = epsilon
        return fit.scaledCenters.withUnsafeBufferPointer { cb in
            fit.a.withUnsafeBufferPointer { ab in
                var total = 0.0
                var base = 0
                for i in 0..<ab.count {
                    var s = 0.0
                    for k in 0..<d {
                        let diff = xb[k] * eps - cb[base + k]
                        s += diff * diff
                    }
                    total += ab[i] * phi(s.squareRoot())
                    base += d
                }
                return total
            }
        }
    }

    /// Σⱼ bⱼ pⱼ((x − shift)/scale).
    @inline(__always)
    private func polynomialSum(_ xb: UnsafeBufferPointer<Double>, _ fit: LocalFit) -> Double {
        let d = dimension
        return powers.withUnsafeBufferPointer { pb in
            var total = 0.0
            for j in 0..<monomials {
                var p = 1.0
                for k in 0..<d {
                    let e = pb[j * d + k]
                    if e != 0 { p *= Self.power((xb[k] - fit.shift[k]) / fit.scale[k], e) }
                }
                total += fit.b[j] * p
            }
            return total
        }
    }

    /// The interpolant at many points.
    public func predict(_ xs: [[Double]]) -> [Double] { xs.map { self($0) } }
}
