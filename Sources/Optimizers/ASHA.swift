import MergetuneNumerics

/// Asynchronous successive halving (ASHA; Li et al., "A System for Massively Parallel
/// Hyperparameter Tuning", MLSys 2020) over the objective's fidelities, one rung per fidelity.
///
/// On every ask, from the second-highest rung down: a configuration told at rung k whose score
/// is among the top ⌊n_k / η⌋ of the n_k configurations told at rung k, and that was not
/// promoted yet, is promoted: the ask is the same point at fidelity k + 1 (a new trial). When
/// no rung has one, a new configuration is sampled at fidelity 0. It never waits for pending
/// trials (they are simply not in their rung yet). Ties rank the earlier trial first; a failed
/// trial (nil) ranks below every score and is never promoted, but counts in its rung's n_k.
///
/// New configurations are point k of a seeded Sobol or uniform stream (k = configurations
/// sampled so far), so the run is a pure function of the seed and the event sequence: replay
/// adopts each recorded point with its fidelity, a fidelity-0 adopt consumes one stream point,
/// a higher one marks the recorded configuration of the rung below as promoted.
/// Warm starts are validated and ignored (they are full-fidelity points outside the rungs).
public final class ASHA: MultiFidelityOptimizer {
    public enum Sampler: String, CaseIterable, Sendable { case sobol, random }

    public let dimension: Int
    public let fidelityCount: Int
    /// The promotion fraction: the top 1/η of a rung is promoted.
    public let eta: Double
    public let sampler: Sampler

    private let stream: IndexedPointStream
    private var book: TrialBook
    /// Each trial's configuration and fidelity, by id.
    private var trials: [(config: Int, fidelity: Int)] = []
    /// Each configuration's point.
    private var configs: [[Double]] = []
    /// Configurations sampled at fidelity 0 (the stream's next index).
    private var sampled = 0
    /// Per rung: the told trials (configuration, score, id), in tell order.
    private var told: [[(config: Int, value: Double?, id: Int)]]
    /// Per rung: configurations already promoted out of it.
    private var promoted: [Set<Int>]

    public init(dimension: Int, fidelityCount: Int, seed: UInt64, eta: Double = 3, sampler: Sampler = .sobol) throws {
        guard fidelityCount >= 1 else { throw OptimizerError.badOption(kind: "asha", option: "fidelities", reason: "needs at least one fidelity") }
        guard eta > 1, eta.isFinite else { throw OptimizerError.badOption(kind: "asha", option: "eta", reason: "expected a number > 1, got \(eta)") }
        self.dimension = dimension; self.fidelityCount = fidelityCount; self.eta = eta; self.sampler = sampler
        book = TrialBook(dimension: dimension)
        told = Array(repeating: [], count: fidelityCount)
        promoted = Array(repeating: [], count: fidelityCount)
        switch sampler {
        case .sobol:
            guard dimension <= 40 else { throw OptimizerError.badOption(kind: "asha", option: "sampler", reason: "GSL's Sobol sequence supports at most 40 parameters") }
            stream = try IndexedPointStream {
                let sequence = try SobolSequence(dimension: dimension, shiftSeed: seed)
                return { sequence.next() }
            }
        case .random:
            stream = try IndexedPointStream {
                let rng = RandomGenerator(seed: seed)
                return { rng.uniformPoint(dimension: dimension) }
            }
        }
    }

    /// The configuration to promote now and the fidelity it goes to, if any.
    func promotion() -> (config: Int, fidelity: Int)? {
        guard fidelityCount >= 2 else { return nil }
        for k in stride(from: fidelityCount - 2, through: 0, by: -1) {
            let rung = told[k]
            let top = Int((Double(rung.count) / eta).rounded(.down))
            guard top >= 1 else { continue }
            let ranked = rung.sorted { a, b in
                switch (a.value, b.value) {
                case let (x?, y?): return x != y ? x > y : a.id < b.id
                case (.some, nil): return true
                case (nil, .some): return false
                case (nil, nil): return a.id < b.id
                }
            }
            if let c = ranked.prefix(top).first(where: { $0.value != nil && !promoted[k].contains($0.config) }) {
                return (c.config, k + 1)
            }
        }
        return nil
    }

