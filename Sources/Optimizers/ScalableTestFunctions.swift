import Foundation

// Test functions defined for any dimension d, named `<function>_<d>` (e.g. `levy_16`): how the
// optimizers behave at 8–20 dimensions (per-layer merge spaces). Definitions, domains and minima
// as Surjanovic & Bingham's Virtual Library of Simulation Experiments states them.
extension TestFunction {
    public static let scalableNames = ["rosenbrock", "ackley", "levy"]

    /// `rosenbrock_8`, `ackley_16`, `levy_20`, ... (d from 2 to 64), or nil.
    public static func scalable(_ name: String) -> TestFunction? {
        guard let cut = name.lastIndex(of: "_"), let d = Int(name[name.index(after: cut)...]), (2...64).contains(d) else { return nil }
        switch String(name[..<cut]) {
        case "rosenbrock": return rosenbrock(dimension: d)
        case "ackley": return ackley(dimension: d)
        case "levy": return levy(dimension: d)
        default: return nil
        }
    }

    static func box(_ d: Int, _ lo: Double, _ hi: Double) -> SearchSpace {
        try! SearchSpace((1...d).map { Parameter(name: "x\($0)", lower: lo, upper: hi) })
    }

    /// Σ_{i<d} 100(x_{i+1} − x_i²)² + (x_i − 1)² on [−5, 10]^d; minimum 0 at (1, …, 1).
    public static func rosenbrock(dimension d: Int) -> TestFunction {
        TestFunction(name: "rosenbrock_\(d)", space: box(d, -5, 10), knownMinimum: 0,
                     knownMinimizers: [Array(repeating: 1, count: d)]) { x in
            var s = 0.0
            for i in 0..<(x.count - 1) {
                let a = x[i + 1] - x[i] * x[i], b = x[i] - 1
                s += 100 * a * a + b * b
            }
            return s
        }
    }

    /// −20·exp(−0.2·√(Σx²/d)) − exp(Σcos(2πx)/d) + 20 + e on [−32.768, 32.768]^d; minimum 0 at 0.
    public static func ackley(dimension d: Int) -> TestFunction {
        TestFunction(name: "ackley_\(d)", space: box(d, -32.768, 32.768), knownMinimum: 0,
                     knownMinimizers: [Array(repeating: 0, count: d)]) { x in
            let n = Double(x.count)
            let sq = x.reduce(0) { $0 + $1 * $1 }, cs = x.reduce(0) { $0 + cos(2 * Double.pi * $1) }
            return -20 * exp(-0.2 * (sq / n).squareRoot()) - exp(cs / n) + 20 + exp(1.0)
        }
    }

    /// Levy with w_i = 1 + (x_i − 1)/4 on [−10, 10]^d; minimum 0 at (1, …, 1).
    public static func levy(dimension d: Int) -> TestFunction {
        TestFunction(name: "levy_\(d)", space: box(d, -10, 10), knownMinimum: 0,
                     knownMinimizers: [Array(repeating: 1, count: d)]) { x in
            let w = x.map { 1 + ($0 - 1) / 4 }
            func sin2(_ t: Double) -> Double { let s = sin(t); return s * s }
            var s = sin2(Double.pi * w[0])
            for i in 0..<(w.count - 1) {
                s += (w[i] - 1) * (w[i] - 1) * (1 + 10 * sin2(Double.pi * w[i] + 1))
            }
            let last = w[w.count - 1] - 1
            return s + last * last * (1 + sin2(2 * Double.pi * w[w.count - 1]))
        }
    }
}
