import MergetuneNumerics

/// Why a local search handed control back to the multi-start driver.
enum LocalStop: Error {
    /// The next point the search needs has not been handed out yet: it is the optimizer's question.
    case needs([Double])
    /// Every point the search can go on with is handed out and pending.
    case blocked
    /// The local run spent its local budget.
    case localBudgetSpent
}

/// What a multi-start trial was handed out as.
enum TrialSlot: Equatable {
    /// The local search's evaluation request number `number` (counted over the whole run), for
    /// the point the search computed (`requested`; the trial's recorded point may differ when it
    /// was adopted from a ledger).
    case request(number: Int, requested: [Double])
    /// Filler number `number`: a point handed out while the search was blocked on pending trials.
    case filler(number: Int)
}

/// Answers a local search's evaluation requests from the trials handed out so far.
///
/// `ask()` of a multi-start optimizer re-runs its deterministic algorithm from the seed; its
/// n-th new evaluation request is answered by the trial handed out for request n (its told value,
/// or "pending"). The first request no trial stands for is the next point to hand out. So the
/// optimizer's state is a function of seed + event sequence by construction, and replay (adopts
/// in place of asks) restores it exactly.
///
/// A request for a point already requested in this run (exactly the same coordinates), or for a
/// warm start's point, is answered from that trial without a new one: compass search's
/// back-steps and coordinate re-polls cost nothing.
final class ReplayOracle {
    /// A request's answer: the score (nil while pending) and the trial's recorded point.
    struct Answer { var value: Double?; var point: [Double] }
    private enum Known { case trial(Int), warm(Double) }

    private let points: [[Double]]
    private let values: [Double?]
    private let byRequest: [Int: (id: Int, requested: [Double])]
    /// The number of the next new request.
    private(set) var nextRequest = 0
    /// Evaluations spent by the current local run, and its limit (nil = none).
    private(set) var localUsed = 0
    private var localLimit: Int? = nil
    /// Set when an evaluation was requested from a C callback that cannot throw (Brent).
    var deferredStop: LocalStop? = nil
    private var seen: [[Double]: Known] = [:]

    init(book: TrialBook, slots: [TrialSlot]) {
        points = book.points
        values = (0..<book.count).map { book.effective($0) }
        var map: [Int: (Int, [Double])] = [:]
        for (id, slot) in slots.enumerated() {
            if case .request(let number, let requested) = slot { map[number] = (id, requested) }
        }
        byRequest = map
        for w in 0..<book.warmStarts {
            let x = clampUnit(book.history.trials[w].point)
            if seen[x] == nil { seen[x] = .warm(book.history.effective[w]) }
        }
    }

    func beginLocalRun(limit: Int?) { localUsed = 0; localLimit = limit; deferredStop = nil }

    private func answer(_ k: Known, at x: [Double]) -> Answer {
        switch k {
        case .trial(let id): return Answer(value: values[id], point: points[id])
        case .warm(let v): return Answer(value: v, point: x)
        }
    }

    /// The trial standing for `x` (pending or told), or a thrown `LocalStop`.
    private func lookup(_ x: [Double]) throws -> Answer {
        if let stop = deferredStop { throw stop }
        let x = clampUnit(x)
        if let k = seen[x] { return answer(k, at: x) }
        if let limit = localLimit, localUsed >= limit { throw LocalStop.localBudgetSpent }
        guard let (id, requested) = byRequest[nextRequest] else { throw LocalStop.needs(x) }
        // The search is deterministic given the trials before this request, so it asks what it
        // asked when the trial was handed out; anything else is a bug in the replay.
        guard requested == x else {
            throw OptimizerError.protocolViolation("internal: replaying request \(nextRequest) asked \(x), but trial \(id) was handed out for \(requested)")
        }
        seen[x] = .trial(id)
        nextRequest += 1; localUsed += 1
        return answer(.trial(id), at: x)
    }

    /// The score of `x` (maximized) and the point the trial recorded, or a thrown `LocalStop`.
    func score(_ x: [Double]) throws -> (value: Double, point: [Double]) {
        let a = try lookup(x)
        guard let v = a.value else { throw LocalStop.blocked }
        return (v, a.point)
    }

    /// A batch the search needs in full (a CMA-ES generation): hands out its points one per ask,
    /// whatever is pending, and answers once every one is told.
    func batch(_ xs: [[Double]]) throws -> [(value: Double, point: [Double])] {
        let answers = try xs.map { try lookup($0) }
        return try answers.map { a in
            guard let v = a.value else { throw LocalStop.blocked }
            return (v, a.point)
        }
    }

