import CGSL

/// The outcome of a local minimization.
public struct MinimizationResult: Sendable, Equatable {
    public var x: [Double]
    public var value: Double
    public var iterations: Int
    /// The stopping test passed (as opposed to running out of iterations or stalling).
    public var converged: Bool
    /// The objective returned a non-finite value, which stops the minimizer (see each function).
    public var interrupted: Bool = false
}

/// Boxes a Swift closure so a C callback can reach it through GSL's `params` pointer.
private final class CallbackBox<F> {
    let body: F
    init(_ body: F) { self.body = body }
}

/// The BFGS objective behind GSL's callbacks, with its last evaluation kept: vector_bfgs2 asks
/// for f and then ∇f at the same point (its line search's f, then the accepted step's gradient),
/// and value and gradient come from one computation, so the second request is answered from
/// the first. The objective must be a pure function of x (every caller's is).
private final class MemoBox {
    let body: ([Double]) -> (value: Double, gradient: [Double])
    private var lastX: [Double] = []
    private var last: (value: Double, gradient: [Double]) = (.nan, [])
    init(_ body: @escaping ([Double]) -> (value: Double, gradient: [Double])) { self.body = body }

    func evaluate(_ v: UnsafePointer<gsl_vector>) -> (value: Double, gradient: [Double]) {
        let x = copyOut(v)
        // Bitwise: -0.0 and 0.0 are different inputs to the objective.
        if x.count == lastX.count, zip(x, lastX).allSatisfy({ $0.bitPattern == $1.bitPattern }) { return last }
        last = body(x); lastX = x
        return last
    }
}

/// Minimizes a smooth function with GSL's BFGS (vector_bfgs2). `valueAndGradient(x)` returns
/// f(x) and ∇f(x). Stops when ‖∇f‖ < `gradientTolerance`, after `maxIterations`, or when the
/// line search can make no progress (GSL_ENOPROG), returning the best point reached.
public func minimizeBFGS(
    start: [Double], initialStep: Double = 0.1, lineSearchTolerance: Double = 0.1,
    gradientTolerance: Double = 1e-6, maxIterations: Int = 200,
    _ valueAndGradient: (_ x: [Double]) -> (value: Double, gradient: [Double])
) throws -> MinimizationResult {
    GSL.setUp()
    let n = start.count
    guard n > 0 else { throw NumericsError.invalidArgument("BFGS needs at least one variable") }
    return try withoutActuallyEscaping(valueAndGradient) { fdf in
        let box = MemoBox(fdf)
        var function = gsl_multimin_function_fdf()
        function.n = n
        function.params = Unmanaged.passUnretained(box).toOpaque()
        function.f = { x, params in
            Unmanaged<MemoBox>.fromOpaque(params!).takeUnretainedValue().evaluate(x!).value
        }
        function.df = { x, params, g in
            let grad = Unmanaged<MemoBox>.fromOpaque(params!).takeUnretainedValue().evaluate(x!).gradient
            for (i, v) in grad.enumerated() { gsl_vector_set(g, i, v) }
        }
        function.fdf = { x, params, f, g in
            let r = Unmanaged<MemoBox>.fromOpaque(params!).takeUnretainedValue().evaluate(x!)
            f!.pointee = r.value
            for (i, v) in r.gradient.enumerated() { gsl_vector_set(g, i, v) }
        }
        let state = gsl_multimin_fdfminimizer_alloc(cgsl_multimin_bfgs2(), n)!
        defer { gsl_multimin_fdfminimizer_free(state) }
        var x0 = start
        let setStatus = withGSLVector(&x0) { gsl_multimin_fdfminimizer_set(state, &function, $0, initialStep, lineSearchTolerance) }
        try GSL.check(setStatus, "multimin_fdfminimizer_set")
        var iterations = 0, converged = false
        while iterations < maxIterations {
            iterations += 1
            let status = gsl_multimin_fdfminimizer_iterate(state)
            if status == GSL_ENOPROG { break }  // no downhill step left: the best point stands
            if status != GSL_SUCCESS { break }
            if gsl_multimin_test_gradient(state.pointee.gradient, gradientTolerance) == GSL_SUCCESS {
                converged = true; break
            }
        }
        let x = copyOut(state.pointee.x)
        let value = state.pointee.f
        withExtendedLifetime(box) {}  // GSL holds it unretained until here
        return MinimizationResult(x: x, value: value, iterations: iterations, converged: converged,
                                  interrupted: !value.isFinite)
    }
}

