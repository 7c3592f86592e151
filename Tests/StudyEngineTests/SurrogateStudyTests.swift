import Foundation
import Testing
import Ledger
import Optimizers
import Surrogate
@testable import StudyEngine

/// The repository root (for the shipped Studies/ and Surrogates/).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

let landscapeCSV = """
    # Synthetic test landscape (not a measurement)
    #@bounds vl_weight=0:2 exp_weight=0:2
    #@reference frank vl_weight=0.93 exp_weight=0.07 score=0.58
    #@reference vlm score=0.41
    vl_weight,exp_weight,score
    0,0,0.46
    0,1,0.55
    0,2,0.50
    1,0,0.66
    1,1,0.70
    1,2,0.52
    2,0,0.60
    2,1,0.57
    2,2,0.40
    """

func surrogateSpec(_ objectiveExtra: String = "", landscape: String = "land.csv") -> String {
    """
    name = "surr"
    seeds = 2
    budget = { 2 = 10 }
    [[optimizers]]
    kind = "random"
    [[objectives]]
    kind = "surrogate"
    landscape = "\(landscape)"
    \(objectiveExtra)
    """
}

@Suite("Surrogate objectives in studies")
struct SurrogateStudyTests {
    @Test func aSurrogateStudyRunsWithExtremaReferencesAndSumToOne() throws {
        let dir = try tempDirectory()
        try landscapeCSV.write(to: dir.appendingPathComponent("land.csv"), atomically: true, encoding: .utf8)
        let s = try spec(surrogateSpec("""
            [[objectives.references]]
            name = "average"
            params = { vl_weight = 0.5, exp_weight = 0.5 }
            """), in: dir)
        #expect(s.objectives[0].name == "land")
        let (ledger, result) = try runStudy(s, ledgerAt: dir.appendingPathComponent("l.sqlite").path)
        #expect(result.studyDone && result.trialsEvaluated == 20)
        let study = try #require(try ledger.study(named: "surr"))
        let o = try ledger.objectives(study: study.id!)[0]
        #expect(o.kind == "surrogate")
        #expect(o.fMax >= 0.70 - 1e-9 && o.fMin <= 0.40 + 1e-9)  // the interpolant passes through the grid
        let refs = try ledger.references(study: study.id!)
        #expect(refs.map(\.method) == ["average", "frank", "vlm"])
        #expect(refs[1].value == 0.58 && refs[2].value == 0.41 && refs[2].params == nil)
        let analysis = try JSONDecoder().decode(SumToOneAnalysis.self, from: Data(try #require(o.analysis).utf8))
        #expect(analysis.weights == ["vl_weight", "exp_weight"])
        #expect(analysis.lineBest <= analysis.bandBest && analysis.bandBest <= analysis.globalBest)
        // Trials evaluate the interpolant: a grid point scores its measured value.
        let objective = try PreparedStudy.prepare(s).objectives[0]
        #expect(abs(try objective.evaluate([1, 1]) - 0.70) < 1e-9)
    }

    @Test func landscapeErrorsNameTheFileAndTheKey() throws {
        let dir = try tempDirectory()
        try landscapeCSV.write(to: dir.appendingPathComponent("land.csv"), atomically: true, encoding: .utf8)
        func error(_ text: String) throws -> SpecError? {
            do { _ = try PreparedStudy.prepare(try spec(text, in: dir)); return nil } catch let e as SpecError { return e }
        }
        let missing = try #require(try error(surrogateSpec(landscape: "absent.csv")))
        #expect(missing.key == "objectives[0].landscape")
        #expect(missing.message.contains("absent.csv"))
        let names = try #require(try error(surrogateSpec("bounds = { vl_weight = [0, 1], density = [0, 1] }")))
        #expect(names.key == "objectives[0].bounds")
        let outside = try #require(try error(surrogateSpec("bounds = { vl_weight = [0, 3], exp_weight = [0, 1] }")))
        #expect(outside.key == "objectives[0].bounds.vl_weight")
        #expect(try error(surrogateSpec("bounds = { vl_weight = [0.5, 1.5], exp_weight = [0, 1] }")) == nil)
    }

    @Test func resumeRefusesALandscapeThatChanged() throws {
        let dir = try tempDirectory()
        let land = dir.appendingPathComponent("land.csv")
        try landscapeCSV.write(to: land, atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("l.sqlite").path
        _ = try runStudy(try spec(surrogateSpec(), in: dir), ledgerAt: path)
        try landscapeCSV.replacingOccurrences(of: "1,1,0.70", with: "1,1,0.90").write(to: land, atomically: true, encoding: .utf8)
        #expect(throws: SpecError.self) { _ = try StudyEngine.resume(name: "surr", ledgerPath: path) }
    }

    @Test func surrogateKindsAreSpecKeysAndTheDefaultsAreStoredAsAbsent() throws {
        let dir = try tempDirectory()
        try landscapeCSV.write(to: dir.appendingPathComponent("land.csv"), atomically: true, encoding: .utf8)
        // Spelling out the defaults is the same study (the stored spec does not change).
        let plain = try spec(surrogateSpec(), in: dir)
        let spelled = try spec(surrogateSpec("surrogate = \"rbf\"\nsmoothing = 0"), in: dir)
        #expect(plain.objectives[0] == spelled.objectives[0])
        #expect(plain.objectives[0].surrogate == nil && plain.objectives[0].smoothing == nil)
        let json = String(decoding: try JSONEncoder().encode(plain.objectives[0]), as: UTF8.self)
        #expect(json.contains("\"kind\":\"surrogate\"") && !json.contains("\"surrogate\":") && !json.contains("\"smoothing\":"))
        // The default objective is the exact interpolant: a grid point scores its measured value.
        let exact = try PreparedStudy.prepare(plain).objectives[0]
        #expect(try exact.evaluate([1, 1]) == 0.70 || abs(try exact.evaluate([1, 1]) - 0.70) < 1e-12)
        // An explicit smoothing no longer passes through the point; rbf_loo and gp are fitted models.
        let smooth = try PreparedStudy.prepare(try spec(surrogateSpec("smoothing = 0.5"), in: dir)).objectives[0]
        #expect(abs(try smooth.evaluate([1, 1]) - 0.70) > 1e-3)
        let landscape = try Surrogate.Landscape.load(dir.appendingPathComponent("land.csv"))
        for kind in ["rbf_loo", "gp"] {
            let s = try spec(surrogateSpec("surrogate = \"\(kind)\""), in: dir)
            #expect(s.objectives[0].surrogate == kind)
            let o = try PreparedStudy.prepare(s).objectives[0]
            let model = try SurrogateModel.fit(landscape, kind: SurrogateModelKind(rawValue: kind)!)
            for x in [[0.3, 1.2], [1.0, 1.0], [2.0, 0.0]] { #expect(try o.evaluate(x) == model(x)) }
        }
        func error(_ extra: String) throws -> SpecError? {
            do { _ = try PreparedStudy.prepare(try spec(surrogateSpec(extra), in: dir)); return nil } catch let e as SpecError { return e }
        }
        let unknown = try #require(try error("surrogate = \"kriging\""))
        #expect(unknown.key == "objectives[0].surrogate" && unknown.message.contains("rbf_loo"))
        let both = try #require(try error("surrogate = \"gp\"\nsmoothing = 0.1"))
        #expect(both.key == "objectives[0].smoothing")
        let negative = try #require(try error("smoothing = -1"))
        #expect(negative.key == "objectives[0].smoothing")
    }

    @Test func aGPSurrogateStudyIsReplayedExactlyOnResume() throws {
        let dir = try tempDirectory()
        try landscapeCSV.write(to: dir.appendingPathComponent("land.csv"), atomically: true, encoding: .utf8)
        let s = try spec(surrogateSpec("surrogate = \"gp\""), in: dir)
        let a = dir.appendingPathComponent("a.sqlite").path, b = dir.appendingPathComponent("b.sqlite").path
        let (la, ra) = try runStudy(s, ledgerAt: a)
        let (lb, _) = try runStudy(s, ledgerAt: b)
        #expect(ra.studyDone && ra.trialsEvaluated == 20)
        let values = { (l: Ledger) in try l.trials(study: try l.study(named: "surr")!.id!).map { $0.value } }
        #expect(try values(la) == values(lb))
        // Resuming a finished study replays it and changes nothing.
        let (_, again) = try StudyEngine.resume(name: "surr", ledgerPath: a)
        #expect(again.studyDone && again.trialsEvaluated == 0)
        #expect(try values(Ledger(path: a, readOnly: true)) == values(lb))
    }

    @Test func theShippedQuickstartSpecIsValid() throws {
        let url = repositoryRoot.appendingPathComponent("Studies/quickstart.toml")
        let prepared = try PreparedStudy.prepare(try StudySpec.load(url))
        #expect(prepared.spec.optimizers.map(\.config.kind) == ["random", "sobol", "gp", "cmaes", "pattern", "powell"])
        #expect(prepared.spec.seeds.count == 10)
        #expect(prepared.objectives.map(\.space.dimension) == [2, 2, 3, 3])
        #expect(prepared.objectives.map { prepared.spec.budget(dimension: $0.space.dimension) } == [40, 40, 60, 60])
        // Measured testbed landscapes, each carrying the closed forms as reference points.
        for (o, objective) in zip(prepared.spec.objectives, prepared.objectives) {
            let text = try String(contentsOf: URL(fileURLWithPath: try #require(o.landscape)), encoding: .utf8)
            #expect(text.hasPrefix("# mergetune testbed grid: "))
            #expect(Set(objective.builtInReferences.map(\.name)).isSuperset(of: ["frank", "metagpt", "nan"]))
        }
    }

    @Test func theFrankVsOptimizersSpecIsValid() throws {
        let url = repositoryRoot.appendingPathComponent("Studies/frank-vs-optimizers.toml")
        let prepared = try PreparedStudy.prepare(try StudySpec.load(url))
        #expect(prepared.spec.optimizers.count == 6 && prepared.spec.seeds.count == 10)
        #expect(prepared.objectives.map(\.kind) == Array(repeating: "surrogate", count: 9) + ["testbed"])
        #expect(prepared.spec.objectives.last?.seeds == [0, 1, 2, 3, 4])
        #expect(prepared.objectives.last?.space.parameters.map(\.upper) == [4, 2])
    }

    /// The GP-surrogate twin: the same optimizers, seeds, budgets and landscapes (parsed, not
    /// prepared: fitting nine GPs in a debug build takes too long for this suite).
    @Test func theGPTwinOfFrankVsOptimizersMatchesItsSurrogateHalf() throws {
        let base = try StudySpec.load(repositoryRoot.appendingPathComponent("Studies/frank-vs-optimizers.toml"))
        let gp = try StudySpec.load(repositoryRoot.appendingPathComponent("Studies/frank-vs-optimizers-gp.toml"))
        #expect(gp.optimizers == base.optimizers && gp.seeds == base.seeds && gp.budgets == base.budgets)
        let surrogates = base.objectives.filter { $0.kind == "surrogate" }
        #expect(gp.objectives.map(\.landscape) == surrogates.map(\.landscape))
        #expect(gp.objectives.allSatisfy { $0.surrogate == "gp" } && surrogates.allSatisfy { $0.surrogate == nil })
    }
}
