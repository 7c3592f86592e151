import CGSL

/// A failure reported by GSL (or detected before calling it), as a Swift error.
public enum NumericsError: Error, Equatable, CustomStringConvertible {
    case dimensionMismatch(String)
    case notPositiveDefinite
    case singular
    case invalidArgument(String)
    case gsl(code: Int32, operation: String)

    public var description: String {
        switch self {
        case .dimensionMismatch(let what): return "dimension mismatch: \(what)"
        case .notPositiveDefinite: return "matrix is not positive definite"
        case .singular: return "matrix is singular"
        case .invalidArgument(let what): return "invalid argument: \(what)"
        case .gsl(let code, let operation):
            return "GSL error \(code) in \(operation): \(String(cString: gsl_strerror(code)))"
        }
    }
}

/// GSL's default handler aborts the process; every entry point calls this first so that
/// errors come back as status codes instead.
enum GSL {
    static let handlerOff: Void = { _ = gsl_set_error_handler_off() }()
    @inline(__always) static func setUp() { _ = handlerOff }

    static func check(_ status: Int32, _ operation: String) throws {
        if status != GSL_SUCCESS { throw NumericsError.gsl(code: status, operation: operation) }
    }
}
