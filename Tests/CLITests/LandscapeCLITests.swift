import Foundation
import Testing

/// A scratch directory holding a 5x5 landscape `ta.csv` (the same synthetic grid as the
/// Surrogate fixtures) and a points file `q.csv`.
func landscapeScratch() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mergetune-landscape-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var text = "# synthetic\r\n#@bounds vl_weight=0:2 exp_weight=0:2\r\n#@reference frank vl_weight=0.93 exp_weight=0.07 score=0.58\r\nvl_weight,exp_weight,score\r\n"
    for i in 0..<5 { for j in 0..<5 {
        let v = Double(i) * 0.5, e = Double(j) * 0.5
        let s = 0.5 + 0.25 * exp(-((v - 1.1) * (v - 1.1) + (e - 0.6) * (e - 0.6))) - 0.04 * (v + e - 1.5) * (v + e - 1.5)
        text += "\(v),\(e),\(s)\r\n"
    } }
    try Data(("\u{FEFF}" + text).utf8).write(to: dir.appendingPathComponent("ta.csv"))
    try Data("exp_weight,vl_weight,note\n0.5,1.0,grid\n0.25,0.75,between\n".utf8).write(to: dir.appendingPathComponent("q.csv"))
    return dir
}

@Suite struct LandscapeCLI {
    @Test func fitPrintsExtremaAndLeaveOneOut() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try MergeTuneBinary.run(["landscape", "fit", "ta.csv"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("points      25 (9 interior)"))
        #expect(r.stdout.contains("thin_plate_spline, epsilon 1, smoothing 0, degree 1"))
        #expect(r.stdout.contains("LOOCV       RMSE"))
        #expect(r.stdout.contains("reference   frank 0.58"))
    }

