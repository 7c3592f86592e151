import Foundation

// Axis scales with "nice" ticks. Linear ticks follow Heckbert's labelling ("Nice numbers for
// graph labels", Graphics Gems, 1990): the tick step is 1, 2 or 5 times a power of ten, and
// the axis runs from the multiple of the step at or below the data to the one at or above it.

/// Heckbert's nice number near `x`: rounded (nearest of 1, 2, 5, 10 × 10^k) or its ceiling.
public func niceNumber(_ x: Double, round: Bool) -> Double {
    guard x > 0, x.isFinite else { return 1 }
    let exponent = Foundation.floor(log10(x))
    let fraction = x / pow(10, exponent)
    let nice: Double
    if round {
        nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
    } else {
        nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
    }
    return nice * pow(10, exponent)
}

/// Ticks of a linear axis: about `count` values from a multiple of the step at or below `lo`
/// to one at or above `hi`, and the number of fraction digits that prints them exactly.
public func niceTicks(_ lo: Double, _ hi: Double, count: Int = 6) -> (ticks: [Double], step: Double, digits: Int) {
    var lo = lo, hi = hi
    if !lo.isFinite || !hi.isFinite { lo = 0; hi = 1 }
    if hi < lo { swap(&lo, &hi) }
    if hi == lo {  // a single value: a unit-wide axis around it
        let pad = lo == 0 ? 1 : abs(lo) * 0.1
        lo -= pad; hi += pad
    }
    let range = niceNumber(hi - lo, round: false)
    let step = niceNumber(range / Double(max(count - 1, 1)), round: true)
    let first = Foundation.floor(lo / step + 1e-9)
    let last = Foundation.ceil(hi / step - 1e-9)
    let digits = max(0, -Int(Foundation.floor(log10(step))))
    // Multiply integers by the step and round to its decimals, so 3 × 0.2 prints 0.6, not 0.6000000000000001.
    let scale = pow(10, Double(digits))
    let ticks = stride(from: first, through: last, by: 1).map { k in (k * step * scale).rounded() / scale }
    return (ticks, step, digits)
}

/// Ticks of a log axis: the powers of ten from the decade at or below `lo` to the one at or
/// above `hi` (both > 0).
public func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
    let a = Foundation.floor(log10(max(lo, Double.leastNormalMagnitude)) + 1e-9)
    var b = Foundation.ceil(log10(max(hi, Double.leastNormalMagnitude)) - 1e-9)
    if b <= a { b = a + 1 }
    return stride(from: a, through: b, by: 1).map { pow(10, $0) }
}

/// A map from data values to pixels along one axis.
public struct Scale: Sendable {
    public enum Kind: String, Sendable { case linear, log }
    public let kind: Kind
    /// The domain (data) after widening to the ticks.
    public let lower: Double
    public let upper: Double
    public let ticks: [Double]
    /// Fraction digits of the tick labels (linear).
    public let digits: Int
    /// Pixel range: lower maps to `from`, upper to `to`.
    public var from: Double
    public var to: Double

    /// A linear scale widened to nice ticks around [lo, hi].
    public static func linear(_ lo: Double, _ hi: Double, from: Double = 0, to: Double = 1, tickCount: Int = 6) -> Scale {
        let t = niceTicks(lo, hi, count: tickCount)
        return Scale(kind: .linear, lower: t.ticks.first!, upper: t.ticks.last!, ticks: t.ticks, digits: t.digits, from: from, to: to)
    }

    /// A linear scale exactly over [lo, hi] (a parameter box), with the nice ticks inside it.
    public static func linearExact(_ lo: Double, _ hi: Double, from: Double = 0, to: Double = 1, tickCount: Int = 6) -> Scale {
        let t = niceTicks(lo, hi, count: tickCount)
        let inside = t.ticks.filter { $0 >= lo - 1e-12 && $0 <= hi + 1e-12 }
        return Scale(kind: .linear, lower: lo, upper: hi == lo ? lo + 1 : hi, ticks: inside, digits: t.digits, from: from, to: to)
    }

    /// A log scale over whole decades around [lo, hi] (both > 0).
    public static func log(_ lo: Double, _ hi: Double, from: Double = 0, to: Double = 1) -> Scale {
        let t = logTicks(lo, hi)
        return Scale(kind: .log, lower: t.first!, upper: t.last!, ticks: t, digits: 0, from: from, to: to)
    }

    /// Pixel of a data value (values outside the domain map outside the range; log clamps ≤ 0 to the lower end).
    public func callAsFunction(_ x: Double) -> Double {
        let u: Double
        switch kind {
        case .linear: u = (x - lower) / (upper - lower)
        case .log: u = x > 0 ? (log10(x) - log10(lower)) / (log10(upper) - log10(lower)) : 0
        }
        return from + u * (to - from)
    }

    public func label(_ x: Double) -> String {
        switch kind {
        case .linear: return formatNumber(x, digits: digits)
        case .log:
            let e = Int(Foundation.floor(log10(x) + 0.5))
            return e >= -3 && e <= 3 ? formatNumber(x, digits: max(0, -e)) : "1e\(e)"
        }
    }
}

/// A number with `digits` fraction digits ("-0" printed as "0").
public func formatNumber(_ x: Double, digits: Int) -> String {
    let s = String(format: "%.\(max(0, digits))f", x)
    return s == "-0" || s.hasPrefix("-0.") && Double(s) == 0 ? String(s.dropFirst()) : s
}

/// A short label for an arbitrary value: 3 significant digits.
public func shortNumber(_ x: Double) -> String {
    guard x.isFinite else { return x.isNaN ? "NaN" : (x > 0 ? "∞" : "−∞") }
    if x == 0 { return "0" }
    let a = abs(x)
    if a >= 1e5 || a < 1e-3 { return String(format: "%.2e", x) }
    let digits = max(0, 2 - Int(Foundation.floor(log10(a))))
    var s = String(format: "%.\(digits)f", x)
    if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
    return s
}