    /// Opportunistic polling (compass search): the first of `xs`, in order, that scores above
    /// `threshold`, or nil when none does. While earlier points are pending the later ones are
    /// handed out speculatively; once the first improvement is known, the speculative trials
    /// after it are skipped (they count as the local run's evaluations). With results arriving
    /// in order, the accepted moves are those of sequential polling.
    func firstImproving(_ xs: [[Double]], than threshold: Double) throws -> (index: Int, value: Double, point: [Double])? {
        var blocked = false
        for (j, x) in xs.enumerated() {
            let a = try lookup(x)
            if blocked { continue }
            guard let v = a.value else { blocked = true; continue }
            if v > threshold {
                for later in xs[(j + 1)...] {
                    let y = clampUnit(later)
                    if seen[y] != nil { continue }
                    guard let (id, requested) = byRequest[nextRequest], requested == y else { break }
                    seen[y] = .trial(id)
                    nextRequest += 1; localUsed += 1
                }
                return (j, v, a.point)
            }
        }
        if blocked { throw LocalStop.blocked }
        return nil
    }

    /// For callbacks into C: the *loss* (−score) of `x`, or NaN after recording why it stopped.
    func lossOrNaN(_ x: [Double]) -> Double {
        if deferredStop != nil { return .nan }
        do { return -(try score(x).value) } catch let stop as LocalStop { deferredStop = stop; return .nan } catch { return .nan }
    }
}

/// A local search run from a start point until it converges (returns) or the oracle stops it.
protocol LocalSearch {
    /// Runs one local search; `restart` counts from 0 (IPOP uses it to grow the population).
    func run(start: [Double], restart: Int, rng: RandomGenerator, oracle: ReplayOracle) throws
    /// Whether the search continues from a trial's recorded point when it differs from the one it
    /// requested (CMA-ES, compass search); Powell's line searches answer by order only, and
    /// `adopt` rejects a point far from the requested one.
    var honoursRecordedPoints: Bool { get }
}

/// How many evaluations one local run may spend before the driver restarts.
public enum LocalBudget: Sendable, Equatable, CustomStringConvertible {
    /// Restart only when the local search converges.
    case unlimited
    /// A fraction of the run's total budget N (rounded up, at least 2).
    case fraction(Double)
    /// A fixed number of evaluations (at least 2).
    case count(Int)

    func limit(totalBudget: Int) -> Int? {
        switch self {
        case .unlimited: return nil
        case .fraction(let f): return max(2, Int((f * Double(totalBudget)).rounded(.up)))
        case .count(let c): return max(2, c)
        }
    }

    public var description: String {
        switch self {
        case .unlimited: return "none"
        case .fraction(let f): return "N*\(f)"
        case .count(let c): return "\(c)"
        }
    }

    /// Parses the `local_budget` option: 0 or "none" = unlimited; a number in (0, 1) = a fraction
    /// of N; a whole number ≥ 1 = a count ("1" means the whole budget, i.e. fraction 1).
    static func parse(_ value: OptionValue, kind: String) throws -> LocalBudget {
        switch value {
        case .string(let s) where s == "none" || s == "unlimited": return .unlimited
        case .string(let s):
            if let x = DecimalNumber.parse(s) { return try parse(.number(x), kind: kind) }
        case .number(let x) where x == 0: return .unlimited
        case .number(let x) where x > 0 && x < 1: return .fraction(x)
        case .number(let x) where x == 1: return .fraction(1)
        case .number(let x) where x >= 2 && x == x.rounded(): return .count(Int(x))
        default: break
        }
        throw OptimizerError.badOption(kind: kind, option: "local_budget",
            reason: "expected 0 or \"none\" (restart on convergence only), a fraction of N in (0, 1], or a whole count >= 2; got \(value)")
    }
}

/// What a multi-start search hands out while it is blocked on pending trials (option `fillers`).
public enum FillerPolicy: String, Sendable, CaseIterable {
    /// The next point of an independent scrambled Sobol stream (global exploration).
    case sobol
    /// A Gaussian perturbation (sd `localSD` per coordinate, clamped) of the best point told so
    /// far; Sobol before any success.
    case local
    public static let localSD = 0.05
    /// The default, chosen by `mergetune-bench batch-gp` (Benchmarks/batch-gp.md).
    public static let defaultPolicy = FillerPolicy.local
}

/// Optimizers built on the multi-start driver report how many local runs they began.
public protocol MultiStartReporting {
    /// Local runs begun up to the last asked point (1 = the first run, no restart yet).
    var localRuns: Int { get }
}

/// Multi-start driver for the local searches (CMA-ES, pattern search, Powell): starts at a
/// uniform random point (the first local run at the best warm start, if any), runs the local
/// search until it converges or spends its local budget, then restarts from a new random point,
/// for as long as it is asked. The runner enforces the run's budget N; the driver never stops
/// asking sensible points. While the search is blocked on pending trials, asks get fillers
/// (`FillerPolicy`).
final class MultiStartOptimizer: Optimizer, MultiStartReporting {
    let dimension: Int
    let seed: UInt64
    let localLimit: Int?
    let search: any LocalSearch
    let fillerPolicy: FillerPolicy
    private let fillerSeed: UInt64
    private var book: TrialBook
    private var slots: [TrialSlot] = []
    private var fillersHandedOut = 0
    private let fillers: IndexedPointStream
    /// Local runs begun before the last asked point (1 = no restart yet).
    private(set) var localRuns = 0

