import Optimizers

// TEMPORARY (removed when the pending-point optimizers land): the coordinator is written against
// the pending-point protocol; this shim gives today's sequential optimizers that shape for
// batch = 1.
protocol TrialOptimizer: AnyObject {
    func ask() throws -> [Double]
    func adopt(_ point: [Double]) throws
    func tell(_ id: Int, _ value: Double?) throws
    func warmStart(_ point: [Double], _ value: Double?) throws
}

final class SequentialShim: TrialOptimizer {
    let inner: any Optimizer
    var handedOut: [[Double]] = []
    var told = 0
    init(_ inner: any Optimizer) { self.inner = inner }

    func ask() throws -> [Double] {
        guard handedOut.count == told else { throw OptimizerError.protocolViolation("sequential shim: batch > 1") }
        let x = try inner.ask(); handedOut.append(x); return x
    }
    func adopt(_ point: [Double]) throws {
        let x = try inner.ask()
        guard x.count == point.count, zip(x, point).allSatisfy({ $0.bitPattern == $1.bitPattern }) else {
            throw OptimizerError.protocolViolation("replay: recorded \(point), asked \(x)")
        }
        handedOut.append(point)
    }
    func tell(_ id: Int, _ value: Double?) throws {
        guard id == told, id < handedOut.count else { throw OptimizerError.protocolViolation("sequential shim: tell \(id)") }
        try inner.tell(handedOut[id], value); told += 1
    }
    func warmStart(_ point: [Double], _ value: Double?) throws {}
}

func makeTrialOptimizer(_ config: OptimizerConfig, dimension: Int, budget: Int, seed: UInt64) throws -> any TrialOptimizer {
    SequentialShim(try OptimizerFactory.make(config, dimension: dimension, budget: budget, seed: seed))
}
