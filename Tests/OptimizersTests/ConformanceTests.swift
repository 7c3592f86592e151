import Testing
@testable import Optimizers

/// One suite every optimizer kind must pass (after Optuna's sampler conformance tests), under the
/// pending-points protocol: points in the unit box, determinism of the event sequence, replay by
/// adopt/tell for random interleavings with out-of-order tells, perturbed adopts, warm starts,
/// failed trials, long runs, protocol violations.
@Suite struct ConformanceTests {
    static let kinds = OptimizerFactory.kinds

    /// A cheap deterministic objective with failures sprinkled in (every 7th trial fails).
    static func objective(_ x: [Double], _ i: Int) -> Double? {
        if i % 7 == 6 { return nil }
        return -x.enumerated().reduce(0) { $0 + ($1.element - 0.3 - 0.1 * Double($1.offset)) * ($1.element - 0.3 - 0.1 * Double($1.offset)) }
    }

    static func make(_ kind: String, dimension: Int = 2, budget: Int, seed: UInt64) throws -> any Optimizer {
        try OptimizerFactory.make(OptimizerConfig(kind: kind), dimension: dimension, budget: budget, seed: seed)
    }

    enum Event: Equatable { case ask, tell(Int) }

    /// A seeded random interleaving of `budget` asks with tells in random order, at most
    /// `maxPending` trials pending at once.
    static func interleaving(budget: Int, maxPending: Int, seed: UInt64) -> [Event] {
        var rng = SplitMix(seed: seed)
        var events: [Event] = [], pending: [Int] = [], asked = 0
        while asked < budget || !pending.isEmpty {
            if asked < budget && (pending.isEmpty || (pending.count < maxPending && rng.uniform() < 0.6)) {
                events.append(.ask); pending.append(asked); asked += 1
            } else {
                let k = Int(rng.uniform() * Double(pending.count))
                events.append(.tell(pending.remove(at: k)))
            }
        }
        return events
    }

    /// Plays `events`: the first `adoptUntil` events adopt `recorded` points instead of asking
    /// (`perturb` shifts each adopted coordinate). Returns every trial's point.
    static func play(_ opt: any Optimizer, _ events: [Event], recorded: [[Double]] = [], adoptUntil: Int = 0,
                     perturb: Double = 0) throws -> [[Double]] {
        var points: [[Double]] = []
        for (e, event) in events.enumerated() {
            switch event {
            case .ask:
                if e < adoptUntil {
                    let id = points.count
                    let p = recorded[id].enumerated().map { $0.element + perturb * ($0.offset % 2 == 0 ? 1 : -1) * Double(id % 3 + 1) }
                    try opt.adopt(p); points.append(p)
                } else {
                    points.append(try opt.ask())
                }
            case .tell(let id):
                try opt.tell(id, objective(points[id], id))
            }
        }
        return points
    }

    /// Strictly sequential use: ask, tell, ask, ...
    static func drive(_ kind: String, dimension: Int = 2, budget: Int, seed: UInt64) throws -> [[Double]] {
        try play(make(kind, dimension: dimension, budget: budget, seed: seed), (0..<budget).flatMap { [Event.ask, .tell($0)] })
    }

    /// GP-BO refits its model on every ask: shorter runs keep the debug-build suite fast.
    static func budget(_ kind: String) -> Int { kind == "gp" ? 18 : 40 }

    @Test(arguments: kinds)
    func pointsStayInTheUnitBox(_ kind: String) throws {
        for d in [1, 3] {
            let opt = try Self.make(kind, dimension: d, budget: 24, seed: 11)
            let pts = try Self.play(opt, Self.interleaving(budget: 24, maxPending: 4, seed: 2))
            for x in pts {
                #expect(x.count == d)
                #expect(x.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "\(kind) asked \(x)")
            }
        }
    }

    /// Same seed, same event sequence (out-of-order tells, up to 8 pending): the same points.
    @Test(arguments: kinds)
    func sameEventsSameRun(_ kind: String) throws {
        let n = Self.budget(kind)
        let events = Self.interleaving(budget: n, maxPending: 8, seed: 5)
        let a = try Self.play(Self.make(kind, budget: n, seed: 3), events)
        let b = try Self.play(Self.make(kind, budget: n, seed: 3), events)
        #expect(a == b)
        #expect(Set(a).count > n / 2, "\(kind): only \(Set(a).count) distinct points")
    }

    @Test(arguments: kinds)
    func distinctSeedsDistinctRuns(_ kind: String) throws {
        let a = try Self.drive(kind, budget: 12, seed: 1)
        let b = try Self.drive(kind, budget: 12, seed: 2)
        #expect(a != b)
    }

