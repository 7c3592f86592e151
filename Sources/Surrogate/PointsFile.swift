import Foundation

/// Query points read from a CSV with (at least) a landscape's parameter columns, in any order;
/// other columns (quoted text with commas included) are kept so they can be written back next
/// to a prediction.
public struct PointsFile: Sendable {
    public let source: String
    /// The file's columns, in its order.
    public let columns: [String]
    /// The file's cells, row by row, unquoted (`csvField` quotes them again).
    public let cells: [[String]]
    /// Coordinates in the order of the `parameterNames` asked for.
    public let points: [[Double]]

    public static func load(_ url: URL, parameterNames: [String]) throws -> PointsFile {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LandscapeError(file: url.path, message: "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(data, source: url.path, parameterNames: parameterNames)
    }

    public static func parse(_ data: Data, source: String, parameterNames: [String]) throws -> PointsFile {
        let table = try CSVTable.parse(data, source: source)
        guard let header = table.header else {
            throw LandscapeError(file: source, message: "no header line (expected the columns \(parameterNames.joined(separator: ",")))")
        }
        var indices: [Int] = []
        for name in parameterNames {
            guard let c = header.fields.firstIndex(of: name) else {
                var message = "missing column `\(name)` (the landscape's parameters are \(parameterNames.joined(separator: ", ")))"
                let unused = header.fields.indices.filter { !parameterNames.contains(header.fields[$0]) }
                if let close = unused.min(by: { editDistance(header.fields[$0], name) < editDistance(header.fields[$1], name) }),
                   editDistance(header.fields[close], name) <= 2 {
                    throw LandscapeError(file: source, line: header.line, column: close + 1, columnName: header.fields[close],
                                         message: message + "; is `\(header.fields[close])` a misspelling of `\(name)`?")
                }
                message += "; the header has \(header.fields.joined(separator: ", "))"
                throw LandscapeError(file: source, line: header.line, message: message)
            }
            indices.append(c)
        }
        var points: [[Double]] = []
        for row in table.rows {
            try table.checkWidth(row, header: header)
            var p: [Double] = []
            for c in indices {
                // Finite decimal numbers only, as in landscape files.
                p.append(try table.number(row, column: c, name: header.fields[c]))
            }
            points.append(p)
        }
        return PointsFile(source: source, columns: header.fields, cells: table.rows.map(\.fields), points: points)
    }
}

extension Landscape {
    /// A full-factorial grid of `resolution` evenly spaced levels per parameter over the
    /// bounds (both ends included), the last parameter varying fastest.
    public func grid(resolution: Int) -> [[Double]] {
        precondition(resolution >= 2)
        let levels = bounds.map { b in
            (0..<resolution).map { i in
                i == resolution - 1 ? b.upperBound : b.lowerBound + (b.upperBound - b.lowerBound) * Double(i) / Double(resolution - 1)
            }
        }
        var out: [[Double]] = [[]]
        for axis in levels { out = out.flatMap { prefix in axis.map { prefix + [$0] } } }
        return out
    }
}

/// A CSV field as RFC 4180 writes it: quoted when it holds a comma, a quote, a line break or
/// surrounding spaces, with quotes doubled.
public func csvField(_ text: String) -> String {
    let needsQuotes = text.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
        || text.first == " " || text.last == " "
    return needsQuotes ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
}
