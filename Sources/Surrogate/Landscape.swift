import Foundation

/// A closed-form method (FRANK, MetaGPT, …) measured on a landscape: a `#@reference` line.
public struct ReferencePoint: Sendable, Codable, Equatable {
    public let name: String
    /// Coordinates in the landscape's parameter order, or nil when the line gives none.
    public let params: [Double]?
    public let score: Double

    public init(name: String, params: [Double]?, score: Double) {
        self.name = name; self.params = params; self.score = score
    }
}

/// A malformed landscape or points file. The description names the file, the line and, where
/// one cell or token is at fault, its column (1-based: the CSV column in data rows and the
/// header, the character position in `#@` lines).
public struct LandscapeError: Error, Equatable, LocalizedError, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let column: Int?
    /// The column's name in data rows and the header, when it has one.
    public let columnName: String?
    public let message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, columnName: String? = nil, message: String) {
        self.file = file; self.line = line; self.column = column; self.columnName = columnName; self.message = message
    }

    public var description: String {
        var place = file
        if let line { place += ", line \(line)" }
        if let column { place += ", column \(column)" }
        if let columnName { place += " (\(columnName))" }
        return "\(place): \(message)"
    }
    public var errorDescription: String? { description }
}

/// A measured landscape: scored points over named parameters (long-format CSV, see
/// docs/surrogate.md).
public struct Landscape: Sendable {
    public let source: String
    public let parameterNames: [String]
    public let points: [[Double]]
    public let scores: [Double]
    /// From a `#@bounds` line where it names the parameter, else min...max of the points.
    public let bounds: [ClosedRange<Double>]
    public let references: [ReferencePoint]
    /// The plain `#` comment lines, in order, without the `#` and surrounding spaces.
    public let provenance: [String]
    /// Rows dropped because they repeated an earlier point with the same score.
    public let mergedDuplicates: Int

    public init(source: String, parameterNames: [String], points: [[Double]], scores: [Double],
                bounds: [ClosedRange<Double>]? = nil, references: [ReferencePoint] = [], provenance: [String] = [],
                mergedDuplicates: Int = 0) {
        self.source = source
        self.parameterNames = parameterNames
        self.points = points
        self.scores = scores
        self.bounds = bounds ?? (0..<parameterNames.count).map { k in
            let column = points.map { $0[k] }
            return (column.min() ?? 0)...(column.max() ?? 0)
        }
        self.references = references
        self.provenance = provenance
        self.mergedDuplicates = mergedDuplicates
    }

    public var dimension: Int { parameterNames.count }
    public var scoreRange: ClosedRange<Double> { scores.min()!...scores.max()! }

