import ArgumentParser
import Foundation
import Fusion
import Optimizers
import StudyEngine
import Surrogate
import Testbed

/// Does a surrogate kind tell the truth about the testbed? For each measured testbed landscape
/// and each kind: the real in-memory score at the surrogate's maximizer (overshoot = surrogate
/// max − that), and whether the optimizers' ranking by surrogate result agrees with the ranking
/// by the real score of the points they end on (docs/surrogate.md, "Fidelity against the testbed").
struct SurrogateFidelityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "surrogate-fidelity",
        abstract: "Surrogate kinds against the live testbed: real score at each maximizer, and optimizer rank agreement."
    )

    @Option(help: "Landscapes (default: the log-prob Surrogates/testbed-*.csv).") var landscapes: [String] = []
    @Option(help: "Surrogate kinds, comma-separated.") var kinds: String = "rbf,rbf_loo,gp"
    @Option(help: "Optimizers, comma-separated.") var optimizers: String = OptimizerFactory.kinds.joined(separator: ",")
    @Option(help: "Seeds per optimizer (0..<seeds).") var seeds: Int = 10
    @Option(help: "Budget for two parameters.") var budget2: Int = 40
    @Option(help: "Budget for three parameters.") var budget3: Int = 60
    @Option(help: "Testbed directory (default: found as `mergetune testbed` finds it).") var testbed: String?
    @Option(help: "Write the per-run rows here (CSV).") var runsCSV: String?

    func run() throws {
        let dir = try TestbedFamily.locate(testbed)
        var files = landscapes
        if files.isEmpty {
            let root = URL(fileURLWithPath: "Surrogates")
            files = try FileManager.default.contentsOfDirectory(atPath: root.path)
                .filter { $0.hasPrefix("testbed-") && $0.hasSuffix(".csv") && !$0.contains("exact_match") }
                .sorted().map { root.appendingPathComponent($0).path }
        }
        let kindList = try kinds.split(separator: ",").map { raw -> SurrogateModelKind in
            guard let k = SurrogateModelKind(rawValue: String(raw)) else { throw ValidationError("unknown kind \(raw)") }
            return k
        }
        let optimizerList = optimizers.split(separator: ",").map(String.init)
        var runRows = ["landscape,kind,optimizer,seed,surrogate_best,real_at_best," + "point"]
        var summary: [(kind: SurrogateModelKind, spearman: Double, kendall: Double, overshoot: Double, vsGrid: Double)] = []
        print("landscape,kind,loo_all_rmse,loocv_rmse,surrogate_max,best_grid,frank,real_at_argmax,overshoot,real_minus_best_grid,real_minus_frank,argmax,fit_s")
        var rankLines: [String] = []
        for file in files {
            let landscape = try Landscape.load(URL(fileURLWithPath: file))
            let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            let real = try liveObjective(name: name, landscape: landscape, directory: dir)
            var realCache: [[Double]: Double] = [:]
            func realScore(_ x: [Double]) throws -> Double {
                if let v = realCache[x] { return v }
                let v = try real.evaluate(x); realCache[x] = v; return v
            }
            let frank = landscape.references.first { $0.name == "frank" }?.score ?? .nan
            let bestGrid = landscape.scoreRange.upperBound
            let box = zip(landscape.parameterNames, landscape.bounds).map { Parameter(name: $0, lower: $1.lowerBound, upper: $1.upperBound) }
            let space = try SearchSpace(box)
            let budget = landscape.dimension == 2 ? budget2 : budget3
            for kind in kindList {
                let start = Date()
                let model = try SurrogateModel.fit(landscape, kind: kind)
                let fitSeconds = Date().timeIntervalSince(start)
                let extrema = try findExtrema(bounds: landscape.bounds) { model($0) }
                let atMax = try realScore(extrema.argmax)
                let looAll = try model.leaveOneOutErrors(landscape)
                let looAllRMSE = (looAll.map { $0 * $0 }.reduce(0, +) / Double(looAll.count)).squareRoot()
                let paper = try model.leaveOneOutFidelity(landscape)
                print([name, kind.rawValue, f(looAllRMSE), f(paper.rmse), f(extrema.maximum), f(bestGrid), f(frank), f(atMax),
                       f(extrema.maximum - atMax), f(atMax - bestGrid), f(atMax - frank),
                       extrema.argmax.map(f).joined(separator: " "), String(format: "%.2f", fitSeconds)].map(csvField).joined(separator: ","))
                FileHandle.standardError.write(Data("\(name) \(kind.rawValue): \(model.summary)\n".utf8))
                // Optimizers on this surrogate; each run's final incumbent is scored for real.
                var surrogateMeans: [Double] = [], realMeans: [Double] = [], cells: [String] = []
                for kindName in optimizerList {
                    var sBest: [Double] = [], rBest: [Double] = []
                    for seed in 0..<seeds {
                        let opt = try OptimizerFactory.make(OptimizerConfig(kind: kindName), dimension: landscape.dimension,
                                                            budget: budget, seed: UInt64(seed))
                        var best = -Double.infinity, bestX: [Double] = []
                        for id in 0..<budget {
                            let x = space.fromUnit(try opt.ask())
                            let v = model(x)
                            try opt.tell(id, v)
                            if v > best { best = v; bestX = x }
                        }
                        let r = try realScore(bestX)
                        sBest.append(best); rBest.append(r)
                        runRows.append([name, kind.rawValue, kindName, "\(seed)", f(best), f(r), bestX.map(f).joined(separator: " ")].map(csvField).joined(separator: ","))
                    }
                    surrogateMeans.append(mean(sBest)); realMeans.append(mean(rBest))
                    cells.append("\(kindName) \(f3(mean(sBest)))±\(f3(sd(sBest))) / real \(f3(mean(rBest)))±\(f3(sd(rBest)))")
                }
                let rho = spearman(surrogateMeans, realMeans), tau = kendallTauB(surrogateMeans, realMeans)
                rankLines.append("\(name),\(kind.rawValue),\(f3(rho)),\(f3(tau)),\(cells.joined(separator: "; "))")
                summary.append((kind, rho, tau, extrema.maximum - atMax, atMax - bestGrid))
            }
        }
        print("\nlandscape,kind,spearman,kendall_tau_b,optimizer mean surrogate best±sd / mean real score of the final incumbents±sd (\(seeds) seeds)")
        rankLines.forEach { print($0) }
        print("\nkind,landscapes,mean_spearman,mean_kendall,mean_overshoot,mean_real_minus_best_grid")
        for kind in kindList {
            let rows = summary.filter { $0.kind == kind }
            print([kind.rawValue, "\(rows.count)", f3(mean(rows.map(\.spearman))), f3(mean(rows.map(\.kendall))),
                   f3(mean(rows.map(\.overshoot))), f3(mean(rows.map(\.vsGrid)))].joined(separator: ","))
        }
        if let runsCSV { try (runRows.joined(separator: "\n") + "\n").write(toFile: runsCSV, atomically: true, encoding: .utf8) }
    }

    /// The testbed objective a landscape measured: scenario, method and objective from its name
    /// (testbed-SCENARIO-METHOD[-retention|-exact_match].csv), validation split, DARE seed 0.
    func liveObjective(name: String, landscape: Landscape, directory: URL) throws -> TestbedObjective {
        var parts = name.split(separator: "-").map(String.init)
        guard parts.count >= 3, parts[0] == "testbed", let scenario = Scenario(rawValue: parts[1]),
              let method = MergeMethod(rawValue: parts[2]) else {
            throw ValidationError("\(name): expected testbed-SCENARIO-METHOD[-retention|-exact_match].csv")
        }
        parts.removeFirst(3)
        let goal: TestbedGoal = parts.contains("retention") ? .retention : .target
        let metric: Metric = parts.contains("exact_match") ? .exactMatch : .meanLogprob
        let space = try SearchSpace(zip(landscape.parameterNames, landscape.bounds).map { Parameter(name: $0, lower: $1.lowerBound, upper: $1.upperBound) })
        return try TestbedObjective(name: name, directory: directory, scenario: scenario, method: method, split: .validation,
                                    metric: metric, target: goal, space: space, mergeSeed: 0)
    }
}

