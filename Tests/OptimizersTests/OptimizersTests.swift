import Testing
@testable import Optimizers

@Suite struct TestFunctionTests {
    /// Each function takes its published minimum value at each published minimizer.
    @Test(arguments: TestFunction.all)
    func publishedMinimaHold(_ f: TestFunction) {
        for x in f.knownMinimizers {
            #expect(abs(f(x) - f.knownMinimum) < 1e-5, "\(f.name) at \(x): \(f(x)) vs \(f.knownMinimum)")
        }
    }

    /// No point of a dense grid goes below the published minimum.
    @Test(arguments: TestFunction.all)
    func noGridPointBeatsTheMinimum(_ f: TestFunction) {
        let steps = f.space.dimension == 2 ? 200 : 40
        var best = Double.infinity
        func visit(_ prefix: [Double]) {
            if prefix.count == f.space.dimension { best = min(best, f(f.space.fromUnit(prefix))); return }
            for i in 0...steps { visit(prefix + [Double(i) / Double(steps)]) }
        }
        visit([])
        #expect(best >= f.knownMinimum - 1e-9)
        #expect(best < f.knownMinimum + 0.05)
    }
}

@Suite struct SearchSpaceTests {
    @Test func unitMappingRoundTrips() throws {
        let s = try SearchSpace([Parameter(name: "a", lower: -2, upper: 2), Parameter(name: "b", lower: 0, upper: 10)])
        #expect(s.fromUnit([0.5, 0.25]) == [0, 2.5])
        #expect(s.toUnit([0, 2.5]) == [0.5, 0.25])
    }

    @Test func rejectsBadSpaces() {
        #expect(throws: SearchSpaceError.empty) { try SearchSpace([]) }
        #expect(throws: SearchSpaceError.badBounds("a", 1, 1)) { try SearchSpace([Parameter(name: "a", lower: 1, upper: 1)]) }
        #expect(throws: SearchSpaceError.duplicateName("a")) {
            try SearchSpace([Parameter(name: "a", lower: 0, upper: 1), Parameter(name: "a", lower: 0, upper: 2)])
        }
    }
}

@Suite struct FactoryTests {
    @Test func unknownKindAndOptionAreNamed() {
        #expect(throws: OptimizerError.self) { try OptimizerFactory.make(OptimizerConfig(kind: "nope"), dimension: 2, budget: 10, seed: 1) }
        #expect(throws: OptimizerError.unknownOption(kind: "random", option: "foo", known: [])) {
            try OptimizerFactory.make(OptimizerConfig(kind: "random", options: ["foo": .number(1)]), dimension: 2, budget: 10, seed: 1)
        }
    }

    @Test func randomIsSeededAndInBox() throws {
        let a = try OptimizerFactory.make(OptimizerConfig(kind: "random"), dimension: 3, budget: 10, seed: 5)
        let b = try OptimizerFactory.make(OptimizerConfig(kind: "random"), dimension: 3, budget: 10, seed: 5)
        for i in 0..<10 {
            let x = try a.ask(), y = try b.ask()
            #expect(x == y)
            #expect(x.allSatisfy { $0 >= 0 && $0 < 1 })
            try a.tell(i, 1); try b.tell(i, 1)
        }
    }
}
