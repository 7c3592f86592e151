import Foundation
import Testing
@testable import Surrogate

private func strictError(_ text: String, parameters: [String]? = nil) -> LandscapeError? {
    do { _ = try Landscape.parse(Data(text.utf8), source: "land.csv", parameters: parameters); Issue.record("accepted:\n\(text)"); return nil }
    catch let error as LandscapeError { return error } catch { Issue.record("unexpected error \(error)"); return nil }
}

private func pointsError(_ text: String) -> LandscapeError? {
    do { _ = try PointsFile.parse(Data(text.utf8), source: "q.csv", parameterNames: ["a", "b"]); Issue.record("accepted:\n\(text)"); return nil }
    catch let error as LandscapeError { return error } catch { Issue.record("unexpected error \(error)"); return nil }
}

/// Item 1: only decimal numbers are numbers, wherever a landscape file or points file has one.
@Suite struct DecimalOnlyInput {
    @Test func hexFloatsAndNonFiniteSpellingsAreErrorsNamingLineAndColumn() {
        // (text, line, column, phrase)
        let cases: [(String, Int, Int?, String)] = [
            ("x,y,score\n0,0,1\n0x1.8p-1,0,2\n1,1,3\n", 3, 1, "`0x1.8p-1` is not a decimal number"),
            ("x,y,score\n0,0,0x1p-2\n1,0,2\n", 2, 3, "hexadecimal"),
            ("x,y,score\n0,0,NaN\n1,0,2\n", 2, 3, "`NaN` is not a finite number"),
            ("x,y,score\n0,Infinity,1\n1,0,2\n", 2, 2, "`Infinity` is not a finite number"),
            ("x,y,score\n0,0,1e999\n1,0,2\n", 2, 3, "out of the range"),
            ("#@bounds x=0:0x1p1\nx,y,score\n0,0,1\n", 1, 10, "hexadecimal floats are not accepted"),
            ("#@bounds x=-inf:1\nx,y,score\n0,0,1\n", 1, 10, "not a finite number"),
            ("#@reference f x=0x1p-1 y=0 score=1\nx,y,score\n0,0,1\n", 1, 15, "hexadecimal"),
            ("#@reference f score=nan\nx,y,score\n0,0,1\n", 1, 15, "not a finite number"),
        ]
        for (text, line, column, phrase) in cases {
            guard let e = strictError(text) else { continue }
            #expect(e.file == "land.csv" && e.line == line && e.column == column, "\(text): \(e)")
            #expect(e.description.contains(phrase), "\(text): \(e)")
        }
        let p = pointsError("b,a\n0,0x1p-1\n")
        #expect(p?.line == 2 && p?.column == 2 && p?.columnName == "a", "\(String(describing: p))")
        #expect(p?.description.contains("hexadecimal") == true)
        #expect(pointsError("a,b\n0,inf\n")?.description.contains("q.csv, line 2, column 2 (b): `inf` is not a finite number") == true)
    }

    @Test func surroundingWhitespaceIsFine() throws {
        let l = try Landscape.parse(Data("x , y,score\n 0 ,\t0.5, 1e-1 \n1,\" 2 \",2\n0.5,0,3\n".utf8), source: "land.csv")
        #expect(l.parameterNames == ["x", "y"])
        #expect(l.points == [[0, 0.5], [1, 2], [0.5, 0]])
        #expect(l.scores == [0.1, 2, 3])
    }
}

/// Item 2: named parameters, ignored columns, quoted fields.
@Suite struct NamedParameters {
    /// What pandas' `to_csv` writes for a frame with a run id and free-text notes: an unnamed
    /// index first, quotes around notes with commas (and one with a line break and a quote).
    static let pandas = """
    #@params vl_weight exp_weight
    ,run_id,vl_weight,exp_weight,score,notes
    0,r-17,0.0,0.0,0.30,"baseline, no merge"
    1,r-18,0.0,1.0,0.35,
    2,r-19,1.0,0.0,0.40,"odd: ""spiky"", rerun"
    3,r-20,1.0,1.0,0.45,"two
    lines"
    4,r-21,0.5,0.5,0.41,ok
    """