private func f(_ x: Double) -> String { "\(x)" }
private func f3(_ x: Double) -> String { String(format: "%.3f", x) }
private func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }
private func sd(_ xs: [Double]) -> Double {
    let m = mean(xs); return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(xs.count - 1, 1))).squareRoot()
}

/// Ranks with ties averaged (1-based).
func averageRanks(_ xs: [Double]) -> [Double] {
    let order = xs.indices.sorted { xs[$0] < xs[$1] }
    var ranks = [Double](repeating: 0, count: xs.count)
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && xs[order[j + 1]] == xs[order[i]] { j += 1 }
        for k in i...j { ranks[order[k]] = Double(i + j) / 2 + 1 }
        i = j + 1
    }
    return ranks
}

/// Spearman's ρ: Pearson correlation of the average ranks (NaN if either side is constant).
func spearman(_ a: [Double], _ b: [Double]) -> Double {
    let ra = averageRanks(a), rb = averageRanks(b)
    let ma = mean(ra), mb = mean(rb)
    var sab = 0.0, saa = 0.0, sbb = 0.0
    for (x, y) in zip(ra, rb) { sab += (x - ma) * (y - mb); saa += (x - ma) * (x - ma); sbb += (y - mb) * (y - mb) }
    return sab / (saa * sbb).squareRoot()
}

/// Kendall's τ-b (ties in either variable corrected).
func kendallTauB(_ a: [Double], _ b: [Double]) -> Double {
    var concordant = 0.0, discordant = 0.0, tiesA = 0.0, tiesB = 0.0
    for i in a.indices { for j in a.indices where j > i {
        let da = a[i] - a[j], db = b[i] - b[j]
        if da == 0 && db == 0 { continue }
        if da == 0 { tiesA += 1; continue }
        if db == 0 { tiesB += 1; continue }
        if (da > 0) == (db > 0) { concordant += 1 } else { discordant += 1 }
    } }
    return (concordant - discordant) / ((concordant + discordant + tiesA) * (concordant + discordant + tiesB)).squareRoot()
}