    /// Replay: a fresh optimizer that adopts the live run's points for the first events (and gets
    /// the same tells) asks exactly the live run's points afterwards, for random interleavings
    /// with up to 8 pending trials and out-of-order tells.
    @Test(arguments: kinds)
    func adoptReplayEqualsTheLiveRun(_ kind: String) throws {
        let n = Self.budget(kind)
        for (seed, maxPending) in [(UInt64(1), 8), (2, 3)] {
            let events = Self.interleaving(budget: n, maxPending: maxPending, seed: seed)
            let live = try Self.play(Self.make(kind, budget: n, seed: 9), events)
            for cut in [events.count / 3, (2 * events.count) / 3] {
                let replayed = try Self.play(Self.make(kind, budget: n, seed: 9), events, recorded: live, adoptUntil: cut)
                #expect(replayed == live, "\(kind), interleaving \(seed), replayed up to event \(cut)")
            }
        }
    }

    /// Adopted points perturbed by ~1e-12 (a ledger from a machine that rounds differently): no
    /// error, and the optimizer keeps asking valid points. Random and Sobol continue exactly as the
    /// live run; CMA-ES stays within 1e-6 of it over the following trials but not bit-identical
    /// (its update uses only the ranks of the scores, which a 1e-12 change does not reorder, so the
    /// difference shows that the recorded points enter the update), Powell (told the scores of
    /// the perturbed points) within 1e-6 over the next five.
    @Test(arguments: kinds)
    func perturbedAdoptsKeepWorking(_ kind: String) throws {
        let n = Self.budget(kind)
        let events = Self.interleaving(budget: n, maxPending: 4, seed: 4)
        let live = try Self.play(Self.make(kind, budget: n, seed: 7), events)
        let cut = events.count / 2
        let adopted = events[..<cut].filter { $0 == .ask }.count
        let replayed = try Self.play(Self.make(kind, budget: n, seed: 7), events, recorded: live, adoptUntil: cut, perturb: 1e-12)
        for x in replayed[adopted...] { #expect(x.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(kind) asked \(x)") }
        switch kind {
        case "random", "sobol":
            #expect(Array(replayed[adopted...]) == Array(live[adopted...]), "\(kind)")
        case "cmaes", "powell":
            let horizon = kind == "cmaes" ? live.count : adopted + 5
            let gap = zip(replayed[adopted..<horizon], live[adopted..<horizon]).map { zip($0, $1).map { abs($0 - $1) }.max()! }.max()!
            #expect(gap < 1e-6 && gap > 0, "\(kind): largest difference to the live run \(gap)")
        default:
            #expect(Set(replayed[adopted...]).count > (n - adopted) / 2)
        }
    }

    /// Powell cannot continue from another point than it asked: an adopted point far from the
    /// requested one is a protocol violation; CMA-ES and compass search continue from it.
    @Test(arguments: ["cmaes", "pattern", "powell"])
    func farAdoptsOnlyWhereHonoured(_ kind: String) throws {
        let opt = try Self.make(kind, budget: 20, seed: 2)
        let x = try opt.ask()
        try opt.tell(0, Self.objective(x, 0))
        let far = try Self.make(kind, budget: 20, seed: 2)
        try far.adopt(x); try far.tell(0, Self.objective(x, 0))
        let next = try opt.ask()
        let moved = next.map { $0 < 0.5 ? $0 + 0.3 : $0 - 0.3 }
        if kind == "powell" {
            #expect(throws: OptimizerError.self) { try far.adopt(moved) }
        } else {
            try far.adopt(moved)
            try far.tell(1, Self.objective(moved, 1))
            #expect(try far.ask().allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    /// Compass search moves to the recorded point of an improving poll: after adopting a first poll
    /// far from the requested one with a better score, it polls around the adopted point.
    @Test func compassContinuesFromTheRecordedIncumbent() throws {
        let opt = try Self.make("pattern", budget: 20, seed: 2)
        let start = try opt.ask()
        try opt.tell(0, 0)
        let poll = try opt.ask()                    // start + 0.25·e_0 (or the first feasible poll)
        let elsewhere = poll.map { $0 < 0.5 ? $0 + 0.3 : $0 - 0.3 }
        let replay = try Self.make("pattern", budget: 20, seed: 2)
        try replay.adopt(start); try replay.tell(0, 0)
        try replay.adopt(elsewhere); try replay.tell(1, 1)   // improves: the new incumbent
        let next = try replay.ask()
        let moved = zip(next, elsewhere).map { abs($0 - $1) }
        #expect(moved.filter { $0 > 0 }.count == 1 && abs(moved.max()! - 0.25) < 1e-12, "polled \(next) around \(elsewhere)")
    }

    /// With results told in order (q = 3 slots; no failures, whose substitutes depend on the
    /// tell order), the multi-start searches ask the sequential run's points: pending trials add
    /// fillers and speculative polls, but change no decision. Random and
    /// Sobol ask the same points whatever is pending.
    @Test(arguments: ["random", "sobol", "cmaes", "pattern", "powell"])
    func inOrderResultsKeepTheSequentialTrace(_ kind: String) throws {
        func run(_ slots: Int) throws -> [[Double]] {
            let opt = try Self.make(kind, budget: 60, seed: 8)
            var points: [[Double]] = []
            for i in 0..<60 {
                points.append(try opt.ask())
                if i >= slots - 1 { try opt.tell(i - slots + 1, Self.objective(points[i - slots + 1], 0)) }
            }
            return points
        }
        let sequential = try run(1), batch = try run(3)
        if kind == "random" || kind == "sobol" { #expect(batch == sequential); return }
        // Fillers and skipped speculative polls spend some trials (a skipped poll's result still
        // answers a later request for that point), so the batch run gets through a prefix of the
        // sequential trace: every point of it is asked.
        let asked = Set(batch)
        let k = sequential.prefix { asked.contains($0) }.count
        #expect(k >= 15, "\(kind): only the first \(k) sequential points are asked")
        #expect(batch != sequential)
    }

    /// CMA-ES hands out its whole first generation before any result, exactly the sequential
    /// run's first λ points; the next ask, still blocked, gets a filler.
    @Test func cmaesHandsOutAGeneration() throws {
        let lambda = CMAParameters(dimension: 2).lambda
        let sequential = try Self.drive("cmaes", budget: 20, seed: 4)
        let opt = try Self.make("cmaes", budget: 20, seed: 4)
        let generation = try (0..<lambda).map { _ in try opt.ask() }
        #expect(generation == Array(sequential[..<lambda]))
        let filler = try opt.ask()
        #expect(!sequential.contains(filler))
    }

    /// Fillers: with `fillers = "local"` (the default) a blocked ask perturbs the best told point;
    /// before any success, and with `fillers = "sobol"`, it is the filler Sobol stream's point.
    @Test func fillerPolicies() throws {
        let lambda = CMAParameters(dimension: 2).lambda
        func blockedAsk(_ policy: String?, tell: Bool) throws -> ([Double], [Double]) {
            let opt = try OptimizerFactory.make(OptimizerConfig(kind: "cmaes", options: policy.map { ["fillers": .string($0)] } ?? [:]),
                                                dimension: 2, budget: 20, seed: 4)
            let generation = try (0..<lambda).map { _ in try opt.ask() }
            if tell { try opt.tell(2, 1.0) }
            return (generation[2], try opt.ask())
        }
        let (told, local) = try blockedAsk(nil, tell: true)
        #expect(zip(told, local).allSatisfy { abs($0 - $1) < 0.25 } && told != local, "\(local) vs best told \(told)")
        let (_, sobolTold) = try blockedAsk("sobol", tell: true)
        let (_, sobolUntold) = try blockedAsk("sobol", tell: false)
        let (_, localUntold) = try blockedAsk("local", tell: false)
        #expect(sobolTold == sobolUntold && localUntold == sobolUntold && sobolTold != local)
        #expect(throws: OptimizerError.self) {
            try OptimizerFactory.make(OptimizerConfig(kind: "pattern", options: ["fillers": .string("grid")]), dimension: 2, budget: 20, seed: 1)
        }
    }

    /// Pending GP-BO points do not collapse: four asks without a result in between are spread out,
    /// for every liar strategy.
    @Test(arguments: PendingStrategy.allCases)
    func gpBatchIsSpreadOut(_ strategy: PendingStrategy) throws {
        let opt = try OptimizerFactory.make(OptimizerConfig(kind: "gp", options: ["pending": .string(strategy.rawValue)]),
                                            dimension: 2, budget: 20, seed: 3)
        for i in 0..<8 { let x = try opt.ask(); try opt.tell(i, Self.objective(x, 0)) }
        let batch = try (0..<4).map { _ in try opt.ask() }
        var closest = Double.infinity
        for a in 0..<4 { for b in 0..<a { closest = min(closest, zip(batch[a], batch[b]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()) } }
        #expect(closest > (strategy == .kb ? 1e-4 : 1e-2), "\(strategy): closest pair \(closest), batch \(batch)")
    }

    /// Warm starts: GP-BO counts them as data (one design point fewer each), the multi-start
    /// searches start their first local run at the best one, random and Sobol ignore them.
    @Test(arguments: kinds)
    func warmStarts(_ kind: String) throws {
        let plain = try Self.drive(kind, budget: 8, seed: 6)
        let opt = try Self.make(kind, budget: 8, seed: 6)
        let best = [0.3, 0.4]
        try opt.warmStart([0.9, 0.9], -1)
        try opt.warmStart(best, Self.objective(best, 0))
        try opt.warmStart([0.1, 0.1], nil)
        var points: [[Double]] = []
        for i in 0..<8 { let x = try opt.ask(); points.append(x); try opt.tell(i, Self.objective(x, i)) }
        switch kind {
        case "random", "sobol":
            #expect(points == plain)
        case "gp":
            // 2-D: 5 design points, less 3 warm starts, but at least d + 1 = 3.
            #expect(Array(points[..<3]) == Array(plain[..<3]))
            #expect(points[3] != plain[3])
        case "pattern":
            #expect(points[0] == [0.3 + 0.25, 0.4])   // the first poll around the warm start, step 0.25
        case "powell":
            #expect(points[0] == [0.3 + 0.25, 0.4])   // the first line-search step from it
        default:
            // CMA-ES samples its first generation around the warm start (σ₀ = 0.25).
            let mean = (0..<2).map { j in points[..<6].map { $0[j] }.reduce(0, +) / 6 }
            #expect(zip(mean, best).allSatisfy { abs($0 - $1) < 0.25 }, "generation mean \(mean)")
            #expect(points != plain)
        }
        #expect(throws: OptimizerError.self) { try opt.warmStart(best, 1) }
    }

    @Test(arguments: kinds)
    func protocolViolationsAreRejected(_ kind: String) throws {
        let opt = try Self.make(kind, budget: 20, seed: 1)
        #expect(throws: OptimizerError.self) { try opt.warmStart([0.5], 1) }
        #expect(throws: OptimizerError.self) { try opt.warmStart([0.5, .nan], 1) }
        #expect(throws: OptimizerError.self) { try opt.tell(0, 1) }            // nothing handed out
        let x = try opt.ask()
        #expect(throws: OptimizerError.self) { try opt.tell(1, 1) }            // unknown id
        #expect(throws: OptimizerError.self) { try opt.tell(-1, 1) }
        try opt.tell(0, Self.objective(x, 0))
        #expect(throws: OptimizerError.self) { try opt.tell(0, 1) }            // told twice
        #expect(throws: OptimizerError.self) { try opt.adopt([0.5]) }          // wrong dimension
        #expect(throws: OptimizerError.self) { try opt.adopt([0.5, .infinity]) }
        #expect(throws: OptimizerError.self) { try opt.warmStart([0.5, 0.5], 1) }   // after the first ask
        // The run goes on after rejected events.
        let y = try opt.ask()
        try opt.tell(1, Self.objective(y, 1))
    }

    /// Every evaluation failing: the optimizer keeps asking valid points.
    @Test(arguments: kinds)
    func survivesOnlyFailures(_ kind: String) throws {
        let opt = try Self.make(kind, budget: 20, seed: 5)
        for i in 0..<20 {
            let x = try opt.ask()
            #expect(x.allSatisfy { $0 >= 0 && $0 <= 1 })
            try opt.tell(i, nil)
        }
    }

    /// Far past any local search's end (restarts), on a flat and on a smooth objective: the
    /// optimizer keeps asking valid points, and does not just repeat one point.
    @Test(arguments: kinds)
    func keepsAskingPastConvergence(_ kind: String) throws {
        let budget = kind == "gp" ? 60 : 150
        for flat in [true, false] {
            let opt = try Self.make(kind, budget: budget, seed: 6)
            var distinct = Set<[Double]>()
            for i in 0..<budget {
                let x = try opt.ask()
                distinct.insert(x)
                try opt.tell(i, flat ? 1.0 : Self.objective(x, i) ?? -1)
            }
            #expect(distinct.count > 20, "\(kind) asked only \(distinct.count) distinct points (flat: \(flat))")
        }
    }

    @Test(arguments: kinds)
    func unknownOptionIsRejected(_ kind: String) {
        #expect(throws: OptimizerError.self) {
            try OptimizerFactory.make(OptimizerConfig(kind: kind, options: ["no_such_option": .number(1)]), dimension: 2, budget: 40, seed: 1)
        }
    }

    @Test func badPendingOptionIsRejected() {
        #expect(throws: OptimizerError.self) {
            try OptimizerFactory.make(OptimizerConfig(kind: "gp", options: ["pending": .string("cl_median")]), dimension: 2, budget: 40, seed: 1)
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
