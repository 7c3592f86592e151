import Foundation
import SafeTensors  // jsonQuote and JSONParser: one JSON string serializer and one strict parser for the project

// The JSON the ledger stores for points: trial and reference params (`{"name":value,...}` in the
// space's parameter order), sub-scores (extras, names sorted) and unit-box points (`[u,...]`).
//
// Written here, not with JSONEncoder: JSONEncoder does not keep key order (the params' order is
// the space's and the trials export's columns follow it), and it writes 1.0 as `1` where every
// ledger so far has `1.0`. Numbers are Swift's shortest round-trip form, so they read back bit
// for bit; JSON has no NaN or infinity, so a non-finite number is written as null.
//
// Read with SafeTensors' strict parser, which keeps key order and number text (Double(text) is
// exact; JSONSerialization is not: it changed 0.30000000000000004 and −0.0 when measured). Older
// versions wrote non-finite numbers as bare `nan`, `inf`, `-inf`: those still read back.

/// A number as the ledger's JSON holds it: shortest round-trip form, null if not finite.
func ledgerNumber(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }

/// `[u1,u2,...]`.
public func jsonArray(_ xs: [Double]) -> String { "[" + xs.map(ledgerNumber).joined(separator: ",") + "]" }

/// `{"name": value, ...}` in the given order.
public func jsonObject(names: [String], values: [Double]) -> String {
    "{" + zip(names, values).map { "\(jsonQuote($0)):\(ledgerNumber($1))" }.joined(separator: ",") + "}"
}

/// The numbers of a JSON array as `jsonArray` writes it; nil if the text is not an array of
/// numbers (null reads as NaN).
public func parseJSONArray(_ text: String) -> [Double]? {
    guard case let .array(items)? = parseLedgerJSON(text) else { return nil }
    var out: [Double] = []
    for item in items {
        guard let x = ledgerDouble(item) else { return nil }
        out.append(x)
    }
    return out
}

/// The (name, value) pairs of a flat params JSON object, in the order written; entries that are
/// not numbers are skipped, null reads as NaN. Empty if the text is not a JSON object.
public func parseParamPairs(_ text: String) -> [(String, Double)] {
    guard case let .object(fields)? = parseLedgerJSON(text) else { return [] }
    return fields.compactMap { name, value in ledgerDouble(value).map { (name, $0) } }
}

/// Parameter values by name from a params JSON object (the first of duplicate names).
public func parseParams(_ text: String) -> [String: Double] {
    Dictionary(parseParamPairs(text), uniquingKeysWith: { a, _ in a })
}

private func ledgerDouble(_ value: JSONValue) -> Double? {
    switch value {
    case .number(let text): return Double(text)
    case .null: return .nan
    case .string(let text):
        // Only the legacy tokens that `quotingLegacyNonFinite` quoted.
        guard let x = Double(text), !x.isFinite else { return nil }
        return x
    default: return nil
    }
}

private func parseLedgerJSON(_ text: String) -> JSONValue? {
    let bytes = Array(text.utf8)
    if let value = try? JSONParser.parse(bytes) { return value }
    guard let quoted = quotingLegacyNonFinite(bytes) else { return nil }
    return try? JSONParser.parse(quoted)
}

/// The text with the bare `nan`, `-nan`, `inf`, `-inf` tokens that older versions wrote for
/// non-finite numbers quoted as strings; nil if it has none (outside strings).
private func quotingLegacyNonFinite(_ bytes: [UInt8]) -> [UInt8]? {
    let tokens: [[UInt8]] = ["-nan", "-inf", "nan", "inf"].map { Array($0.utf8) }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + 8)
    var inString = false, escaped = false, changed = false
    var i = 0
    while i < bytes.count {
        let b = bytes[i]
        if inString {
            if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
        } else if b == UInt8(ascii: "\"") {
            inString = true
        } else if let token = tokens.first(where: { bytes[i...].starts(with: $0) }) {
            out.append(UInt8(ascii: "\"")); out += token; out.append(UInt8(ascii: "\""))
            i += token.count
            changed = true
            continue
        }
        out.append(b)
        i += 1
    }
    return changed ? out : nil
}