    @Test func fitTakesASurrogateKindAndPrintsItsOvershoot() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        struct Report: Decodable {
            struct Extrema: Decodable { let maximum: Double }
            let surrogate: String; let extrema: Extrema; let bestMeasured: Double; let overshoot: Double; let looAllRMSE: Double?
        }
        var maxima: [String: Double] = [:]
        for kind in ["rbf", "rbf_loo", "gp"] {
            let r = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--surrogate", kind, "--format", "json"], in: dir)
            #expect(r.status == 0, "\(r.stderr)")
            let json = try JSONDecoder().decode(Report.self, from: Data(r.stdout.utf8))
            #expect(json.surrogate == kind)
            #expect(json.overshoot == json.extrema.maximum - json.bestMeasured)
            #expect(json.looAllRMSE.map { $0 > 0 && $0 < 1 } == true)
            maxima[kind] = json.extrema.maximum
        }
        #expect(maxima["gp"] != maxima["rbf"])
        let table = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--surrogate", "gp"], in: dir)
        #expect(table.stdout.contains("surrogate   gp: Matérn-5/2 posterior mean"))
        #expect(table.stdout.contains("overshoot   "))
        let bad = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--surrogate", "gp", "--smoothing", "0.1"], in: dir)
        #expect(bad.status == 2 && bad.stderr.contains("--smoothing is for --surrogate rbf"))
    }

    @Test func fitJSONAgreesWithCSVAndIsDeterministic() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--format", "json", "--seed", "3"], in: dir)
        let b = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--format", "json", "--seed", "3"], in: dir)
        #expect(a.status == 0 && a.stdout == b.stdout)
        // JSONDecoder, not JSONSerialization: the latter rounds the last digit on Linux.
        struct Report: Decodable {
            struct Extrema: Decodable { let maximum: Double }
            struct LOOCV: Decodable { let errors: [Double]; let rmse: Double }
            let points: Int; let extrema: Extrema; let loocv: LOOCV
        }
        let json = try JSONDecoder().decode(Report.self, from: Data(a.stdout.utf8))
        #expect(json.points == 25)
        #expect(json.loocv.errors.count == 20)
        let maximum = json.extrema.maximum
        #expect(maximum >= 0.74 && maximum < 0.76)
        let csv = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--format", "csv", "--seed", "3"], in: dir)
        let lines = csv.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines.count == 2)
        let row = Dictionary(uniqueKeysWithValues: zip(lines[0], lines[1]))
        #expect(Double(row["surrogate_max"] ?? "") == maximum)
        #expect(Double(row["loocv_rmse"] ?? "") == json.loocv.rmse)
    }

    @Test func predictAppendsAPredictionColumn() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try MergeTuneBinary.run(["landscape", "predict", "ta.csv", "--at", "q.csv"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first == "exp_weight,vl_weight,note,prediction")
        #expect(lines.count == 3)
        // (vl 1.0, exp 0.5) is a measured grid point: the interpolant reproduces it.
        let measured = 0.5 + 0.25 * exp(-(0.01 + 0.01)) - 0.04 * 0.0
        let value = try #require(Double(lines[1].split(separator: ",")[3]))
        #expect(abs(value - measured) < 1e-12)
        #expect(lines[1].hasPrefix("0.5,1.0,grid,"))
    }

    @Test func exportWritesAGridThatLoadsBackAsALandscape() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try MergeTuneBinary.run(["landscape", "export", "ta.csv", "--resolution", "11", "-o", "grid.csv"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOf: dir.appendingPathComponent("grid.csv"), encoding: .utf8)
        let rows = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(rows.first == "vl_weight,exp_weight,score")
        #expect(rows.count == 1 + 121)
        #expect(rows[1].hasPrefix("0.0,0.0,") && rows[121].hasPrefix("2.0,2.0,"))
        // The grid is itself a valid landscape (fit reads it).
        let again = try MergeTuneBinary.run(["landscape", "fit", "grid.csv", "--samples", "64"], in: dir)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("points      121 (81 interior)"))
    }

    @Test func badInputExitsOneAndNamesFileLineColumn() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("vl_weight,exp_weight,score\n0,0,0.5\n0,1,oops\n".utf8).write(to: dir.appendingPathComponent("bad.csv"))
        let r = try MergeTuneBinary.run(["landscape", "fit", "bad.csv"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad.csv, line 3, column 3 (score): `oops` is not a number"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        try Data("vl_wieght,exp_weight\n1,2\n".utf8).write(to: dir.appendingPathComponent("badq.csv"))
        let p = try MergeTuneBinary.run(["landscape", "predict", "ta.csv", "--at", "badq.csv"], in: dir)
        #expect(p.status == 1)
        #expect(p.stderr.contains("badq.csv, line 1, column 1 (vl_wieght)"), "\(p.stderr)")
        let missing = try MergeTuneBinary.run(["landscape", "fit", "absent.csv"], in: dir)
        #expect(missing.status == 1 && missing.stderr.contains("absent.csv"))
        // Two points cannot carry a thin-plate spline's linear tail.
        try Data("a,b,score\n0,0,1\n1,1,2\n".utf8).write(to: dir.appendingPathComponent("two.csv"))
        let two = try MergeTuneBinary.run(["landscape", "fit", "two.csv"], in: dir)
        #expect(two.status == 1 && two.stderr.contains("two.csv") && two.stderr.contains("at least 3 data points"), "\(two.stderr)")
    }

    @Test func usageErrorsExitTwo() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        for args in [["landscape", "fit", "ta.csv", "--kernel", "gaussian"],
                     ["landscape", "fit", "ta.csv", "--kernel", "spline"],
                     ["landscape", "fit", "ta.csv", "--smoothing", "-1"],
                     ["landscape", "export", "ta.csv", "--resolution", "1", "-o", "g.csv"],
                     ["landscape", "predict", "ta.csv"]] {
            let r = try MergeTuneBinary.run(args, in: dir)
            #expect(r.status == 2, "\(args): \(r.stderr)")
        }
        let ok = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--kernel", "gaussian", "--epsilon", "1.5", "--format", "csv"], in: dir)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains(",gaussian,1.5,0.0,0,"))
    }
}

/// Spreadsheet and pandas exports: named parameters, ignored columns, quoted cells, strict numbers.
@Suite struct LandscapeCLIExports {
    /// ta.csv's grid with an unnamed index, a run id and notes (some with commas).
    static func exported(in dir: URL) throws {
        var text = ",run_id,vl_weight,exp_weight,score,notes\n"
        for i in 0..<5 { for j in 0..<5 {
            let v = Double(i) * 0.5, e = Double(j) * 0.5
            text += "\(i * 5 + j),r\(i * 5 + j),\(v),\(e),\(0.5 - 0.1 * (v - 1) * (v - 1) - 0.05 * (e - 0.5) * (e - 0.5)),\"seed 0, batch \(i)\"\n"
        } }
        try Data(text.utf8).write(to: dir.appendingPathComponent("export.csv"))
    }

