import Foundation
import MergetuneNumerics

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

/// A column of a landscape file that is neither a parameter nor `score` and was skipped
/// (a run id, a pandas index, notes): only possible when the parameters are named.
public struct IgnoredColumn: Sendable, Codable, Equatable {
    /// The header's name for it ("" for an unnamed column).
    public let name: String
    /// 1-based CSV column.
    public let column: Int

    public init(name: String, column: Int) { self.name = name; self.column = column }

    public var description: String { name.isEmpty ? "column \(column) (unnamed)" : "`\(name)` (column \(column))" }
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
    /// Columns skipped because the parameters were named and these are not among them.
    public let ignoredColumns: [IgnoredColumn]

    public init(source: String, parameterNames: [String], points: [[Double]], scores: [Double],
                bounds: [ClosedRange<Double>]? = nil, references: [ReferencePoint] = [], provenance: [String] = [],
                mergedDuplicates: Int = 0, ignoredColumns: [IgnoredColumn] = []) {
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
        self.ignoredColumns = ignoredColumns
    }

    public var dimension: Int { parameterNames.count }
    public var scoreRange: ClosedRange<Double> { scores.min()!...scores.max()! }

    /// "ignored columns: `run_id` (column 1), `notes` (column 5)", or nil when none were.
    public var ignoredNote: String? {
        ignoredColumns.isEmpty ? nil : "\(source): ignored columns " + ignoredColumns.map(\.description).joined(separator: ", ")
            + " (not among the parameters \(parameterNames.joined(separator: ", ")))"
    }