    public func askWithFidelity() throws -> (point: [Double], fidelity: Int) {
        if let up = promotion() {
            let x = configs[up.config]
            try record(x, fidelity: up.fidelity, config: up.config)
            return (x, up.fidelity)
        }
        let x = try stream.point(number: sampled)
        try record(x, fidelity: 0, config: nil)
        return (x, 0)
    }

    public func adopt(_ point: [Double], fidelity: Int) throws {
        guard fidelity >= 0, fidelity < fidelityCount else {
            throw OptimizerError.protocolViolation("adopted a trial at fidelity \(fidelity); this objective has fidelities 0..<\(fidelityCount)")
        }
        var config: Int? = nil
        if fidelity > 0 {
            // The recorded configuration of the rung below with this exact point, not yet promoted.
            config = told[fidelity - 1].first { configs[$0.config] == point && !promoted[fidelity - 1].contains($0.config) }?.config
                ?? trials.first { $0.fidelity == fidelity - 1 && configs[$0.config] == point && !promoted[fidelity - 1].contains($0.config) }?.config
        }
        try record(point, fidelity: fidelity, config: config)
    }

    /// Hands out the next trial. `config` nil: a new configuration (at fidelity 0 it consumes
    /// one stream point).
    private func record(_ x: [Double], fidelity: Int, config: Int?) throws {
        try book.handOut(x)
        let c: Int
        if let config {
            c = config
            promoted[fidelity - 1].insert(config)
        } else {
            c = configs.count
            configs.append(x)
            if fidelity == 0 { sampled += 1 }
        }
        trials.append((c, fidelity))
    }

    /// A plain ask cannot say the fidelity: a study asks a multi-fidelity optimizer through
    /// `askWithFidelity`.
    public func ask() throws -> [Double] {
        throw OptimizerError.protocolViolation("asha hands out points with their fidelity (askWithFidelity); it needs an objective with fidelities")
    }

    /// A trial recorded without a fidelity was evaluated at full fidelity.
    public func adopt(_ point: [Double]) throws { try adopt(point, fidelity: fidelityCount - 1) }

    public func tell(_ id: Int, _ value: Double?) throws {
        try book.tell(id, value)
        let t = trials[id]
        let v = value.flatMap { $0.isFinite ? $0 : nil }
        told[t.fidelity].append((t.config, v, id))
    }

    public func warmStart(_ point: [Double], _ value: Double?) throws { try book.warmStart(point, value) }
}

/// The multi-fidelity optimizers: built with the objective's number of fidelities (the plain
/// kinds in `kinds` need none). Options and defaults: docs/optimizers.md, "asha".
extension OptimizerFactory {
    public static let multiFidelityKinds = ["asha"]
    public static let multiFidelityOptions: [String: [String]] = ["asha": ["eta", "sampler"]]
    /// Every optimizer kind a study spec may name.
    public static var allKinds: [String] { kinds + multiFidelityKinds }

    /// A fresh optimizer of any kind; `fidelityCount` is the objective's number of fidelities
    /// (nil: it has none, and a multi-fidelity kind is an error).
    public static func make(_ config: OptimizerConfig, dimension: Int, budget: Int, seed: UInt64,
                            fidelityCount: Int?) throws -> any Optimizer {
        guard multiFidelityKinds.contains(config.kind) else {
            return try make(config, dimension: dimension, budget: budget, seed: seed)
        }
        guard let fidelityCount else {
            throw OptimizerError.badOption(kind: config.kind, option: "fidelities", reason: "needs an objective with fidelities (objectives.fidelities)")
        }
        guard dimension >= 1 else { throw OptimizerError.badOption(kind: config.kind, option: "dimension", reason: "needs at least one parameter") }
        guard budget >= 1 else { throw OptimizerError.budgetTooSmall(kind: config.kind, budget: budget, minimum: 1) }
        try rejectUnknownOptions(config, known: multiFidelityOptions[config.kind] ?? [])
        let o = Options(config)
        let eta = try o.double("eta", default: 3, above: 1)
        let sampler = try o.string("sampler", default: ASHA.Sampler.sobol.rawValue, allowed: ASHA.Sampler.allCases.map(\.rawValue))
        return try ASHA(dimension: dimension, fidelityCount: fidelityCount, seed: seed, eta: eta, sampler: ASHA.Sampler(rawValue: sampler)!)
    }
}