    @Test func paramsLineNamesTheParametersAndOtherColumnsAreIgnored() throws {
        let l = try Landscape.parse(Data(Self.pandas.utf8), source: "land.csv")
        #expect(l.parameterNames == ["vl_weight", "exp_weight"])
        #expect(l.points == [[0, 0], [0, 1], [1, 0], [1, 1], [0.5, 0.5]])
        #expect(l.scores == [0.30, 0.35, 0.40, 0.45, 0.41])
        #expect(l.ignoredColumns == [IgnoredColumn(name: "", column: 1), IgnoredColumn(name: "run_id", column: 2),
                                     IgnoredColumn(name: "notes", column: 6)])
        #expect(l.ignoredNote == "land.csv: ignored columns column 1 (unnamed), `run_id` (column 2), `notes` (column 6) (not among the parameters vl_weight, exp_weight)")
        // The multi-line record counts its lines: the row after it is line 8.
        let e = strictError(Self.pandas.replacingOccurrences(of: "4,r-21,0.5,0.5,0.41", with: "4,r-21,0.5,zz,0.41"))
        #expect(e?.line == 8 && e?.column == 4 && e?.columnName == "exp_weight", "\(String(describing: e))")
    }

    @Test func parametersArgumentNamesThemInItsOrder() throws {
        let text = Self.pandas.split(separator: "\n", maxSplits: 1)[1]  // without the #@params line
        let l = try Landscape.parse(Data(text.utf8), source: "land.csv", parameters: ["exp_weight", "vl_weight"])
        #expect(l.parameterNames == ["exp_weight", "vl_weight"])
        #expect(l.points == [[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]])
        #expect(l.ignoredColumns.map(\.name) == ["", "run_id", "notes"])
        // The caller's list and the file's #@params must agree.
        let clash = strictError(Self.pandas, parameters: ["vl_weight"])
        #expect(clash?.line == 1 && clash?.description.contains("differ from the parameters asked for") == true, "\(String(describing: clash))")
    }

    @Test func withoutNamesUnclearColumnsAreAnErrorSayingHowToNameThem() {
        let text = Self.pandas.split(separator: "\n", maxSplits: 1)[1]
        let e = strictError(String(text))
        #expect(e?.file == "land.csv" && e?.line == 1 && e?.column == 1, "\(String(describing: e))")
        let message = e?.description ?? ""
        for phrase in ["columns not understood as parameters", "column 1 (empty column name", "column 2 `run_id`",
                       "column 6 `notes` (text such as `baseline, no merge`)",
                       "`#@params vl_weight exp_weight`", "`--params vl_weight,exp_weight`"] {
            #expect(message.contains(phrase), "\(phrase): \(message)")
        }
        // A numbered column named like a parameter but counting the rows, and pandas' "Unnamed: 0".
        let step = strictError("step,x,y,score\n0,0,0,1\n1,0,1,2\n2,1,0,3\n")
        #expect(step?.column == 1 && step?.description.contains("counts the rows") == true, "\(String(describing: step))")
        let unnamed = strictError("Unnamed: 0,x,score\n0,0,1\n1,1,2\n")
        #expect(unnamed?.columnName == "Unnamed: 0" && unnamed?.description.contains("pandas index") == true)
        // Today's files, with only parameters and score, need no names.
        #expect((try? Landscape.parse(Data("x,y,score\n0,0,1\n1,0,2\n0,1,3\n".utf8), source: "land.csv"))?.ignoredColumns == [])
    }

    @Test func aStudyParameterMissingFromTheFileNamesFileLineAndColumn() {
        // A three-parameter study on a two-parameter grid.
        let e = strictError("vl_weight,exp_weight,score\n0,0,1\n1,0,2\n0,1,3\n", parameters: ["vl_weight", "exp_weight", "density"])
        #expect(e?.file == "land.csv" && e?.line == 1, "\(String(describing: e))")
        #expect(e?.description.hasPrefix("land.csv, line 1: the parameter `density` has no column") == true, "\(String(describing: e))")
        #expect(e?.description.contains("the header has vl_weight, exp_weight, score") == true)
        // A near miss points at the misspelt column.
        let typo = strictError("vl_weight,exp_wieght,score\n0,0,1\n", parameters: ["vl_weight", "exp_weight"])
        #expect(typo?.column == 2 && typo?.description.contains("misspelling of `exp_weight`") == true, "\(String(describing: typo))")
    }

    @Test func paramsLineErrors() {
        let cases: [(String, Int, Int?, String)] = [
            ("#@params x zeta\nx,y,score\n0,0,1\n", 1, 12, "the parameter `zeta` named by #@params on line 1 has no column"),
            ("#@params x\n#@params y\nx,y,score\n0,0,1\n", 2, 1, "second #@params"),
            ("#@params x score\nx,y,score\n0,0,1\n", 1, 12, "not a parameter"),
            ("#@params x x\nx,y,score\n0,0,1\n", 1, 12, "named twice"),
            ("#@params\nx,y,score\n0,0,1\n", 1, nil, "names no parameter"),
            ("#@params x\nx,x,score\n0,0,1\n", 2, 2, "repeats column 1"),
        ]
        for (text, line, column, phrase) in cases {
            guard let e = strictError(text) else { continue }
            #expect(e.line == line && e.column == column, "\(text): \(e)")
            #expect(e.description.contains(phrase), "\(text): \(e)")
        }
    }

    @Test func quotingErrors() {
        let open = strictError("x,y,score\n0,0,1\n1,\"0,2\n")
        #expect(open?.line == 3 && open?.description.contains("never closed") == true, "\(String(describing: open))")
        let after = strictError("x,y,score\n0,\"0\"1,1\n")
        #expect(after?.line == 2 && after?.column == 2 && after?.description.contains("after a closing quote") == true)
        // An unquoted comma in a note is still one cell too many, and the error says how to quote.
        let extra = strictError("#@params x\nx,score,notes\n0,1,a, b\n")
        #expect(extra?.column == 4 && extra?.description.contains("quote a field") == true, "\(String(describing: extra))")
    }

    @Test func pointsFilesKeepQuotedCells() throws {
        let p = try PointsFile.parse(Data("b,label,a\n1,\"near, but not on\",2\n".utf8), source: "q.csv", parameterNames: ["a", "b"])
        #expect(p.points == [[2, 1]])
        #expect(p.cells == [["1", "near, but not on", "2"]])
        #expect(p.cells[0].map(csvField) == ["1", "\"near, but not on\"", "2"])
        #expect(csvField("say \"hi\"") == "\"say \"\"hi\"\"\"")
    }
}

/// Item 3: every landscape shipped in Surrogates/ still loads, with all its columns as parameters.
@Suite struct ShippedLandscapes {
    @Test func everySurrogatesFileLoadsUnchanged() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("Surrogates")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".csv") }.sorted()
        #expect(files.count >= 12)
        for name in files {
            let url = dir.appendingPathComponent(name)
            let l = try Landscape.load(url)
            let text = try String(contentsOf: url, encoding: .utf8)
            let header = try #require(text.split(separator: "\n").first { !$0.hasPrefix("#") })
            #expect(l.parameterNames + ["score"] == header.split(separator: ",").map(String.init), "\(name)")
            #expect(l.ignoredColumns.isEmpty && l.points.count >= 25, "\(name)")
            // Naming the parameters explicitly reads the same landscape.
            let named = try Landscape.load(url, parameters: l.parameterNames)
            #expect(named.points == l.points && named.scores == l.scores && named.bounds == l.bounds, "\(name)")
        }
    }
}
