import CGSL
import Foundation

/// OpenBLAS's thread count. Multithreaded BLAS may sum in another order than single-threaded
/// BLAS, so results (GP-BO's fits, hence its asks) can differ in the last bits between thread
/// counts; pinning makes a run reproducible on a machine. Across machines the ledger is the
/// truth (optimizers adopt recorded points: docs/optimizers.md, "Pending points").
public enum BLAS {
    /// The environment variable read by `pinThreads()`.
    public static let environmentKey = "MERGETUNE_BLAS_THREADS"

    /// The thread count `pinThreads()` sets: `MERGETUNE_BLAS_THREADS` (a whole number ≥ 1), else 1.
    /// Throws (naming the variable) when the variable is set to anything else.
    public static func configuredThreads(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int {
        guard let raw = environment[environmentKey] else { return 1 }
        guard let n = Int(raw.trimmingCharacters(in: .whitespaces)), n >= 1 else {
            throw BLASError.badThreadCount(raw)
        }
        return n
    }

    /// Sets OpenBLAS's thread count from `MERGETUNE_BLAS_THREADS` (default 1); returns it. Call
    /// once at start-up, before any BLAS work (the coordinator and the CLI do).
    @discardableResult
    public static func pinThreads(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int {
        let n = try configuredThreads(environment)
        openblas_set_num_threads(Int32(n))
        return n
    }

    /// OpenBLAS's current thread count.
    public static var threads: Int { Int(openblas_get_num_threads()) }
}

public enum BLASError: Error, Equatable, CustomStringConvertible {
    case badThreadCount(String)
    public var description: String {
        switch self {
        case .badThreadCount(let raw):
            return "\(BLAS.environmentKey)=\(raw): expected a whole number of BLAS threads >= 1 (unset means 1)"
        }
    }
}
