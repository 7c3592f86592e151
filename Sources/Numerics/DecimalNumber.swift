/// Strict reading of numbers that users write in files and options.
///
/// Swift's `Double(String)` follows `strtod`: it also accepts hexadecimal floats (`0x1.8p-1`),
/// `nan`, `inf` and `infinity`. A score or coordinate written that way is almost always a
/// mistake (a spreadsheet artefact, a corrupt export), so user-facing inputs accept only
/// decimal numbers: `[+-]digits[.digits][(e|E)[+-]digits]`, where either the digits before or
/// after the point may be missing (`.5`, `5.`), with surrounding spaces or tabs allowed.
/// The value must be finite: `1e999` is out of range, not infinity.
public enum DecimalNumber {
    /// The value of `text` if it is a finite decimal number, else nil (see `problem`).
    public static func parse<S: StringProtocol>(_ text: S) -> Double? {
        let t = trimmed(text)
        guard isDecimal(t), let v = Double(t), v.isFinite else { return nil }
        return v
    }

    /// Why `text` is not accepted by `parse`, as a phrase naming the text, e.g.
    /// "`0x1.8p-1` is not a decimal number (hexadecimal floats are not accepted)".
    public static func problem<S: StringProtocol>(_ text: S) -> String {
        let t = trimmed(text)
        if t.isEmpty { return "empty value" }
        var body = Substring(t.lowercased())
        if body.first == "+" || body.first == "-" { body = body.dropFirst() }
        if ["nan", "inf", "infinity", "snan"].contains(body) || body.hasPrefix("nan(") {
            return "`\(t)` is not a finite number (nan and infinity are not accepted)"
        }
        if body.hasPrefix("0x") { return "`\(t)` is not a decimal number (hexadecimal floats are not accepted)" }
        if isDecimal(t) { return "`\(t)` is out of the range of a double" }
        return "`\(t)` is not a number"
    }

    /// Whether `text` names a value that is not finite: nan, inf, infinity (any case, signed),
    /// or a decimal number out of the range of a double (`1e999`). `parse` rejects all of them;
    /// this tells them apart from text that is not a number at all.
    public static func isNonFinite<S: StringProtocol>(_ text: S) -> Bool {
        let t = trimmed(text)
        var body = Substring(t.lowercased())
        if body.first == "+" || body.first == "-" { body = body.dropFirst() }
        if ["nan", "inf", "infinity"].contains(body) { return true }
        return isDecimal(t) && parse(t) == nil
    }

    static func trimmed<S: StringProtocol>(_ text: S) -> String {
        var s = Substring(text)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }

    /// The decimal grammar above, checked on ASCII bytes.
    static func isDecimal(_ t: String) -> Bool {
        let b = Array(t.utf8)
        var i = 0
        func digits() -> Int {
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            return i - start
        }
        if i < b.count, b[i] == 0x2B || b[i] == 0x2D { i += 1 }  // + -
        var mantissa = digits()
        if i < b.count, b[i] == 0x2E { i += 1; mantissa += digits() }  // .
        guard mantissa > 0 else { return false }
        if i < b.count, b[i] == 0x65 || b[i] == 0x45 {  // e E
            i += 1
            if i < b.count, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == b.count
    }
}