    /// Largest distance (max-norm, unit box) between an adopted point and the requested one that
    /// a search answering by order (Powell) accepts: ample for last-bit BLAS differences.
    static let adoptTolerance = 1e-6

    init(dimension: Int, budget: Int, seed: UInt64, localBudget: LocalBudget, search: any LocalSearch,
         fillers fillerPolicy: FillerPolicy = .defaultPolicy) {
        self.dimension = dimension; self.seed = seed; self.search = search; self.fillerPolicy = fillerPolicy
        localLimit = localBudget.limit(totalBudget: budget)
        book = TrialBook(dimension: dimension)
        let fillerSeed = mixSeed(seed, 0xF111E5)
        self.fillerSeed = fillerSeed
        fillers = try! IndexedPointStream {
            if dimension <= SobolSequence.maxDimension {
                let sobol = try SobolSequence(dimension: dimension, shiftSeed: fillerSeed)
                return { sobol.next() }
            }
            let rng = RandomGenerator(seed: fillerSeed)
            return { rng.uniformPoint(dimension: dimension) }
        }
    }

    func ask() throws -> [Double] {
        let (x, slot) = try next()
        try book.handOut(x)
        record(slot)
        return x
    }

    func adopt(_ point: [Double]) throws {
        try checkPoint(point, dimension, what: "adopted point")
        let (_, slot) = try next()
        if case .request(_, let requested) = slot, !search.honoursRecordedPoints {
            let gap = zip(point, requested).map { abs($0 - $1) }.max() ?? 0
            guard gap <= Self.adoptTolerance else {
                throw OptimizerError.protocolViolation(
                    "adopted trial \(book.count) at \(point), \(gap) away from the point this optimizer asks there, \(requested); its line searches replay by order and cannot continue from another point (is the ledger from another run, seed or optimizer?)")
            }
        }
        try book.handOut(point)
        record(slot)
    }

    func tell(_ id: Int, _ value: Double?) throws { try book.tell(id, value) }
    func warmStart(_ point: [Double], _ value: Double?) throws { try book.warmStart(point, value) }

    private func record(_ slot: TrialSlot) {
        slots.append(slot)
        if case .filler = slot { fillersHandedOut += 1 }
    }

    private func filler() throws -> ([Double], TrialSlot) {
        let number = fillersHandedOut
        if fillerPolicy == .local, let best = bestToldPoint {
            // Trial ids are hand-out order, and the told set is part of the state: a function of
            // seed + event sequence like every other hand-out.
            let rng = RandomGenerator(seed: mixSeed(fillerSeed, UInt64(number)))
            return (clampUnit(best.map { $0 + rng.normal(sd: FillerPolicy.localSD) }), .filler(number: number))
        }
        return (try fillers.point(number: number), .filler(number: number))
    }

    /// The best successful point told so far (warm starts included; the first of equals).
    private var bestToldPoint: [Double]? {
        var best: (Double, [Double])? = nil
        for t in book.history.trials {
            if let v = t.value, best == nil || v > best!.0 { best = (v, clampUnit(t.point)) }
        }
        return best?.1
    }

    /// The best successful warm start's point (the first of equals).
    private var bestWarmStart: [Double]? {
        var best: (Double, [Double])? = nil
        for t in book.history.trials.prefix(book.warmStarts) {
            if let v = t.value, best == nil || v > best!.0 { best = (v, clampUnit(t.point)) }
        }
        return best?.1
    }

    /// Re-runs the multi-start algorithm against the trials: the next point and what it is.
    private func next() throws -> ([Double], TrialSlot) {
        let oracle = ReplayOracle(book: book, slots: slots)
        let rng = RandomGenerator(seed: seed)
        let warm = bestWarmStart
        var restart = 0
        var idle = 0
        while true {
            var start = rng.uniformPoint(dimension: dimension)
            // Drawn anyway, so later restarts start where they would without warm starts.
            if restart == 0, let warm { start = warm }
            oracle.beginLocalRun(limit: localLimit)
            let before = oracle.nextRequest
            do {
                try search.run(start: start, restart: restart, rng: rng, oracle: oracle)
                if let stop = oracle.deferredStop { throw stop }
            } catch LocalStop.needs(let x) {
                localRuns = restart + 1
                return (x, .request(number: oracle.nextRequest, requested: x))
            } catch LocalStop.blocked {
                localRuns = restart + 1
                return try filler()
            } catch LocalStop.localBudgetSpent {
            }
            restart += 1
            idle = oracle.nextRequest == before ? idle + 1 : 0
            // A local run that asks nothing new (every request answered from earlier points) must not
            // spin forever: after many such runs, hand out a filler.
            if idle > 1000 { return try filler() }
        }
    }
}
