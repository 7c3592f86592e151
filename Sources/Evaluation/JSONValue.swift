import Foundation

/// A JSON document as Foundation's JSONDecoder reads it, keeping the types apart (a `true` is
/// not the number 1, a string "0.5" is not a number).
indirect enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    enum ParseError: Error {
        case notUTF8
        case syntax(String)
    }

    /// Parses `data` as strict JSON, falling back to JSON5 so that the bare NaN, Infinity and
    /// -Infinity that Python's json module writes are read (they then fail as non_finite).
    static func parse(_ data: Data) throws(ParseError) -> JSONValue {
        // Validate UTF-8 first: a decoder that replaced bad bytes would accept garbage.
        guard String(data: data, encoding: .utf8) != nil else { throw .notUTF8 }
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            let strictError = error
            let json5 = JSONDecoder()
            json5.allowsJSON5 = true
            if let v = try? json5.decode(JSONValue.self, from: data) { return v }
            throw .syntax(briefly(strictError))
        }
    }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    var shortText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .number(let d): return "\(d)"
        case .string(let s): return "\"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\""
        case .array(let a): return "an array of \(a.count)"
        case .object(let o): return "an object with \(o.count) keys"
        }
    }

    /// The value at a dotted key path. Keys may themselves hold dots: at each level the longest
    /// run of segments that is a key wins; a numeric segment indexes an array. On failure, the
    /// path that was found and what was missing there.
    func lookup(_ path: String) -> Result<JSONValue, LookupFailure> {
        let segments = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var node = self
        var i = 0
        var found: [String] = []
        while i < segments.count {
            switch node {
            case .object(let o):
                var matched = false
                for j in stride(from: segments.count, to: i, by: -1) {
                    let key = segments[i..<j].joined(separator: ".")
                    if let v = o[key] { node = v; found.append(key); i = j; matched = true; break }
                }
                if !matched {
                    return .failure(LookupFailure(found: found, missing: segments[i], available: o.keys.sorted()))
                }
            case .array(let a):
                guard let k = Int(segments[i]), k >= 0, k < a.count else {
                    return .failure(LookupFailure(found: found, missing: segments[i], available: a.isEmpty ? [] : ["0…\(a.count - 1)"]))
                }
                node = a[k]; found.append(segments[i]); i += 1
            default:
                return .failure(LookupFailure(found: found, missing: segments[i], available: [], notContainer: node.typeName))
            }
        }
        return .success(node)
    }

    struct LookupFailure: Error {
        var found: [String]
        var missing: String
        var available: [String]
        var notContainer: String? = nil

        func describe(_ path: String) -> String {
            let at = found.isEmpty ? "the top level" : "`\(found.joined(separator: "."))`"
            if let notContainer { return "key `\(path)`: \(at) is \(notContainer), not an object" }
            var s = "key `\(path)`: no `\(missing)` in \(at)"
            if !available.isEmpty {
                let shown = available.prefix(20).joined(separator: ", ")
                s += " (has: \(shown)\(available.count > 20 ? ", … \(available.count - 20) more" : ""))"
            }
            return s
        }
    }
}

func briefly(_ error: Error) -> String {
    if case DecodingError.dataCorrupted(let c) = error {
        if let underlying = c.underlyingError { return "\(c.debugDescription) \(underlying)" }
        return c.debugDescription
    }
    return "\(error)"
}