    public static func load(_ url: URL) throws -> Landscape {
        let source = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LandscapeError(file: source, message: "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(data, source: source)
    }

    /// Parses a landscape from CSV bytes; `source` names it in errors.
    public static func parse(_ data: Data, source: String) throws -> Landscape {
        let table = try CSVTable.parse(data, source: source)
        guard let header = table.header else { throw LandscapeError(file: source, message: "no header line (parameter names followed by `score`)") }
        func fail(_ line: Int?, _ column: Int? = nil, _ name: String? = nil, _ message: String) -> LandscapeError {
            LandscapeError(file: source, line: line, column: column, columnName: name, message: message)
        }
        // Header: parameter names and exactly one `score` column.
        let names = header.fields
        let scoreColumns = names.indices.filter { names[$0] == "score" }
        guard scoreColumns.count == 1 else {
            if scoreColumns.isEmpty {
                let guess = names.firstIndex { editDistance($0.lowercased(), "score") <= 2 }
                if let guess {
                    throw fail(header.line, guess + 1, names[guess], "expected a column named `score`; is `\(names[guess])` misspelled?")
                }
                throw fail(header.line, nil, nil, "no `score` column; the header must list the parameter names followed by `score`")
            }
            throw fail(header.line, scoreColumns[1] + 1, "score", "`score` appears more than once in the header")
        }
        let scoreColumn = scoreColumns[0]
        let parameterColumns = names.indices.filter { $0 != scoreColumn }
        guard !parameterColumns.isEmpty else { throw fail(header.line, nil, nil, "no parameter columns before `score`") }
        var seenNames: [String: Int] = [:]
        for c in names.indices {
            if names[c].isEmpty { throw fail(header.line, c + 1, nil, "empty column name") }
            if let first = seenNames[names[c]] {
                throw fail(header.line, c + 1, names[c], "column name repeats column \(first + 1)")
            }
            seenNames[names[c]] = c
        }
        let parameterNames = parameterColumns.map { names[$0] }
        let d = parameterNames.count

        // Data rows.
        var points: [[Double]] = [], scores: [Double] = [], rowLines: [Int] = []
        var firstLine: [[Double]: Int] = [:]
        var merged = 0
        for row in table.rows {
            try table.checkWidth(row, header: header)
            var p = [Double](repeating: 0, count: d)
            for (k, c) in parameterColumns.enumerated() {
                p[k] = try table.number(row, column: c, name: names[c])
                guard p[k].isFinite else { throw fail(row.line, c + 1, names[c], "parameter values must be finite, got `\(row.fields[c])`") }
            }
            let s = try table.number(row, column: scoreColumn, name: "score")
            guard s.isFinite else { throw fail(row.line, scoreColumn + 1, "score", "scores must be finite, got `\(row.fields[scoreColumn])`") }
            if let earlier = firstLine[p] {
                let i = rowLines.firstIndex(of: earlier)!
                if scores[i] == s { merged += 1; continue }
                throw fail(row.line, scoreColumn + 1, "score",
                           "the point \(describePoint(p, parameterNames)) was measured on line \(earlier) with score \(scores[i]) and here with \(s)")
            }
            firstLine[p] = row.line
            points.append(p); scores.append(s); rowLines.append(row.line)
        }
        guard !points.isEmpty else { throw fail(nil, nil, nil, "no data rows after the header") }

        // `#@` directives: bounds and reference points.
        var declared: [ClosedRange<Double>?] = Array(repeating: nil, count: d)
        var boundsLine: Int?
        var references: [ReferencePoint] = []
        for directive in table.directives {
            let tokens = directive.tokens
            switch tokens.first?.text {
            case "#@bounds":
                if let boundsLine { throw fail(directive.line, 1, nil, "a second #@bounds line (the first is line \(boundsLine))") }
                boundsLine = directive.line
                guard tokens.count > 1 else { throw fail(directive.line, nil, nil, "#@bounds names no parameter (write `#@bounds name=lo:hi ...`)") }
                for t in tokens.dropFirst() {
                    let (key, value) = try keyValue(t, directive.line, source)
                    guard let k = parameterNames.firstIndex(of: key) else { throw unknownParameter(key, t, directive.line, parameterNames, source) }
                    if declared[k] != nil { throw fail(directive.line, t.column, nil, "bounds for `\(key)` given twice") }
                    let parts = value.split(separator: ":", omittingEmptySubsequences: false)
                    guard parts.count == 2, let lo = Double(parts[0]), let hi = Double(parts[1]), lo.isFinite, hi.isFinite else {
                        throw fail(directive.line, t.column, nil, "bounds must read `\(key)=low:high` with finite numbers, got `\(t.text)`")
                    }
                    guard lo <= hi else { throw fail(directive.line, t.column, nil, "lower bound \(lo) exceeds upper bound \(hi) for `\(key)`") }
                    declared[k] = lo...hi
                }
            case "#@reference":
                guard tokens.count >= 3 else {
                    throw fail(directive.line, nil, nil, "a reference reads `#@reference NAME [param=value ...] score=value`")
                }
                let name = tokens[1]
                if name.text.contains("=") { throw fail(directive.line, name.column, nil, "the reference's name must come before `key=value` pairs, got `\(name.text)`") }
                if references.contains(where: { $0.name == name.text }) {
                    throw fail(directive.line, name.column, nil, "reference `\(name.text)` is defined twice")
                }
                var params = [Double?](repeating: nil, count: d)
                var score: Double?
                for t in tokens.dropFirst(2) {
                    let (key, value) = try keyValue(t, directive.line, source)
                    guard let v = Double(value), v.isFinite else {
                        throw fail(directive.line, t.column, nil, "`\(value)` is not a finite number in `\(t.text)`")
                    }
                    if key == "score" {
                        if score != nil { throw fail(directive.line, t.column, nil, "score given twice") }
                        score = v
                    } else if let k = parameterNames.firstIndex(of: key) {
                        if params[k] != nil { throw fail(directive.line, t.column, nil, "`\(key)` given twice") }
                        params[k] = v
                    } else {
                        throw unknownParameter(key, t, directive.line, parameterNames, source)
                    }
                }
                guard let score else { throw fail(directive.line, nil, nil, "reference `\(name.text)` has no `score=`") }
                let given = params.compactMap { $0 }
                if !given.isEmpty && given.count < d {
                    let missing = parameterNames.indices.filter { params[$0] == nil }.map { parameterNames[$0] }
                    throw fail(directive.line, nil, nil, "reference `\(name.text)` gives some parameters but not \(missing.joined(separator: ", ")) (give all or none)")
                }
                references.append(ReferencePoint(name: name.text, params: given.isEmpty ? nil : given, score: score))
            default:
                let word = tokens.first?.text ?? "#@"
                throw fail(directive.line, 1, nil, "unknown directive `\(word)` (known: #@bounds, #@reference; plain comments start with `# `)")
            }
        }
        var bounds: [ClosedRange<Double>] = []
        for k in 0..<d {
            let column = points.map { $0[k] }
            let observed = column.min()!...column.max()!
            if let b = declared[k] {
                // A measured point outside declared bounds means the bounds or the data are wrong.
                if let i = points.indices.first(where: { !b.contains(points[$0][k]) }) {
                    throw fail(rowLines[i], parameterColumns[k] + 1, parameterNames[k],
                               "\(points[i][k]) lies outside the #@bounds \(b.lowerBound):\(b.upperBound) of line \(boundsLine!)")
                }
                bounds.append(b)
            } else {
                bounds.append(observed)
            }
        }
        return Landscape(source: source, parameterNames: parameterNames, points: points, scores: scores, bounds: bounds,
                         references: references, provenance: table.comments, mergedDuplicates: merged)
    }
}

func describePoint(_ p: [Double], _ names: [String]) -> String {
    "(" + zip(names, p).map { "\($0)=\($1)" }.joined(separator: ", ") + ")"
}

private func keyValue(_ t: CSVTable.Token, _ line: Int, _ source: String) throws -> (String, String) {
    let parts = t.text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw LandscapeError(file: source, line: line, column: t.column, message: "expected `name=value`, got `\(t.text)`")
    }
    return (String(parts[0]), String(parts[1]))
}

