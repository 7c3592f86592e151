import Testing
@testable import Optimizers

/// ParEGO and the vector tell protocol (`MultiObjectiveOptimizer`).
@Suite struct ParEGOTests {
    /// Two conflicting metrics on [0,1]²: closeness to (0.2, 0.2) and to (0.8, 0.8).
    static func metrics(_ x: [Double]) -> [Double] {
        [-((x[0] - 0.2) * (x[0] - 0.2) + (x[1] - 0.2) * (x[1] - 0.2)),
         -((x[0] - 0.8) * (x[0] - 0.8) + (x[1] - 0.8) * (x[1] - 0.8))]
    }

    static func make(_ kind: String, seed: UInt64, options: [String: OptionValue] = [:]) throws -> any MultiObjectiveOptimizer {
        let o = try OptimizerFactory.make(OptimizerConfig(kind: kind, options: options), dimension: 2, budget: 20, seed: seed)
        return try #require(o as? any MultiObjectiveOptimizer)
    }

    /// Sequential asks and vector tells; every 5th trial fails.
    static func run(_ o: any MultiObjectiveOptimizer, _ count: Int) throws -> [[Double]] {
        var points: [[Double]] = []
        for i in 0..<count {
            let x = try o.ask()
            points.append(x)
            try o.tell(i, values: i % 5 == 4 ? nil : metrics(x))
        }
        return points
    }

    @Test func weightsAreOnTheSimplexAndSeeded() {
        for k in 0..<50 {
            for m in [2, 3] {
                let w = ParEGO.weights(seed: 7, ask: k, metrics: m)
                #expect(w.count == m && w.allSatisfy { $0 >= 0 && $0 <= 1 })
                #expect(abs(w.reduce(0, +) - 1) < 1e-12)
                #expect(w == ParEGO.weights(seed: 7, ask: k, metrics: m))
            }
        }
        #expect(ParEGO.weights(seed: 7, ask: 3, metrics: 2) != ParEGO.weights(seed: 7, ask: 4, metrics: 2))
        #expect(ParEGO.weights(seed: 7, ask: 3, metrics: 2) != ParEGO.weights(seed: 8, ask: 3, metrics: 2))
        // Uniform on the 2-simplex: the first weight is uniform on [0, 1], mean 1/2.
        let firsts = (0..<2000).map { ParEGO.weights(seed: 1, ask: $0, metrics: 2)[0] }
        #expect(abs(firsts.reduce(0, +) / 2000 - 0.5) < 0.03)
    }

    @Test func augmentedChebyshevByHand() {
        // max(0.5·0.2, 0.5·0.5) + 0.05·(0.1 + 0.25) = 0.25 + 0.0175.
        #expect(abs(ParEGO.scalarize(shortfalls: [0.2, 0.5], weights: [0.5, 0.5], rho: 0.05) - -0.2675) < 1e-15)
        // The ideal point (no shortfall) scores 0, the best possible.
        #expect(ParEGO.scalarize(shortfalls: [0, 0, 0], weights: [0.2, 0.3, 0.5], rho: 0.05) == 0)
        #expect(abs(ParEGO.scalarize(shortfalls: [1, 0, 0.5], weights: [0.2, 0.3, 0.5], rho: 0.1) - -(0.25 + 0.1 * 0.45)) < 1e-15)
    }

    @Test func scalarizedScoresNormalizeByTheObservedRange() throws {
        let p = ParEGO(dimension: 1, seed: 3, settings: ParEGOSettings(dimension: 1))
        try p.warmStart([0.1], values: [0, 10])
        try p.warmStart([0.5], values: [2, 0])
        try p.warmStart([0.9], values: nil)
        let w = ParEGO.weights(seed: 3, ask: 0, metrics: 2)
        let s = try #require(p.scalarized(ask: 0))
        // Shortfalls: (1, 0) and (0, 1) after normalizing [0, 2] and [0, 10]; the failure is the worst.
        let a = ParEGO.scalarize(shortfalls: [1, 0], weights: w, rho: 0.05), b = ParEGO.scalarize(shortfalls: [0, 1], weights: w, rho: 0.05)
        #expect(s == [a, b, min(a, b)])
    }

    @Test func asksAreAFunctionOfTheSeedAndTheEventsAndReplayContinuesExactly() throws {
        let a = try Self.run(Self.make("parego", seed: 11), 14)
        let b = try Self.run(Self.make("parego", seed: 11), 14)
        #expect(a == b)
        #expect(a != (try Self.run(Self.make("parego", seed: 12), 14)))
        // Replay the first 10 events by adopt, then ask: the same as the uninterrupted run.
        let replayed = try Self.make("parego", seed: 11)
        for i in 0..<10 {
            try replayed.adopt(a[i])
            try replayed.tell(i, values: i % 5 == 4 ? nil : Self.metrics(a[i]))
        }
        for i in 10..<14 {
            let x = try replayed.ask()
            #expect(x == a[i])
            try replayed.tell(i, values: i % 5 == 4 ? nil : Self.metrics(x))
        }
    }

    @Test func pendingPointsSpreadABatch() throws {
        let o = try Self.make("parego", seed: 5)
        for i in 0..<8 { let x = try o.ask(); try o.tell(i, values: Self.metrics(x)) }
        let batch = try (0..<3).map { _ in try o.ask() }
        for i in 0..<3 { for j in 0..<i { #expect(batch[i] != batch[j]) } }
    }

    @Test func vectorsAreChecked() throws {
        for kind in OptimizerFactory.multiObjectiveKinds {
            let o = try Self.make(kind, seed: 1)
            _ = try o.ask(); _ = try o.ask(); _ = try o.ask()
            #expect(throws: OptimizerError.self) { try o.tell(0, values: []) }
            try o.tell(0, values: [1, 2])
            try o.tell(1, values: [.nan, 2])  // a failure, not an error
            if kind == "parego" {
                #expect(throws: OptimizerError.protocolViolation("told a vector of 3 metrics, earlier ones had 2")) { try o.tell(2, values: [1, 2, 3]) }
            }
            #expect(throws: OptimizerError.self) { try o.tell(0, values: [1, 2]) }  // told twice
        }
    }

    @Test func randomAndSobolAskTheSamePointsWhateverTheyAreTold() throws {
        for kind in ["random", "sobol"] {
            let scalar = try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: 2, budget: 20, seed: 4)
            let vector = try Self.make(kind, seed: 4)
            for i in 0..<6 {
                let x = try scalar.ask()
                #expect(try vector.ask() == x)
                try scalar.tell(i, 1)
                try vector.tell(i, values: Self.metrics(x))
            }
        }
    }

    @Test func factoryOptionsAndBudget() throws {
        #expect(OptimizerFactory.kinds.contains("parego"))
        #expect(try OptimizerFactory.minimumBudget(OptimizerConfig(kind: "parego"), dimension: 2) == 6)
        let p = try #require(try Self.make("parego", seed: 0, options: ["rho": .number(0.1), "initial_points": .number(4), "pending": .string("cl_min")]) as? ParEGO)
        #expect(p.settings.rho == 0.1 && p.settings.gp.initialPoints == 4 && p.settings.gp.pending == .clMin)
        #expect(throws: OptimizerError.unknownOption(kind: "parego", option: "sigma0", known: OptimizerFactory.options["parego"]!)) {
            _ = try Self.make("parego", seed: 0, options: ["sigma0": .number(1)])
        }
        #expect(throws: OptimizerError.self) { _ = try Self.make("parego", seed: 0, options: ["rho": .number(0)]) }
    }
}
