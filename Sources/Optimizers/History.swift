import MergetuneNumerics

/// One told trial: the point and its score (nil = failed evaluation).
public struct ToldTrial: Sendable, Equatable {
    public var point: [Double]
    public var value: Double?
    public init(point: [Double], value: Double?) { self.point = point; self.value = value }
}

/// The told trials of one run, with the value each optimizer works with.
///
/// A failed evaluation (`tell(point, nil)`) counts as the worst score seen *before* it, so the
/// substitute is fixed at tell time and replaying a history never changes an earlier decision.
/// A failure before any success gets `failurePenaltyFloor`: a large finite negative score, never
/// NaN or infinity, so comparisons, ranks and parabolic line-search fits stay well defined.
struct TrialHistory {
    let dimension: Int
    private(set) var trials: [ToldTrial] = []
    /// Score per trial as the algorithms see it (failures replaced).
    private(set) var effective: [Double] = []
    private var worst: Double? = nil

    static let failurePenaltyFloor = -1e100

    init(dimension: Int) { self.dimension = dimension }

    var count: Int { trials.count }

    mutating func append(_ point: [Double], _ value: Double?) throws {
        try checkToldDimension(point, dimension)
        guard point.allSatisfy({ $0.isFinite }) else {
            throw OptimizerError.protocolViolation("told a point with non-finite coordinates")
        }
        let v: Double?
        if let value, value.isFinite { v = value } else { v = nil }
        trials.append(ToldTrial(point: point, value: v))
        let substitute = v ?? worst ?? Self.failurePenaltyFloor
        effective.append(substitute)
        if let v { worst = min(worst ?? v, v) }
    }

    /// Indices of the successful trials.
    var successes: [Int] { trials.indices.filter { trials[$0].value != nil } }
}

/// The trials of one run under the pending-points protocol: warm starts, then the trials
/// handed out (asks and adopts) in id order, and their scores as told, in tell order.
///
/// `history` is the told data in the order it arrived (warm starts first, then tells), so a
/// failure's substitute (the worst score seen before it) is fixed when it is told; `position`
/// maps a trial id to its entry there.
struct TrialBook {
    let dimension: Int
    /// Points handed out, by id.
    private(set) var points: [[Double]] = []
    /// Warm starts, then told trials, in arrival order.
    private(set) var history: TrialHistory
    /// Index into `history` of each trial id (nil while pending).
    private(set) var position: [Int?] = []
    private(set) var warmStarts = 0

    init(dimension: Int) { self.dimension = dimension; history = TrialHistory(dimension: dimension) }

    /// Trials handed out so far (the id of the next one).
    var count: Int { points.count }
    /// Trials handed out and not told yet, in id order.
    var pendingIDs: [Int] { position.indices.filter { position[$0] == nil } }
    /// The effective score of trial `id` (failures replaced), nil while pending.
    func effective(_ id: Int) -> Double? { position[id].map { history.effective[$0] } }

    mutating func warmStart(_ point: [Double], _ value: Double?) throws {
        guard points.isEmpty else {
            throw OptimizerError.protocolViolation("warm start after \(points.count) trials were handed out (warm starts come before the first ask)")
        }
        try checkPoint(point, dimension, what: "warm-start point")
        try history.append(point, value)
        warmStarts += 1
    }

    /// Records the next trial's point; returns its id.
    @discardableResult mutating func handOut(_ point: [Double]) throws -> Int {
        try checkPoint(point, dimension, what: "adopted point")
        points.append(point); position.append(nil)
        return points.count - 1
    }

    mutating func tell(_ id: Int, _ value: Double?) throws {
        guard id >= 0, id < points.count else {
            throw OptimizerError.protocolViolation("told trial \(id), but only trials 0..<\(points.count) were handed out")
        }
        guard position[id] == nil else { throw OptimizerError.protocolViolation("trial \(id) was told twice") }
        position[id] = history.count
        try history.append(points[id], value)
    }
}

/// A handed-in point must have the run's dimension and finite coordinates.
func checkPoint(_ point: [Double], _ dimension: Int, what: String) throws {
    guard point.count == dimension else {
        throw OptimizerError.protocolViolation("\(what) has \(point.count) coordinates, expected \(dimension)")
    }
    guard point.allSatisfy({ $0.isFinite }) else {
        throw OptimizerError.protocolViolation("\(what) has non-finite coordinates: \(point)")
    }
}

/// A told point must have the run's dimension (every optimizer checks this on `tell`).
func checkToldDimension(_ point: [Double], _ dimension: Int) throws {
    guard point.count == dimension else {
        throw OptimizerError.protocolViolation("told a point of \(point.count) coordinates, expected \(dimension)")
    }
}

/// Clamps every coordinate into [0, 1].
@inline(__always) func clampUnit(_ x: [Double]) -> [Double] { x.map { min(1, max(0, $0)) } }

/// A 64-bit mix (SplitMix64's finalizer) for deriving independent seeds from (seed, index).
func mixSeed(_ seed: UInt64, _ index: UInt64) -> UInt64 {
    var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* (index &+ 1)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
