import Foundation

/// Where a user's evaluator puts its score and how mergetune reads it (docs/evaluators.md).
public struct ScoreSpec: Codable, Sendable, Equatable {
    public enum Source: Codable, Sendable, Equatable {
        /// The last non-empty line of stdout: a decimal number, or a JSON object with a `score`
        /// key (and sub-metrics under other keys).
        case stdout
        /// The whole of stdout, trimmed, is exactly one decimal number.
        case stdoutStrict
        /// A JSON file the command writes: `path` relative to the attempt directory (a leading
        /// `{trial_dir}/` is allowed), `key` a dotted key path to the score.
        case jsonFile(path: String, key: String)
        /// lm-evaluation-harness, run with `--output_path <directory>/lm_eval`.
        case lmEval
        /// lmms-eval, run with `--output_path <directory>/lmms_eval`.
        case lmmsEval
    }

    public enum Direction: String, Codable, Sendable, Equatable, CaseIterable {
        case maximize, minimize
    }

    public var source: Source
    /// Recorded metrics: name → key (stdout JSON / json file: a dotted key path; lm-eval and
    /// lmms-eval: "task/metric,filter", e.g. "mmmu_val/acc,none"). They go into the trial's
    /// extras, raw (before `direction`).
    public var metrics: [String: String]
    /// score = Σ weight·metric over these (nil: the source's own score: the stdout number, the
    /// JSON `score` key, the json file's key; for lm-eval with one metric, that metric).
    public var weights: [String: Double]?
    /// The value handed back is always "bigger is better" (minimize: −score); the raw score is
    /// kept in extras["score"].
    public var direction: Direction

    /// The extras key that holds the raw score; no recorded metric may use it.
    public static let scoreKey = "score"
    /// The subdirectory of the attempt directory that lm-eval's `--output_path` must name.
    public static let lmEvalOutputDirectory = "lm_eval"
    /// The subdirectory of the attempt directory that lmms-eval's `--output_path` must name.
    public static let lmmsEvalOutputDirectory = "lmms_eval"

    public init(source: Source, metrics: [String: String] = [:], weights: [String: Double]? = nil,
                direction: Direction = .maximize) {
        self.source = source; self.metrics = metrics; self.weights = weights; self.direction = direction
    }

    /// The subdirectory (of the attempt directory) the harness writes to, for lm-eval and
    /// lmms-eval; nil for the other sources.
    public var outputDirectory: String? {
        switch source {
        case .lmEval: return ScoreSpec.lmEvalOutputDirectory
        case .lmmsEval: return ScoreSpec.lmmsEvalOutputDirectory
        default: return nil
        }
    }

    /// The spec's name for the source, as in messages and docs.
    public var sourceName: String {
        switch source {
        case .stdout: return "stdout"
        case .stdoutStrict: return "stdout_strict"
        case .jsonFile: return "json_file"
        case .lmEval: return "lm-eval"
        case .lmmsEval: return "lmms-eval"
        }
    }

    /// Checks the spec at parse time; the messages name the field and what to change.
    public func validate() throws {
        for name in metrics.keys.sorted() {
            if name.isEmpty { throw EvaluationError("score.metrics: a metric has an empty name") }
            if name == ScoreSpec.scoreKey {
                throw EvaluationError("score.metrics: `score` is reserved for the trial's raw score; rename that metric")
            }
            if metrics[name]!.isEmpty { throw EvaluationError("score.metrics.\(name): empty key") }
        }
        if let weights {
            if weights.isEmpty { throw EvaluationError("score.weights: empty; leave it out to use the source's own score") }
            for (name, w) in weights.sorted(by: { $0.key < $1.key }) {
                guard metrics[name] != nil else {
                    let known = metrics.keys.sorted()
                    throw EvaluationError("score.weights.\(name): not a recorded metric; add it to score.metrics"
                        + (known.isEmpty ? "" : " (recorded: \(known.joined(separator: ", ")))"))
                }
                guard w.isFinite else { throw EvaluationError("score.weights.\(name): \(w) is not a finite number") }
            }
        }
        switch source {
        case .stdout:
            break
        case .stdoutStrict:
            if !metrics.isEmpty || weights != nil {
                throw EvaluationError("score: stdout_strict reads exactly one number, so it records no metrics and no weights; use `stdout` with a JSON object instead")
            }
        case .jsonFile(let path, let key):
            _ = try ScoreSpec.relativePath(path)
            if key.isEmpty && weights == nil {
                throw EvaluationError("score.key: empty; name the score's key in \(path) (a dotted path like `eval.accuracy`) or give score.weights")
            }
        case .lmEval, .lmmsEval:
            if metrics.isEmpty {
                throw EvaluationError("score.metrics: \(sourceName) needs at least one metric as \"task/metric,filter\", e.g. {acc = \"arc_easy/acc,none\"}")
            }
            for (name, key) in metrics.sorted(by: { $0.key < $1.key }) {
                guard let slash = key.lastIndex(of: "/"), slash != key.startIndex, key.index(after: slash) != key.endIndex else {
                    throw EvaluationError("score.metrics.\(name): `\(key)` is not \"task/metric,filter\" (e.g. \"arc_easy/acc,none\")")
                }
                if !key[key.index(after: slash)...].contains(",") {
                    throw EvaluationError("score.metrics.\(name): `\(key)` has no filter; \(sourceName) keys are \"metric,filter\", e.g. \"\(key),none\"")
                }
            }
            if weights == nil && metrics.count > 1 {
                throw EvaluationError("score.weights: \(sourceName) records \(metrics.count) metrics (\(metrics.keys.sorted().joined(separator: ", "))); give weights to say how they combine into the score")
            }
        }
    }