    @Test func paramsOptionNamesTheParametersAndOtherColumnsAreNoted() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.exported(in: dir)
        let bare = try MergeTuneBinary.run(["landscape", "fit", "export.csv"], in: dir)
        #expect(bare.status == 1)
        #expect(bare.stderr.contains("export.csv, line 1, column 1: columns not understood as parameters"), "\(bare.stderr)")
        #expect(bare.stderr.contains("`--params vl_weight,exp_weight`"), "\(bare.stderr)")
        let r = try MergeTuneBinary.run(["landscape", "fit", "export.csv", "--params", "vl_weight,exp_weight", "--samples", "64"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("points      25 (9 interior)"), "\(r.stdout)")
        #expect(r.stdout.contains("ignored     column 1 (unnamed), `run_id` (column 2), `notes` (column 6)"), "\(r.stdout)")
        #expect(r.stderr.hasPrefix("note: ") && r.stderr.contains("export.csv: ignored columns column 1 (unnamed), `run_id` (column 2), `notes` (column 6)"), "\(r.stderr)")
        // Two parameters, in the order given: the extrema name exactly these.
        #expect(r.stdout.contains(" at vl_weight=") && !r.stdout.contains("run_id="), "\(r.stdout)")
        let swapped = try MergeTuneBinary.run(["landscape", "fit", "export.csv", "--params", "exp_weight,vl_weight", "--samples", "64"], in: dir)
        #expect(swapped.status == 0 && swapped.stdout.contains(" at exp_weight="), "\(swapped.stdout)")
        let missing = try MergeTuneBinary.run(["landscape", "fit", "export.csv", "--params", "vl_weight,exp_weight,density"], in: dir)
        #expect(missing.status == 1 && missing.stderr.contains("export.csv, line 1: the parameter `density` has no column"), "\(missing.stderr)")
    }

    @Test func predictRequotesCellsWithCommas() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("vl_weight,exp_weight,note\n1.0,0.5,\"on the grid, measured\"\n".utf8).write(to: dir.appendingPathComponent("qq.csv"))
        let r = try MergeTuneBinary.run(["landscape", "predict", "ta.csv", "--at", "qq.csv"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[1].hasPrefix("1.0,0.5,\"on the grid, measured\","), "\(r.stdout)")
    }

    @Test func hexAndNonFiniteNumbersAreRejected() throws {
        let dir = try landscapeScratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("vl_weight,exp_weight\n0x1p-1,0.5\n".utf8).write(to: dir.appendingPathComponent("hex.csv"))
        let p = try MergeTuneBinary.run(["landscape", "predict", "ta.csv", "--at", "hex.csv"], in: dir)
        #expect(p.status == 1)
        #expect(p.stderr.contains("hex.csv, line 2, column 1 (vl_weight): `0x1p-1` is not a decimal number"), "\(p.stderr)")
        try Data("a,b,score\n0,0,1\n1,0,inf\n0,1,2\n".utf8).write(to: dir.appendingPathComponent("inf.csv"))
        let f = try MergeTuneBinary.run(["landscape", "fit", "inf.csv"], in: dir)
        #expect(f.status == 1 && f.stderr.contains("inf.csv, line 3, column 3 (score): `inf` is not a finite number"), "\(f.stderr)")
        let eps = try MergeTuneBinary.run(["landscape", "fit", "ta.csv", "--kernel", "gaussian", "--epsilon", "0x1p0"], in: dir)
        #expect(eps.status == 2, "\(eps.stderr)")
        // The testbed's grid ranges, the other user numbers read from text on the command line.
        let range = try MergeTuneBinary.run(["testbed", "grid", "--scenario", "language", "--vl-range", "0x0:0x2", "-o", "g.csv"], in: dir)
        #expect(range.status == 2 && range.stderr.contains("range must read LO:HI with decimal numbers"), "\(range.stderr)")
    }
}
