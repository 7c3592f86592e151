import Foundation
import Testing

/// Landscapes above 2,000 points interpolate locally (docs/surrogate.md, "Large landscapes").
@Suite struct LandscapeCLINeighbors {
    /// 2,500 scattered points (a deterministic quasi-random sequence) of a smooth 2-D score.
    static func large(in dir: URL) throws {
        var text = "#@bounds vl_weight=0:2 exp_weight=0:2\nvl_weight,exp_weight,score\n"
        for i in 1...2500 {
            let v = 2 * (Double(i) * 0.754877666246693).truncatingRemainder(dividingBy: 1)
            let e = 2 * (Double(i) * 0.569840290998053).truncatingRemainder(dividingBy: 1)
            text += "\(v),\(e),\(0.5 + 0.25 * exp(-((v - 1.1) * (v - 1.1) + (e - 0.6) * (e - 0.6))))\n"
        }
        try Data(text.utf8).write(to: dir.appendingPathComponent("large.csv"))
    }

    @Test func largeLandscapesSayTheyInterpolateLocallyAndNeighborsIsAnOption() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.large(in: dir)
        let fast = ["--samples", "64", "--repeats", "3"]
        let table = try MergeTuneBinary.run(["landscape", "fit", "large.csv"] + fast, in: dir)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("local interpolation on the 64 nearest points (of 2500"), "\(table.stdout)")
        struct Report: Decodable {
            struct Extrema: Decodable { let maximum: Double }
            struct LOOCV: Decodable { let rmse: Double }
            let neighbors: Int?; let note: String?; let extrema: Extrema; let loocv: LOOCV
        }
        let json = try MergeTuneBinary.run(["landscape", "fit", "large.csv", "--format", "json", "--neighbors", "30"] + fast, in: dir)
        #expect(json.status == 0, "\(json.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(json.stdout.utf8))
        #expect(report.neighbors == 30 && report.note?.contains("30 nearest") == true)
        // The true maximum is 0.75 at (1.1, 0.6); a dense sample interpolates it closely.
        #expect(abs(report.extrema.maximum - 0.75) < 2e-3, "\(report.extrema.maximum)")
        #expect(report.loocv.rmse < 1e-3)
        // A small landscape stays dense and says nothing.
        let small = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--format", "json"], in: dir)
        #expect(small.status == 0 && !small.stdout.contains("\"note\"") && !small.stdout.contains("\"neighbors\""))
        let predict = try MergeTuneBinary.run(["landscape", "predict", "large.csv", "--at", "q.csv", "--neighbors", "16"], in: dir)
        #expect(predict.status == 0 && predict.stderr.contains("local interpolation on the 16 nearest points"), "\(predict.stderr)")
        for bad in ["0", "-3", "some"] {
            let r = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--neighbors", bad], in: dir)
            #expect(r.status == 2, "--neighbors \(bad): \(r.stderr)")
        }
    }
}
