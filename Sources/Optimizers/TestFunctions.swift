import Foundation

/// Standard global-optimization test functions, written as the literature states them (to be
/// *minimized*), with their published minima. Studies maximize scores, so an analytic
/// objective scores a point as −f(x). Definitions and constants: Surjanovic & Bingham,
/// "Virtual Library of Simulation Experiments" (sfu.ca/~ssurjano), and Dixon & Szegő (1978).
public struct TestFunction: Sendable {
    public let name: String
    public let space: SearchSpace
    /// The published global minimum value.
    public let knownMinimum: Double
    /// The published global minimizers (in parameter coordinates).
    public let knownMinimizers: [[Double]]
    private let f: @Sendable ([Double]) -> Double

    public init(name: String, space: SearchSpace, knownMinimum: Double, knownMinimizers: [[Double]],
                _ f: @escaping @Sendable ([Double]) -> Double) {
        self.name = name; self.space = space; self.knownMinimum = knownMinimum
        self.knownMinimizers = knownMinimizers; self.f = f
    }

    /// f(x), x in parameter coordinates.
    public func callAsFunction(_ x: [Double]) -> Double { f(x) }

    public static let all: [TestFunction] = [branin, sixHumpCamel, hartmann3]

    public static func named(_ name: String) -> TestFunction? { all.first { $0.name == name } ?? scalable(name) }

    /// Branin–Hoo on [−5, 10] × [0, 15]; three global minima of 0.397887.
    public static let branin = TestFunction(
        name: "branin",
        space: try! SearchSpace([Parameter(name: "x1", lower: -5, upper: 10), Parameter(name: "x2", lower: 0, upper: 15)]),
        knownMinimum: 0.397887357729738,
        knownMinimizers: [[-Double.pi, 12.275], [Double.pi, 2.275], [9.42477796076938, 2.475]]
    ) { x in
        let b = 5.1 / (4 * Double.pi * Double.pi), c = 5 / Double.pi, t = 1 / (8 * Double.pi)
        let u = x[1] - b * x[0] * x[0] + c * x[0] - 6
        return u * u + 10 * (1 - t) * cos(x[0]) + 10
    }

    /// Six-hump camel on [−3, 3] × [−2, 2]; two global minima of −1.0316284535.
    public static let sixHumpCamel = TestFunction(
        name: "six_hump_camel",
        space: try! SearchSpace([Parameter(name: "x1", lower: -3, upper: 3), Parameter(name: "x2", lower: -2, upper: 2)]),
        knownMinimum: -1.031628453489877,
        knownMinimizers: [[0.0898420131003180, -0.712656403020720], [-0.0898420131003180, 0.712656403020720]]
    ) { x in
        let x1 = x[0], x2 = x[1]
        return (4 - 2.1 * x1 * x1 + x1 * x1 * x1 * x1 / 3) * x1 * x1 + x1 * x2 + (-4 + 4 * x2 * x2) * x2 * x2
    }

    /// Hartmann 3-D on [0, 1]^3; global minimum −3.86278 at (0.114614, 0.555649, 0.852547).
    public static let hartmann3 = TestFunction(
        name: "hartmann3",
        space: try! SearchSpace((1...3).map { Parameter(name: "x\($0)", lower: 0, upper: 1) }),
        knownMinimum: -3.86278214782076,
        knownMinimizers: [[0.114614, 0.555649, 0.852547]]
    ) { x in
        let alpha = [1.0, 1.2, 3.0, 3.2]
        let a: [[Double]] = [[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]]
        let p: [[Double]] = [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
        var sum = 0.0
        for i in 0..<4 {
            var inner = 0.0
            for j in 0..<3 { let d = x[j] - p[i][j] * 1e-4; inner += a[i][j] * d * d }
            sum += alpha[i] * exp(-inner)
        }
        return -sum
    }
}