/// Minimizes a function without derivatives with GSL's Nelder-Mead (nmsimplex2). Stops when the
/// simplex size falls below `sizeTolerance` or after `maxIterations`. A non-finite value from
/// `f` stops it (`interrupted`).
public func minimizeNelderMead(
    start: [Double], stepSizes: [Double], sizeTolerance: Double = 1e-6, maxIterations: Int = 500,
    _ f: (_ x: [Double]) -> Double
) throws -> MinimizationResult {
    GSL.setUp()
    let n = start.count
    guard n > 0, stepSizes.count == n else {
        throw NumericsError.dimensionMismatch("Nelder-Mead start of \(n) with \(stepSizes.count) step sizes")
    }
    return try withoutActuallyEscaping(f) { f in
        let box = CallbackBox(f)
        var function = gsl_multimin_function()
        function.n = n
        function.params = Unmanaged.passUnretained(box).toOpaque()
        function.f = { x, params in
            Unmanaged<CallbackBox<([Double]) -> Double>>.fromOpaque(params!).takeUnretainedValue().body(copyOut(x!))
        }
        let state = gsl_multimin_fminimizer_alloc(cgsl_multimin_nmsimplex2(), n)!
        defer { gsl_multimin_fminimizer_free(state) }
        var x0 = start, steps = stepSizes
        let setStatus = withGSLVector(&x0) { px in withGSLVector(&steps) { ps in gsl_multimin_fminimizer_set(state, &function, px, ps) } }
        if setStatus == GSL_EBADFUNC {
            return MinimizationResult(x: start, value: .nan, iterations: 0, converged: false, interrupted: true)
        }
        try GSL.check(setStatus, "multimin_fminimizer_set")
        var iterations = 0, converged = false, interrupted = false
        while iterations < maxIterations {
            iterations += 1
            let status = gsl_multimin_fminimizer_iterate(state)
            if status == GSL_EBADFUNC { interrupted = true; break }
            if status != GSL_SUCCESS { break }
            if gsl_multimin_test_size(gsl_multimin_fminimizer_size(state), sizeTolerance) == GSL_SUCCESS {
                converged = true; break
            }
        }
        return MinimizationResult(x: copyOut(state.pointee.x), value: state.pointee.fval,
                                  iterations: iterations, converged: converged, interrupted: interrupted)
    }
}

/// Minimizes f on [lower, upper] with GSL's Brent method, starting from `guess` where
/// f(guess) < f(lower) and f(guess) < f(upper) (GSL's bracketing condition; throws
/// `.invalidArgument` otherwise). Stops when the interval is within `absoluteTolerance` +
/// `relativeTolerance`·|x|, or after `maxIterations`.
///
/// A non-finite value from `f` stops the minimizer at once with `interrupted` set: an
/// ask/tell optimizer can replay its history through `f` and return NaN at the first point
/// it does not know yet, which becomes its next question.
public func minimizeBrent(
    lower: Double, upper: Double, guess: Double,
    values: (lower: Double, guess: Double, upper: Double)? = nil,
    absoluteTolerance: Double = 1e-6, relativeTolerance: Double = 0, maxIterations: Int = 100,
    _ f: (Double) -> Double
) throws -> MinimizationResult {
    GSL.setUp()
    guard lower < guess, guess < upper else {
        throw NumericsError.invalidArgument("Brent needs lower < guess < upper, got \(lower), \(guess), \(upper)")
    }
    return try withoutActuallyEscaping(f) { f in
        let box = CallbackBox(f)
        var function = gsl_function()
        function.params = Unmanaged.passUnretained(box).toOpaque()
        function.function = { x, params in
            Unmanaged<CallbackBox<(Double) -> Double>>.fromOpaque(params!).takeUnretainedValue().body(x)
        }
        let state = gsl_min_fminimizer_alloc(cgsl_min_brent())!
        defer { gsl_min_fminimizer_free(state) }
        let (fl, fg, fu) = values ?? (f(lower), f(guess), f(upper))
        if !fl.isFinite || !fg.isFinite || !fu.isFinite {
            return MinimizationResult(x: [guess], value: .nan, iterations: 0, converged: false, interrupted: true)
        }
        // GSL's Brent evaluates f once more inside `set` (its first golden-section point).
        let setStatus = gsl_min_fminimizer_set_with_values(state, &function, guess, fg, lower, fl, upper, fu)
        if setStatus == GSL_EBADFUNC {
            return MinimizationResult(x: [guess], value: fg, iterations: 0, converged: false, interrupted: true)
        }
        if setStatus == GSL_EINVAL {
            throw NumericsError.invalidArgument("Brent's guess \(guess) does not bracket a minimum on [\(lower), \(upper)]")
        }
        try GSL.check(setStatus, "min_fminimizer_set")
        var iterations = 0, converged = false, interrupted = false
        while iterations < maxIterations {
            iterations += 1
            let status = gsl_min_fminimizer_iterate(state)
            if status == GSL_EBADFUNC { interrupted = true; break }
            if status != GSL_SUCCESS { break }
            let a = gsl_min_fminimizer_x_lower(state), b = gsl_min_fminimizer_x_upper(state)
            if gsl_min_test_interval(a, b, absoluteTolerance, relativeTolerance) == GSL_SUCCESS {
                converged = true; break
            }
        }
        return MinimizationResult(x: [gsl_min_fminimizer_x_minimum(state)], value: gsl_min_fminimizer_f_minimum(state),
                                  iterations: iterations, converged: converged, interrupted: interrupted)
    }
}