    /// Loads a landscape file. `parameters` names the parameter columns (a study's bounds, a
    /// `--params` option); nil takes them from the file's `#@params` line or, failing that,
    /// from its header (every column but `score`, which must then all look like parameters).
    public static func load(_ url: URL, parameters: [String]? = nil) throws -> Landscape {
        let source = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LandscapeError(file: source, message: "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(data, source: source, parameters: parameters)
    }

    /// Parses a landscape from CSV bytes; `source` names it in errors. `parameters` as in `load`.
    public static func parse(_ data: Data, source: String, parameters: [String]? = nil) throws -> Landscape {
        let table = try CSVTable.parse(data, source: source)
        func fail(_ line: Int?, _ column: Int? = nil, _ name: String? = nil, _ message: String) -> LandscapeError {
            LandscapeError(file: source, line: line, column: column, columnName: name, message: message)
        }
        // `#@params`: the file's own list of parameter columns (read before the header).
        var declaredNames: (line: Int, tokens: [CSVTable.Token])?
        for directive in table.directives where directive.tokens.first?.text == "#@params" {
            if let declaredNames { throw fail(directive.line, 1, nil, "a second #@params line (the first is line \(declaredNames.line))") }
            let tokens = Array(directive.tokens.dropFirst())
            guard !tokens.isEmpty else { throw fail(directive.line, nil, nil, "#@params names no parameter (write `#@params name name ...`)") }
            for (i, t) in tokens.enumerated() {
                if t.text == "score" { throw fail(directive.line, t.column, nil, "`score` is the score column, not a parameter") }
                if tokens[..<i].contains(where: { $0.text == t.text }) { throw fail(directive.line, t.column, nil, "parameter `\(t.text)` named twice") }
            }
            declaredNames = (directive.line, tokens)
        }
        if let parameters {
            if parameters.isEmpty { throw fail(nil, nil, nil, "the list of parameters to read is empty") }
            if let repeated = parameters.indices.first(where: { parameters[..<$0].contains(parameters[$0]) }) {
                throw fail(nil, nil, nil, "parameter `\(parameters[repeated])` is named twice in the list of parameters to read")
            }
            if parameters.contains("score") { throw fail(nil, nil, nil, "`score` is the score column, not a parameter") }
            if let declaredNames, Set(declaredNames.tokens.map(\.text)) != Set(parameters) {
                throw fail(declaredNames.line, nil, nil, "the file's #@params \(declaredNames.tokens.map(\.text).joined(separator: " ")) "
                           + "differ from the parameters asked for (\(parameters.joined(separator: ", ")))")
            }
        }
        guard let header = table.header else { throw fail(nil, nil, nil, "no header line (parameter names and `score`)") }
        // Header: parameter names and exactly one `score` column.
        let names = header.fields
        let scoreColumns = names.indices.filter { names[$0] == "score" }
        guard scoreColumns.count == 1 else {
            if scoreColumns.isEmpty {
                let guess = names.firstIndex { editDistance($0.lowercased(), "score") <= 2 }
                if let guess {
                    throw fail(header.line, guess + 1, names[guess], "expected a column named `score`; is `\(names[guess])` misspelled?")
                }
                throw fail(header.line, nil, nil, "no `score` column; the header must list the parameter names and `score`")
            }
            throw fail(header.line, scoreColumns[1] + 1, "score", "`score` appears more than once in the header")
        }
        let scoreColumn = scoreColumns[0]

        let parameterColumns: [Int]
        var ignored: [IgnoredColumn] = []
        if let wanted = parameters ?? declaredNames?.tokens.map(\.text) {
            // Named parameters: each must be exactly one column; every other column is ignored.
            var columns: [Int] = []
            for (k, name) in wanted.enumerated() {
                let matches = names.indices.filter { names[$0] == name }
                if matches.count > 1 { throw fail(header.line, matches[1] + 1, name, "parameter column `\(name)` repeats column \(matches[0] + 1)") }
                guard let c = matches.first else {
                    var message = "the parameter `\(name)`"
                    if let declaredNames, parameters == nil { message += " named by #@params on line \(declaredNames.line)" }
                    message += " has no column (the header has \(names.map { $0.isEmpty ? "(unnamed)" : $0 }.joined(separator: ", ")))"
                    let unused = names.indices.filter { !wanted.contains(names[$0]) && $0 != scoreColumn }
                    if let close = unused.min(by: { editDistance(names[$0], name) < editDistance(names[$1], name) }),
                       editDistance(names[close], name) <= 2 {
                        throw fail(header.line, close + 1, names[close], message + "; is `\(names[close])` a misspelling of `\(name)`?")
                    }
                    if parameters == nil, let declaredNames {
                        throw fail(declaredNames.line, declaredNames.tokens[k].column, nil, message)
                    }
                    throw fail(header.line, nil, nil, message)
                }
                columns.append(c)
            }
            parameterColumns = columns
            ignored = names.indices.filter { !columns.contains($0) && $0 != scoreColumn }.map { IgnoredColumn(name: names[$0], column: $0 + 1) }
        } else {
            // Unnamed parameters: every other column, which must all look like parameters.
            var seenNames: [String: Int] = [:]
            for c in names.indices where !names[c].isEmpty {
                if let first = seenNames[names[c]] { throw fail(header.line, c + 1, names[c], "column name repeats column \(first + 1)") }
                seenNames[names[c]] = c
            }
            let candidates = names.indices.filter { $0 != scoreColumn }
            guard !candidates.isEmpty else { throw fail(header.line, nil, nil, "no parameter columns besides `score`") }
            var doubts: [(column: Int, reason: String)] = []
            for c in candidates {
                if let reason = notAParameter(column: c, names: names, rows: table.rows, others: candidates.count - 1) {
                    doubts.append((c, reason))
                }
            }
            if let first = doubts.first {
                let likely = candidates.filter { c in !doubts.contains { $0.column == c } }.map { names[$0] }
                let example = likely.isEmpty ? ["a", "b"] : likely
                var message = "columns not understood as parameters: "
                    + doubts.map { "column \($0.column + 1)" + (names[$0.column].isEmpty ? "" : " `\(names[$0.column])`") + " (\($0.reason))" }.joined(separator: "; ")
                message += ". Name the parameter columns with a `#@params \(example.joined(separator: " "))` line before the header"
                    + " or `--params \(example.joined(separator: ","))` (a study names them in its bounds); other columns are then ignored"
                throw fail(header.line, first.column + 1, names[first.column].isEmpty ? nil : names[first.column], message)
            }
            parameterColumns = candidates
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
            }
            let s = try table.number(row, column: scoreColumn, name: "score")
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
            case "#@params":
                continue  // read above
            case "#@bounds":
                if let boundsLine { throw fail(directive.line, 1, nil, "a second #@bounds line (the first is line \(boundsLine))") }
                boundsLine = directive.line
                guard tokens.count > 1 else { throw fail(directive.line, nil, nil, "#@bounds names no parameter (write `#@bounds name=lo:hi ...`)") }
                for t in tokens.dropFirst() {
                    let (key, value) = try keyValue(t, directive.line, source)
                    guard let k = parameterNames.firstIndex(of: key) else {
                        if ignored.contains(where: { $0.name == key }) { continue }  // bounds of a column the caller chose to ignore
                        throw unknownParameter(key, t, directive.line, parameterNames, source)
                    }
                    if declared[k] != nil { throw fail(directive.line, t.column, nil, "bounds for `\(key)` given twice") }
                    let parts = value.split(separator: ":", omittingEmptySubsequences: false)
                    guard parts.count == 2, let lo = DecimalNumber.parse(parts[0]), let hi = DecimalNumber.parse(parts[1]) else {
                        var message = "bounds must read `\(key)=low:high` with finite decimal numbers, got `\(t.text)`"
                        if let bad = parts.first(where: { DecimalNumber.parse($0) == nil }), parts.count == 2 { message += " (\(DecimalNumber.problem(bad)))" }
                        throw fail(directive.line, t.column, nil, message)
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
                    guard let v = DecimalNumber.parse(value) else {
                        let problem = DecimalNumber.problem(value)
                        throw fail(directive.line, t.column, nil, "`\(value)` is not a finite number in `\(t.text)`"
                                   + (problem.hasSuffix("not a number") ? "" : " (\(problem))"))
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
                throw fail(directive.line, 1, nil, "unknown directive `\(word)` (known: #@params, #@bounds, #@reference; plain comments start with `# `)")
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
                         references: references, provenance: table.comments, mergedDuplicates: merged, ignoredColumns: ignored)
    }
}

/// Why a column of a file whose parameters are not named does not look like a parameter, or
/// nil if it does. Deliberately conservative: a doubt is an error asking the user to name the
/// parameters, never a silent guess. A column with some numbers and a bad cell is a parameter
/// (the bad cell is then reported where it is).
func notAParameter(column c: Int, names: [String], rows: [CSVTable.Row], others: Int) -> String? {
    let name = names[c]
    if name.isEmpty { return "empty column name, as pandas writes for an index" }
    let lower = name.lowercased()
    if lower.hasPrefix("unnamed:") { return "a pandas index" }
    let cells = rows.map { c < $0.fields.count ? $0.fields[c] : "" }
    let numbers = cells.map { DecimalNumber.parse($0) }
    // Cells strtod reads (hex floats, nan, inf) and empty cells count as attempted numbers:
    // they are reported where they are.
    let written = cells.filter { !$0.isEmpty }
    if let example = written.first, written.allSatisfy({ DecimalNumber.parse($0) == nil && Double($0) == nil }) {
        return "text such as `\(example)`"
    }
    let identifiers: Set<String> = ["index", "idx", "id", "run", "run_id", "runid", "trial", "trial_id", "name", "label",
                                    "note", "notes", "comment", "comments", "timestamp", "date", "time"]
    if identifiers.contains(lower) || lower.hasSuffix("_id") { return "its name reads as an identifier or a note, not a parameter" }
    // 0,1,2,... or 1,2,3,... down the first column, next to other parameters: a row counter
    // (pandas and R write their index first).
    if c == 0, others > 0, rows.count >= 3, let first = numbers.first ?? nil, first == 0 || first == 1,
       numbers.enumerated().allSatisfy({ $0.element == first + Double($0.offset) }) {
        return "it counts the rows (\(Int(first)), \(Int(first) + 1), \(Int(first) + 2), ...) like an index"
    }
    return nil
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

/// The records of a CSV file with `#` comments: UTF-8, optional BOM, LF or CRLF. Fields follow
/// RFC 4180: separated by commas, optionally enclosed in double quotes (inside which commas,
/// line breaks and doubled quotes `""` are data); spaces around a field are trimmed. A line
/// that starts with `#` outside a quoted field is a comment.
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
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { scalars -> String in
            var line = String(String.UnicodeScalarView(scalars))
            if line.hasSuffix("\r") { line.removeLast() }
            return line
        }
        var index = 0
        while index < lines.count {
            let line = lines[index]
            let number = index + 1
            index += 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("#@") {
                table.directives.append(Directive(line: number, tokens: tokenize(line)))
                continue
            }
            if trimmed.hasPrefix("#") {
                table.comments.append(String(trimmed.dropFirst()).trimmingCharacters(in: .whitespaces))
                continue
            }
            // A quoted field may run over several lines: join them until its quote closes.
            var record = line
            var fields: [String]
            while true {
                switch splitFields(record) {
                case .fields(let f): fields = f
                case .badQuote(let field):
                    throw LandscapeError(file: source, line: number, column: field + 1,
                                         message: "text after a closing quote (inside a quoted field write a quote as `\"\"`)")
                case .open:
                    guard index < lines.count else {
                        throw LandscapeError(file: source, line: number, message: "a quoted field opened on this line is never closed")
                    }
                    record += "\n" + lines[index]
                    index += 1
                    continue
                }
                break
            }
            if table.header == nil { table.header = Row(line: number, fields: fields) }
            else { table.rows.append(Row(line: number, fields: fields)) }
        }
        return table
    }

    enum Split: Equatable { case fields([String]), open, badQuote(field: Int) }

    /// Splits one record into trimmed fields, with quotes removed from quoted ones.
    static func splitFields(_ record: String) -> Split {
        let c = Array(record)
        var fields: [String] = [], i = 0
        func skipSpace() { while i < c.count, c[i] == " " || c[i] == "\t" { i += 1 } }
        while true {
            skipSpace()
            if i < c.count, c[i] == "\"" {
                i += 1
                var field = ""
                while true {
                    guard i < c.count else { return .open }
                    if c[i] == "\"" {
                        if i + 1 < c.count, c[i + 1] == "\"" { field.append("\""); i += 2; continue }
                        i += 1
                        break
                    }
                    field.append(c[i]); i += 1
                }
                fields.append(field)
                skipSpace()
                if i == c.count { return .fields(fields) }
                guard c[i] == "," else { return .badQuote(field: fields.count - 1) }
                i += 1
            } else {
                var field = ""
                while i < c.count, c[i] != "," { field.append(c[i]); i += 1 }
                fields.append(field.trimmingCharacters(in: .whitespaces))
                if i == c.count { return .fields(fields) }
                i += 1  // the comma; a field (maybe empty) follows
            }
        }
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
                                 message: "extra cell: the row has \(row.fields.count) columns, the header \(header.fields.count)"
                                     + " (quote a field that contains a comma: `\"a, b\"`)")
        }
    }

    /// A finite decimal number (Numerics.DecimalNumber: no hex floats, nan or infinity).
    func number(_ row: Row, column c: Int, name: String) throws -> Double {
        let text = row.fields[c]
        guard !text.isEmpty else {
            throw LandscapeError(file: source, line: row.line, column: c + 1, columnName: name, message: "empty cell")
        }
        guard let v = DecimalNumber.parse(text) else {
            throw LandscapeError(file: source, line: row.line, column: c + 1, columnName: name, message: DecimalNumber.problem(text))
        }
        return v
    }
}
