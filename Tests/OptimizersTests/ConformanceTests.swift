import Testing
@testable import Optimizers

/// One suite every optimizer kind must pass (after Optuna's sampler conformance tests):
/// points in the unit box, determinism per seed, replay equality, failed trials, long runs,
/// and distinct seeds.
@Suite struct ConformanceTests {
    static let kinds = OptimizerFactory.kinds

    /// A cheap deterministic objective with failures sprinkled in (every 7th trial fails).
    static func objective(_ x: [Double], _ i: Int) -> Double? {
        if i % 7 == 6 { return nil }
        return -x.enumerated().reduce(0) { $0 + ($1.element - 0.3 - 0.1 * Double($1.offset)) * ($1.element - 0.3 - 0.1 * Double($1.offset)) }
    }

    static func drive(_ kind: String, dimension: Int, budget: Int, seed: UInt64) throws -> [[Double]] {
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: dimension, budget: budget, seed: seed)
        var asked: [[Double]] = []
        for i in 0..<budget {
            let x = try opt.ask()
            asked.append(x)
            try opt.tell(x, objective(x, i))
        }
        return asked
    }

    @Test(arguments: kinds)
    func pointsStayInTheUnitBox(_ kind: String) throws {
        for d in [1, 2, 3] {
            let pts = try Self.drive(kind, dimension: d, budget: 30, seed: 11)
            for x in pts {
                #expect(x.count == d)
                #expect(x.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "\(kind) asked \(x)")
            }
        }
    }

    @Test(arguments: kinds)
    func sameSeedSameRun(_ kind: String) throws {
        let a = try Self.drive(kind, dimension: 2, budget: 25, seed: 3)
        let b = try Self.drive(kind, dimension: 2, budget: 25, seed: 3)
        #expect(a == b)
    }

    @Test(arguments: kinds)
    func distinctSeedsDistinctRuns(_ kind: String) throws {
        let a = try Self.drive(kind, dimension: 2, budget: 12, seed: 1)
        let b = try Self.drive(kind, dimension: 2, budget: 12, seed: 2)
        #expect(a != b)
    }

    /// A fresh optimizer told a run's first k trials (without asking) asks the run's (k+1)-th point,
    /// and a resumed run continues exactly as the uninterrupted one.
    @Test(arguments: kinds)
    func replayRestoresState(_ kind: String) throws {
        let budget = 24
        let full = try Self.drive(kind, dimension: 2, budget: budget, seed: 9)
        for k in [0, 1, 5, 13, 23] {
            let fresh = try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: 2, budget: budget, seed: 9)
            for i in 0..<k { try fresh.tell(full[i], Self.objective(full[i], i)) }
            #expect(try fresh.ask() == full[k], "\(kind) after \(k) told trials")
            // Continue the resumed run to the end.
            if k == 5 {
                var rest: [[Double]] = []
                for i in k..<budget {
                    let x = try fresh.ask(); rest.append(x)
                    try fresh.tell(x, Self.objective(x, i))
                }
                #expect(rest == Array(full[k...]))
            }
        }
    }

    /// Asking twice without telling returns the same pending point.
    @Test(arguments: kinds)
    func askIsIdempotentUntilTold(_ kind: String) throws {
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: 3, budget: 20, seed: 4)
        for i in 0..<12 {
            let x = try opt.ask()
            #expect(try opt.ask() == x)
            try opt.tell(x, Self.objective(x, i))
        }
    }

    /// Every evaluation failing: the optimizer keeps asking valid points.
    @Test(arguments: kinds)
    func survivesOnlyFailures(_ kind: String) throws {
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: 2, budget: 20, seed: 5)
        for _ in 0..<20 {
            let x = try opt.ask()
            #expect(x.allSatisfy { $0 >= 0 && $0 <= 1 })
            try opt.tell(x, nil)
        }
    }

    /// Far past any local search's end (restarts), on a flat and on a smooth objective: the
    /// optimizer keeps asking valid points, and does not just repeat one point.
    @Test(arguments: kinds)
    func keepsAskingPastConvergence(_ kind: String) throws {
        // GP-BO refits its model every ask; 60 trials keep it fast in debug builds.
        let budget = kind == "gp" ? 60 : 150
        for flat in [true, false] {
            let opt = try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: 2, budget: budget, seed: 6)
            var distinct = Set<[Double]>()
            for i in 0..<budget {
                let x = try opt.ask()
                distinct.insert(x)
                try opt.tell(x, flat ? 1.0 : Self.objective(x, i) ?? -1)
            }
            #expect(distinct.count > 20, "\(kind) asked only \(distinct.count) distinct points (flat: \(flat))")
        }
    }

    @Test(arguments: kinds)
    func wrongDimensionIsAProtocolViolation(_ kind: String) throws {
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: 2, budget: 20, seed: 1)
        _ = try opt.ask()
        #expect(throws: OptimizerError.self) { try opt.tell([0.5], 1) }
    }

    @Test(arguments: kinds)
    func unknownOptionIsRejected(_ kind: String) {
        #expect(throws: OptimizerError.self) {
            try OptimizerFactory.make(OptimizerConfig(kind: kind, options: ["no_such_option": .number(1)]), dimension: 2, budget: 40, seed: 1)
        }
    }

    @Test(arguments: kinds)
    func budgetBelowMinimumIsRejected(_ kind: String) throws {
        let minimum = try OptimizerFactory.minimumBudget(OptimizerConfig(kind: kind), dimension: 3)
        #expect(minimum >= 1)
        _ = try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: 3, budget: minimum, seed: 1)
        if minimum > 1 {
            #expect(throws: OptimizerError.budgetTooSmall(kind: kind, budget: minimum - 1, minimum: minimum)) {
                try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: 3, budget: minimum - 1, seed: 1)
            }
        }
    }
}
