import Foundation
import Testing
@testable import StudyEngine

/// The params / extras / unit JSON the ledger stores (LedgerJSON.swift) and the commands'
/// `--format json` encoder.
@Suite struct LedgerJSONTests {
    /// New trials get the bytes every earlier version wrote for finite values (`1.0`, not `1`),
    /// in the space's order, not sorted.
    @Test func finiteValuesKeepTheStoredFormat() {
        #expect(jsonObject(names: ["z", "a"], values: [1.0, 0.1]) == #"{"z":1.0,"a":0.1}"#)
        #expect(jsonObject(names: ["x"], values: [1e-05]) == #"{"x":1e-05}"#)
        #expect(jsonArray([0.5, 1.0, 0]) == "[0.5,1.0,0.0]")
        #expect(jsonObject(names: [], values: []) == "{}")
    }

    @Test func doublesAndKeysRoundTripInOrder() throws {
        var rng = SystemRandomNumberGenerator()
        var values: [Double] = [0.1, -0.0, 1e308, -1e-308, 5e-324, .pi, 1 / 3, 0.30000000000000004, 1e16, 2.5e-7]
        while values.count < 2000 {
            let x = Double(bitPattern: rng.next())
            if x.isFinite { values.append(x) }
        }
        let names = values.indices.map { i in ["p\(i)", "a \"quoted\" \\ name \(i)", "tab\t\(i)", "λ_\(i)", "ctl\u{1}\(i)"][i % 5] }
        let text = jsonObject(names: names, values: values)
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
        let back = parseParamPairs(text)
        #expect(back.map(\.0) == names)
        for ((_, got), x) in zip(back, values) { #expect(got.bitPattern == x.bitPattern, "\(x) read back as \(got)") }
        let unit = values.map { abs($0).truncatingRemainder(dividingBy: 1) }
        #expect(try #require(parseJSONArray(jsonArray(unit))).map(\.bitPattern) == unit.map(\.bitPattern))
    }

    /// JSON has no NaN: a non-finite number is written as null (strict JSON) and reads as NaN.
    @Test func nonFiniteIsNull() throws {
        let text = jsonObject(names: ["a", "b", "c"], values: [.nan, .infinity, 2])
        #expect(text == #"{"a":null,"b":null,"c":2.0}"#)
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
        let p = parseParams(text)
        #expect(p["a"]!.isNaN && p["b"]!.isNaN && p["c"] == 2)
    }

    /// What older versions wrote still reads: bare nan/inf tokens, spaces, and strings that
    /// merely contain those letters.
    @Test func olderTextStillReads() throws {
        let p = parseParams(#"{"a":nan,"b":inf,"c":-inf,"d":-nan,"e":0.5}"#)
        #expect(p["a"]!.isNaN && p["b"] == .infinity && p["c"] == -.infinity && p["d"]!.isNaN && p["e"] == 0.5)
        #expect(parseParamPairs(#"{"nan:inf,x":1.0,"y":inf}"#).map(\.0) == ["nan:inf,x", "y"])
        #expect(parseParams(#" { "a" : 1.5 , "b\n": 2 } "#) == ["a": 1.5, "b\n": 2])
        #expect(parseParams("") == [:] && parseParams("[1]") == [:] && parseParams(#"{"a":"#) == [:])
        #expect(parseJSONArray("[]") == [] && parseJSONArray("[0.25, 1e-05]") == [0.25, 1e-05])
        #expect(parseJSONArray("[1,") == nil && parseJSONArray(#"["a"]"#) == nil)
    }

    @Test func outputJSONWritesNullForNonFinite() throws {
        struct Row: Encodable { var b: Double; var a: [Double] }
        #expect(try outputJSON(Row(b: .nan, a: [.infinity, -.infinity, 1.5]), pretty: false) == #"{"a":[null,null,1.5],"b":null}"#)
    }
}
