import Testing
@testable import Optimizers

@Suite("ASHA")
struct ASHATests {
    /// Promotion by hand (η = 3, three fidelities): a configuration goes up when it is in the
    /// top ⌊n/3⌋ of the n told at its rung and was not promoted yet; else a new one is sampled.
    @Test func promotesTheTopThirdOfARungAsCountedWhenAsked() throws {
        let asha = try ASHA(dimension: 1, fidelityCount: 3, seed: 7, eta: 3)
        let sobol = try SobolSearch(dimension: 1, seed: 7)
        let stream = try (0..<6).map { _ in try sobol.ask() }
        var asks: [(point: [Double], fidelity: Int)] = []
        for _ in 0..<3 { asks.append(try asha.askWithFidelity()) }
        // New configurations are the seed's Sobol points, in order.
        #expect(asks.map(\.fidelity) == [0, 0, 0] && asks.map(\.point) == Array(stream[0..<3]))
        try asha.tell(0, 1.0); try asha.tell(1, 3.0); try asha.tell(2, 2.0)
        // Rung 0: n = 3, top ⌊3/3⌋ = 1: trial 1 (3.0) goes to fidelity 1.
        asks.append(try asha.askWithFidelity())
        #expect(asks[3].fidelity == 1 && asks[3].point == stream[1])
        // Rung 1 has nothing told yet (trial 3 pending), rung 0's top one is promoted: a new one.
        asks.append(try asha.askWithFidelity())
        #expect(asks[4].fidelity == 0 && asks[4].point == stream[3])
        try asha.tell(3, 5.0); try asha.tell(4, 4.0)
        // Rung 1: n = 1, top 0. Rung 0: n = 4, top 1 is now trial 4 (4.0 > 3.0): promoted.
        asks.append(try asha.askWithFidelity())
        #expect(asks[5].fidelity == 1 && asks[5].point == stream[3])
        asks.append(try asha.askWithFidelity())
        #expect(asks[6].fidelity == 0 && asks[6].point == stream[4])
        try asha.tell(5, 6.0)
        try asha.tell(6, nil)
        // Rung 1: n = 2, top 0; rung 0: n = 5, top 1 (trial 4, promoted): new.
        asks.append(try asha.askWithFidelity())
        #expect(asks[7].fidelity == 0 && asks[7].point == stream[5])
        // A plain ask cannot say the fidelity.
        #expect(throws: OptimizerError.self) { _ = try asha.ask() }
    }

    /// The top rung is never promoted from, a failure never is, and failures count in n.
    @Test func failuresCountInTheirRungButAreNeverPromoted() throws {
        let asha = try ASHA(dimension: 2, fidelityCount: 2, seed: 1, eta: 2, sampler: .random)
        for _ in 0..<2 { _ = try asha.askWithFidelity() }
        try asha.tell(0, nil); try asha.tell(1, nil)
        // n = 2, top 1 — but both failed: a new configuration.
        #expect(try asha.askWithFidelity().fidelity == 0)
        try asha.tell(2, -1)
        // n = 3, top 1: trial 2 (the only score) goes to full fidelity.
        let up = try asha.askWithFidelity()
        #expect(up.fidelity == 1)
        try asha.tell(3, 10)
        // Full fidelity is the top rung: nothing goes above it.
        #expect(try asha.askWithFidelity().fidelity == 0)
    }

    /// Same seed and event sequence → the same asks; a fresh optimizer adopting the recorded
    /// points with their fidelities (and the same tells) continues exactly.
    @Test func isAFunctionOfSeedAndEventsAndReplaysFromAdoptedFidelities() throws {
        func run(_ asha: ASHA, events: Int, replay: [(point: [Double], fidelity: Int)]? = nil) throws -> [(point: [Double], fidelity: Int)] {
            var out: [(point: [Double], fidelity: Int)] = []
            var pending: [Int] = []
            for k in 0..<events {
                if let r = replay, k < r.count {
                    try asha.adopt(r[k].point, fidelity: r[k].fidelity)
                    out.append(r[k])
                } else {
                    out.append(try asha.askWithFidelity())
                }
                pending.append(k)
                // Two trials in flight; the older one is told, with a score of its point and fidelity.
                if pending.count == 2 {
                    let id = pending.removeFirst()
                    let (x, f) = (out[id].point, out[id].fidelity)
                    try asha.tell(id, -x.map { ($0 - 0.3) * ($0 - 0.3) }.reduce(0, +) + 0.01 * Double(f))
                }
            }
            return out
        }
        let a = try run(ASHA(dimension: 2, fidelityCount: 3, seed: 42), events: 40)
        let b = try run(ASHA(dimension: 2, fidelityCount: 3, seed: 42), events: 40)
        #expect(a.map(\.point) == b.map(\.point) && a.map(\.fidelity) == b.map(\.fidelity))
        #expect(Set(a.map(\.fidelity)) == [0, 1, 2])
        let replayed = try run(ASHA(dimension: 2, fidelityCount: 3, seed: 42), events: 40, replay: Array(a.prefix(25)))
        #expect(replayed.map(\.point) == a.map(\.point) && replayed.map(\.fidelity) == a.map(\.fidelity))
        let other = try run(ASHA(dimension: 2, fidelityCount: 3, seed: 43), events: 40)
        #expect(other.map(\.point) != a.map(\.point))
    }

    @Test func theFactoryNeedsFidelitiesAndChecksItsOptions() throws {
        #expect(throws: OptimizerError.badOption(kind: "asha", option: "fidelities", reason: "needs an objective with fidelities (objectives.fidelities)")) {
            _ = try OptimizerFactory.make(OptimizerConfig(kind: "asha"), dimension: 2, budget: 10, seed: 1, fidelityCount: nil)
        }
        #expect(throws: OptimizerError.self) {
            _ = try OptimizerFactory.make(OptimizerConfig(kind: "asha", options: ["eta": .number(1)]), dimension: 2, budget: 10, seed: 1, fidelityCount: 3)
        }
        #expect(throws: OptimizerError.self) {
            _ = try OptimizerFactory.make(OptimizerConfig(kind: "asha", options: ["sampler": .string("gp")]), dimension: 2, budget: 10, seed: 1, fidelityCount: 3)
        }
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: "asha", options: ["eta": .number(2), "sampler": .string("random")]),
                                            dimension: 2, budget: 10, seed: 1, fidelityCount: 3)
        #expect((opt as? ASHA)?.eta == 2 && (opt as? ASHA)?.sampler == .random)
        // A plain kind ignores the fidelities.
        #expect(try OptimizerFactory.make(OptimizerConfig(kind: "sobol"), dimension: 2, budget: 10, seed: 1, fidelityCount: 3) is SobolSearch)
    }
}
