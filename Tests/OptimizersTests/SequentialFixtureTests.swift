import Foundation
import Testing
@testable import Optimizers
import MergetuneNumerics

/// The points the sequential optimizers (the protocol before pending points: ask, then tell of
/// that point) handed out, recorded in Fixtures/sequential-points.csv with OPENBLAS_NUM_THREADS=1. Regenerate
/// (only to record a deliberate change) with
/// `MERGETUNE_WRITE_OPT_FIXTURE=$PWD/Tests/OptimizersTests/Fixtures/sequential-points.csv OPENBLAS_NUM_THREADS=1 swift test --filter SequentialFixtureTests`.
enum SequentialTrace {
    struct Case: Sendable, CustomStringConvertible {
        var kind: String, function: TestFunction, budget: Int, seed: UInt64, failEvery: Int?
        var description: String { "\(kind)/\(function.name)/seed \(seed)\(failEvery.map { "/fail every \($0)" } ?? "")" }
        var key: String { "\(kind),\(function.name),\(seed),\(failEvery ?? 0)" }
    }

    /// Six kinds × (Branin N = 30 and Hartmann-3 N = 40, seeds 1 and 2; Branin seed 3 with every
    /// 5th evaluation failing).
    static let cases: [Case] = OptimizerFactory.kinds.flatMap { kind in
        [Case(kind: kind, function: .branin, budget: 30, seed: 1, failEvery: nil),
         Case(kind: kind, function: .branin, budget: 30, seed: 2, failEvery: nil),
         Case(kind: kind, function: .hartmann3, budget: 40, seed: 1, failEvery: nil),
         Case(kind: kind, function: .hartmann3, budget: 40, seed: 2, failEvery: nil),
         Case(kind: kind, function: .branin, budget: 30, seed: 3, failEvery: 5)]
    }

    /// The score told for trial i at unit point u (nil: a failed evaluation).
    static func value(_ c: Case, _ i: Int, _ u: [Double]) -> Double? {
        if let k = c.failEvery, i % k == k - 1 { return nil }
        return -c.function(c.function.space.fromUnit(u))
    }

    /// Strictly sequential use: ask, tell that trial, ask, ...
    static func run(_ c: Case) throws -> [[Double]] {
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: c.kind), dimension: c.function.space.dimension,
                                            budget: c.budget, seed: c.seed)
        var points: [[Double]] = []
        for i in 0..<c.budget {
            let u = try opt.ask()
            try opt.tell(i, value(c, i, u))
            points.append(u)
        }
        return points
    }

    static func csvLines(_ c: Case, _ points: [[Double]]) -> [String] {
        points.enumerated().map { i, u in "\(c.key),\(i)," + u.map { "\($0)" }.joined(separator: " ") }
    }

    /// key → points, from the fixture (Swift prints doubles in shortest round-trip form, so
    /// parsing them back is exact).
    static func load() throws -> [String: [[Double]]] {
        let url = try #require(Bundle.module.url(forResource: "sequential-points", withExtension: "csv", subdirectory: "Fixtures"),
                               "Tests/OptimizersTests/Fixtures/sequential-points.csv is missing from the test bundle")
        var out: [String: [[Double]]] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            let key = f[0..<4].joined(separator: ",")
            out[key, default: []].append(f[5].split(separator: " ").map { Double($0)! })
        }
        return out
    }
}

@Suite struct SequentialFixtureTests {
    /// The fixture was recorded with one BLAS thread: GP-BO's and CMA-ES's last bits depend on it.
    init() throws { _ = try BLAS.pinThreads([:]) }

    /// Writes the fixture when MERGETUNE_WRITE_OPT_FIXTURE names a path; otherwise does nothing.
    @Test func writeFixtureIfAsked() throws {
        guard let path = ProcessInfo.processInfo.environment["MERGETUNE_WRITE_OPT_FIXTURE"] else { return }
        var lines = ["kind,function,seed,fail_every,trial,point"]
        for c in SequentialTrace.cases { lines += SequentialTrace.csvLines(c, try SequentialTrace.run(c)) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    static let fixture = Result { try SequentialTrace.load() }

    /// Strictly sequential use hands out bit-identical points to the sequential protocol's.
    @Test(arguments: SequentialTrace.cases)
    func sequentialUseMatchesTheFixture(_ c: SequentialTrace.Case) throws {
        let recorded = try #require(try Self.fixture.get()[c.key], "no fixture rows for \(c)")
        let points = try SequentialTrace.run(c)
        #expect(points.count == recorded.count)
        for (i, (a, b)) in zip(points, recorded).enumerated() {
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(c) trial \(i): \(a) vs recorded \(b)")
            if a != b { break }
        }
    }

    /// Replaying the first half of a recorded run (adopt each recorded point, tell its value) and
    /// then asking reproduces the recorded second half.
    @Test(arguments: SequentialTrace.cases.filter { $0.seed == 1 || $0.failEvery != nil })
    func adoptReplayContinuesTheRecordedRun(_ c: SequentialTrace.Case) throws {
        let recorded = try #require(try Self.fixture.get()[c.key], "no fixture rows for \(c)")
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: c.kind), dimension: c.function.space.dimension,
                                            budget: c.budget, seed: c.seed)
        let k = c.budget / 2
        for i in 0..<k {
            try opt.adopt(recorded[i])
            try opt.tell(i, SequentialTrace.value(c, i, recorded[i]))
        }
        for i in k..<c.budget {
            let u = try opt.ask()
            #expect(u == recorded[i], "\(c) trial \(i) after replaying \(k)")
            if u != recorded[i] { break }
            try opt.tell(i, SequentialTrace.value(c, i, u))
        }
    }
}