    /// The json file's path relative to the attempt directory: a leading `{trial_dir}/` is
    /// dropped; absolute paths, `..` and other placeholders are refused.
    static func relativePath(_ path: String) throws -> String {
        var p = path
        if p.hasPrefix("{trial_dir}/") { p.removeFirst("{trial_dir}/".count) }
        if p.isEmpty { throw EvaluationError("score.path: empty; name the JSON file the command writes, relative to the trial directory") }
        if p.hasPrefix("/") {
            throw EvaluationError("score.path: `\(path)` is absolute; give it relative to the trial directory (or as {trial_dir}/NAME), so every trial reads its own file")
        }
        if p.split(separator: "/").contains("..") {
            throw EvaluationError("score.path: `\(path)` leaves the trial directory (`..`); every trial must read its own file")
        }
        if p.contains("{") || p.contains("}") {
            throw EvaluationError("score.path: `\(path)` holds a placeholder other than a leading {trial_dir}/")
        }
        return p
    }
}

/// A command to run as a trial's evaluator.
public struct EvaluatorCommand: Codable, Sendable, Equatable {
    /// The argument list, placeholders already expanded (no shell: a shell is the user's choice,
    /// e.g. ["bash", "-c", "..."]). A bare argv[0] is looked up in PATH; a relative one is
    /// taken from the attempt directory (the working directory).
    public var argv: [String]
    /// Additions to the inherited environment.
    public var environment: [String: String]
    /// Seconds one attempt may run; nil: no limit.
    public var timeout: Double?
    /// Seconds between SIGTERM and SIGKILL.
    public var grace: Double
    /// Stdout beyond this many bytes stops the evaluator and fails it as `output_too_large`.
    public var maxStdoutBytes: Int

    public static let defaultGrace = 10.0
    public static let defaultMaxStdoutBytes = 64 << 20

    public init(argv: [String], environment: [String: String] = [:], timeout: Double? = nil,
                grace: Double = EvaluatorCommand.defaultGrace, maxStdoutBytes: Int = EvaluatorCommand.defaultMaxStdoutBytes) {
        self.argv = argv; self.environment = environment; self.timeout = timeout
        self.grace = grace; self.maxStdoutBytes = maxStdoutBytes
    }

    enum CodingKeys: String, CodingKey { case argv, environment, timeout, grace, maxStdoutBytes }

    /// `environment`, `grace` and `maxStdoutBytes` may be left out (their defaults).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(argv: try c.decode([String].self, forKey: .argv),
                  environment: try c.decodeIfPresent([String: String].self, forKey: .environment) ?? [:],
                  timeout: try c.decodeIfPresent(Double.self, forKey: .timeout),
                  grace: try c.decodeIfPresent(Double.self, forKey: .grace) ?? EvaluatorCommand.defaultGrace,
                  maxStdoutBytes: try c.decodeIfPresent(Int.self, forKey: .maxStdoutBytes) ?? EvaluatorCommand.defaultMaxStdoutBytes)
    }
}

/// A spec or placeholder error; the message names the field and what to do.
public struct EvaluationError: Error, LocalizedError, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var errorDescription: String? { message }
    public var description: String { message }
}
