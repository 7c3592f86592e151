import Testing
@testable import MergetuneNumerics

@Suite struct DecimalNumberTests {
    @Test func acceptsDecimalNumbersWithSurroundingSpaces() {
        let cases: [(String, Double)] = [("1", 1), ("-0.25", -0.25), (" 1e-3 ", 1e-3), ("\t+5.", 5), (".5", 0.5),
                                         ("1E+2", 100), ("0.1", 0.1), ("-0", 0), ("1e-400", 0)]
        for (text, value) in cases { #expect(DecimalNumber.parse(text) == value, "\(text)") }
        // The same Double as Swift's reader: no rounding of its own.
        #expect(DecimalNumber.parse("0.30000000000000004") == Double("0.30000000000000004"))
    }

    @Test func rejectsHexFloatsNonFiniteSpellingsAndJunk() {
        // Double(String) accepts the first seven (strtod's grammar); the strict reader does not.
        let rejected = ["0x1.8p-1", "0X10", "-0x1p3", "nan", "NaN", "inf", "-Infinity", "1e999", "", " ", "1e", "e5", ".",
                        "1,5", "1_0", "1.2.3", "--1", "1 2", "0.5x", "١"]
        for text in rejected { #expect(DecimalNumber.parse(text) == nil, "\(text)") }
        #expect(Double("0x1.8p-1") == 0.75)  // why the strict reader exists
        #expect(DecimalNumber.problem("0x1.8p-1") == "`0x1.8p-1` is not a decimal number (hexadecimal floats are not accepted)")
        #expect(DecimalNumber.problem(" -inf") == "`-inf` is not a finite number (nan and infinity are not accepted)")
        #expect(DecimalNumber.problem("nan") == "`nan` is not a finite number (nan and infinity are not accepted)")
        #expect(DecimalNumber.problem("1e999") == "`1e999` is out of the range of a double")
        #expect(DecimalNumber.problem("abc") == "`abc` is not a number")
        #expect(DecimalNumber.problem("") == "empty value")
    }

    @Test func tellsNonFiniteFromNotANumber() {
        for text in ["nan", "-NaN", " inf", "+Infinity", "1e999", "-1e400000"] { #expect(DecimalNumber.isNonFinite(text), "\(text)") }
        for text in ["0.5", "1e-400", "0x1p3", "abc", "", "nanx", "infinite"] { #expect(!DecimalNumber.isNonFinite(text), "\(text)") }
    }
}
