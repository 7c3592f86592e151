import Foundation

/// `{name}` placeholders in an evaluator's argument list (docs/evaluators.md): `{checkpoint}`,
/// `{trial_dir}`, `{params_json}`, `{trial}`, `{seed}` and each parameter by name. `{{` and `}}`
/// are literal braces. Each argument is expanded on its own: a value never splits into
/// several arguments and is never re-expanded.
public enum Placeholders {
    /// The placeholders every trial defines (parameters come on top).
    public static let builtIn: [String] = ["checkpoint", "trial_dir", "params_json", "trial", "seed"]

    /// Expands `{name}` in each argument from `values`; an unknown placeholder is an error
    /// naming it and listing the known ones.
    public static func expand(_ argv: [String], _ values: [String: String]) throws -> [String] {
        try argv.enumerated().map { i, arg in
            try expand(arg, index: i) { name in values[name] } unknown: { name in
                unknownError(name, index: i, arg: arg, known: Set(values.keys))
            }
        }
    }

    /// Checks every placeholder against `known` (at spec-parse time), and the brace syntax.
    public static func check(_ argv: [String], known: Set<String>) throws {
        for (i, arg) in argv.enumerated() {
            _ = try expand(arg, index: i) { name in known.contains(name) ? "" : nil } unknown: { name in
                unknownError(name, index: i, arg: arg, known: known)
            }
        }
    }

    /// The placeholder names used in `argv` (syntax errors are left to `check`).
    public static func names(in argv: [String]) -> Set<String> {
        var found = Set<String>()
        for (i, arg) in argv.enumerated() {
            _ = try? expand(arg, index: i) { name in found.insert(name); return "" } unknown: { _ in EvaluationError("") }
        }
        return found
    }

    private static func unknownError(_ name: String, index: Int, arg: String, known: Set<String>) -> EvaluationError {
        EvaluationError("command[\(index)] `\(arg)`: unknown placeholder {\(name)}; known: "
            + known.sorted().map { "{\($0)}" }.joined(separator: ", ") + " (write {{ and }} for literal braces)")
    }

    private static func expand(_ arg: String, index: Int, lookup: (String) -> String?,
                               unknown: (String) -> EvaluationError) throws -> String {
        var out = ""
        var i = arg.startIndex
        while i < arg.endIndex {
            let c = arg[i]
            let next = arg.index(after: i)
            if c == "{" {
                if next < arg.endIndex, arg[next] == "{" { out.append("{"); i = arg.index(after: next); continue }
                guard let close = arg[next...].firstIndex(of: "}") else {
                    throw EvaluationError("command[\(index)] `\(arg)`: `{` without a closing `}` (write {{ for a literal brace)")
                }
                let name = String(arg[next..<close])
                guard !name.isEmpty, !name.contains("{") else {
                    throw EvaluationError("command[\(index)] `\(arg)`: `{\(name)}` is not a placeholder name (write {{ and }} for literal braces)")
                }
                guard let value = lookup(name) else { throw unknown(name) }
                out += value
                i = arg.index(after: close)
            } else if c == "}" {
                guard next < arg.endIndex, arg[next] == "}" else {
                    throw EvaluationError("command[\(index)] `\(arg)`: `}` without an opening `{` (write }} for a literal brace)")
                }
                out.append("}")
                i = arg.index(after: next)
            } else {
                out.append(c)
                i = next
            }
        }
        return out
    }
}
