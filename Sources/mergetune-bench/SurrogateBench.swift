import ArgumentParser
import Foundation
import Surrogate

/// Surrogate speed: one evaluation (what optimizers and the extrema search pay per point),
/// a fit, the global extrema and the 20-repeat leave-one-out, for 25–100 centers.
struct SurrogateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "surrogate",
        abstract: "Time RBF surrogate evaluation, fitting, extrema and leave-one-out."
    )

    @Option(help: "Evaluations timed per configuration.") var evaluations: Int = 1_000_000

    func run() throws {
        print("centers,dims,kernel,fit_ms,eval_ns,extrema_ms,loocv_ms")
        for (levels, dims) in [(5, 2), (10, 2), (5, 3)] {
            let axis = (0..<levels).map { 2 * Double($0) / Double(levels - 1) }
            var points: [[Double]] = [[]]
            for _ in 0..<dims { points = points.flatMap { p in axis.map { p + [$0] } } }
            let scores = points.map { p in 0.5 + 0.25 * exp(-p.reduce(0) { $0 + ($1 - 1.1) * ($1 - 1.1) }) }
            let names = (0..<dims).map { "p\($0)" }
            let landscape = Landscape(source: "bench", parameterNames: names, points: points, scores: scores)
            for kernel in [RBFKernel.thinPlateSpline, .gaussian] {
                let epsilon: Double? = kernel.isScaleInvariant ? nil : 1.5
                var start = Date()
                let rbf = try landscape.interpolator(kernel: kernel, epsilon: epsilon)
                let fitMs = Date().timeIntervalSince(start) * 1e3
                var x = [Double](repeating: 0.37, count: dims)
                var sink = 0.0
                start = Date()
                for i in 0..<evaluations {
                    x[0] = Double(i % 1000) * 0.002
                    sink += rbf(x)
                }
                let evalNs = Date().timeIntervalSince(start) * 1e9 / Double(evaluations)
                start = Date()
                _ = try findExtrema(bounds: landscape.bounds) { rbf($0) }
                let extremaMs = Date().timeIntervalSince(start) * 1e3
                start = Date()
                _ = try leaveOneOutFidelity(landscape, kernel: kernel, epsilon: epsilon)
                let looMs = Date().timeIntervalSince(start) * 1e3
                precondition(sink.isFinite)
                print("\(points.count),\(dims),\(kernel.rawValue),\(String(format: "%.2f", fitMs)),\(String(format: "%.1f", evalNs)),"
                      + "\(String(format: "%.1f", extremaMs)),\(String(format: "%.1f", looMs))")
            }
        }
    }
}