private func unknownParameter(_ key: String, _ t: CSVTable.Token, _ line: Int, _ names: [String], _ source: String) -> LandscapeError {
    var message = "unknown parameter `\(key)` (the parameters are \(names.joined(separator: ", ")))"
    if let close = names.min(by: { editDistance($0, key) < editDistance($1, key) }), editDistance(close, key) <= 2 {
        message += "; did you mean `\(close)`?"
    }
    return LandscapeError(file: source, line: line, column: t.column, message: message)
}

/// Levenshtein distance, for "did you mean" hints on misspelled names.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}

/// The lines of a CSV file of numbers with `#` comments: UTF-8, optional BOM, LF or CRLF.
/// Fields are split on commas and trimmed; surrounding double quotes are removed.
struct CSVTable {
    struct Row { let line: Int; let fields: [String] }
    struct Token { let text: String; let column: Int }
    struct Directive { let line: Int; let tokens: [Token] }

    let source: String
    var header: Row?
    var rows: [Row] = []
    var comments: [String] = []
    var directives: [Directive] = []

    static func parse(_ data: Data, source: String) throws -> CSVTable {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let text = String(data: bytes, encoding: .utf8) else {
            throw LandscapeError(file: source, message: "not UTF-8 text")
        }
        var table = CSVTable(source: source)
        // Split on LF only, then drop a trailing CR: Swift treats "\r\n" as one Character.
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, scalars) in lines.enumerated() {
            var line = String(String.UnicodeScalarView(scalars))
            if line.hasSuffix("\r") { line.removeLast() }
            let number = index + 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("#@") {
                table.directives.append(Directive(line: number, tokens: tokenize(line)))
            } else if trimmed.hasPrefix("#") {
                table.comments.append(String(trimmed.dropFirst()).trimmingCharacters(in: .whitespaces))
            } else {
                let fields = trimmed.split(separator: ",", omittingEmptySubsequences: false).map { field -> String in
                    var f = field.trimmingCharacters(in: .whitespaces)
                    if f.count >= 2, f.hasPrefix("\""), f.hasSuffix("\"") { f = String(f.dropFirst().dropLast()) }
                    return f
                }
                if table.header == nil { table.header = Row(line: number, fields: fields) }
                else { table.rows.append(Row(line: number, fields: fields)) }
            }
        }
        return table
    }

    /// Whitespace-separated tokens with their 1-based character columns.
    static func tokenize(_ line: String) -> [Token] {
        var tokens: [Token] = [], current = "", start = 0
        for (i, ch) in line.enumerated() {
            if ch == " " || ch == "\t" {
                if !current.isEmpty { tokens.append(Token(text: current, column: start + 1)); current = "" }
            } else {
                if current.isEmpty { start = i }
                current.append(ch)
            }
        }
        if !current.isEmpty { tokens.append(Token(text: current, column: start + 1)) }
        return tokens
    }

    func checkWidth(_ row: Row, header: Row) throws {
        if row.fields.count < header.fields.count {
            let c = row.fields.count
            throw LandscapeError(file: source, line: row.line, column: c + 1, columnName: header.fields[c],
                                 message: "missing cell: the row has \(row.fields.count) columns, the header \(header.fields.count)")
        }
        if row.fields.count > header.fields.count {
            throw LandscapeError(file: source, line: row.line, column: header.fields.count + 1,
                                 message: "extra cell: the row has \(row.fields.count) columns, the header \(header.fields.count)")
        }
    }

    func number(_ row: Row, column c: Int, name: String) throws -> Double {
        let text = row.fields[c]
        guard !text.isEmpty else {
            throw LandscapeError(file: source, line: row.line, column: c + 1, columnName: name, message: "empty cell")
        }
        // Double(String) accepts "nan", "inf" and hex floats; they are judged by the caller.
        guard let v = Double(text) else {
            throw LandscapeError(file: source, line: row.line, column: c + 1, columnName: name, message: "`\(text)` is not a number")
        }
        return v
    }
}
