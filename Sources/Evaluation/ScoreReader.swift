import Executors
import Foundation
import MergetuneNumerics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a finished evaluator's score from stdout, a JSON file or an lm-eval / lmms-eval results
/// file (docs/evaluators.md). Every failure names the file and what was missing or wrong.
enum ScoreReader {
    struct Scored {
        var value: Double
        var extras: [String: Double]
        /// A remark on a success (an lm-eval --limit, a direction that disagrees with the harness).
        var note: String?
    }

    struct Failure: Error {
        var reason: FailureReason
        var message: String
        init(_ reason: FailureReason, _ message: String) { self.reason = reason; self.message = message }
    }

    /// A file's identity and version: one left from an earlier attempt keeps all of these.
    struct Stamp: Equatable {
        var device: UInt64, inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int
    }

    static func stamp(_ path: String) -> Stamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Stamp(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                     seconds: Int(st.st_mtim.tv_sec), nanoseconds: Int(st.st_mtim.tv_nsec))
    }

    /// The files a score would be read from that already exist, with their stamps.
    static func snapshot(_ score: ScoreSpec, directory: String) -> [String: Stamp] {
        var out: [String: Stamp] = [:]
        switch score.source {
        case .jsonFile(let path, _):
            if let rel = try? ScoreSpec.relativePath(path) {
                let p = (directory as NSString).appendingPathComponent(rel)
                if let s = stamp(p) { out[p] = s }
            }
        case .lmEval, .lmmsEval:
            for p in resultsFiles(score, directory: directory) { if let s = stamp(p) { out[p] = s } }
        case .stdout, .stdoutStrict:
            break
        }
        return out
    }

    static func read(_ score: ScoreSpec, stdoutPath: String, directory: String, tailBytes: Int,
                     maxStdoutBytes: Int, before: [String: Stamp]) -> Result<Scored, Failure> {
        do {
            let raw: (score: Double, metrics: [String: Double], note: String?)
            switch score.source {
            case .stdout, .stdoutStrict:
                raw = try readStdout(score, path: stdoutPath, tailBytes: tailBytes, maxBytes: maxStdoutBytes)
            case .jsonFile(let path, let key):
                raw = try readJSONFile(score, path: path, key: key, directory: directory, before: before)
            case .lmEval, .lmmsEval:
                raw = try readHarness(score, directory: directory, before: before)
            }
            guard raw.score.isFinite else {
                throw Failure(.nonFinite, "the score is \(raw.score) (a weighted sum that overflowed?)")
            }
            var extras = raw.metrics
            extras[ScoreSpec.scoreKey] = raw.score
            let value = score.direction == .maximize ? raw.score : -raw.score
            return .success(Scored(value: value, extras: extras, note: raw.note))
        } catch let f as Failure {
            return .failure(f)
        } catch {
            return .failure(Failure(.badJSON, "\(error)"))
        }
    }

    // MARK: Numbers

    enum Number { case finite(Double), nonFinite, notANumber(String) }

    static func number(_ text: String) -> Number {
        if let v = DecimalNumber.parse(text) { return .finite(v) }
        if DecimalNumber.isNonFinite(text) { return .nonFinite }
        return .notANumber(DecimalNumber.problem(text))
    }

    /// A JSON value as a metric: a finite number, or the failure naming `what`.
    static func metricValue(_ v: JSONValue, _ what: String) throws -> Double {
        switch v {
        case .number(let d):
            guard d.isFinite else { throw Failure(.nonFinite, "\(what) is \(d): never a value") }
            return d
        case .null:
            throw Failure(.nonFinite, "\(what) is null: never a value")
        default:
            throw Failure(.notANumber, "\(what) is \(v.typeName) (\(v.shortText)), not a number")
        }
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C }

    static func trim(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while let f = s.first, isSpace(f) { s = s.dropFirst() }
        while let l = s.last, isSpace(l) { s = s.dropLast() }
        return s
    }

    /// One number from text that may hold several words: `ambiguous` when two or more of them
    /// are numbers, `not_a_number` when it is not one number.
    static func single(_ text: String, _ what: String) throws -> Double {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" })
        if words.count > 1 {
            let numeric = words.filter { if case .notANumber = number(String($0)) { return false }; return true }.count
            let shown = text.count > 80 ? String(text.prefix(80)) + "…" : text
            if numeric >= 2 { throw Failure(.ambiguous, "\(what) holds \(numeric) numbers (`\(shown)`); it must hold exactly one") }
            throw Failure(.notANumber, "\(what) is `\(shown)`, not a single decimal number")
        }
        switch number(text) {
        case .finite(let v): return v
        case .nonFinite: throw Failure(.nonFinite, "\(what) is `\(text)`: NaN and ±inf are never a value")
        case .notANumber(let why): throw Failure(.notANumber, "\(what): \(why)")
        }
    }

    // MARK: stdout

    static func readStdout(_ score: ScoreSpec, path: String, tailBytes: Int, maxBytes: Int) throws -> (score: Double, metrics: [String: Double], note: String?) {
        let name = (path as NSString).lastPathComponent
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Failure(.noOutput, "no stdout: \(path) does not exist")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        if size > UInt64(maxBytes) {
            throw Failure(.outputTooLarge, "stdout (\(name)) is \(size) bytes, over the limit of \(maxBytes)")
        }
        // One byte more than the tail: a newline there means the last line starts in the tail.
        let window = UInt64(tailBytes) + 1
        let start = size > window ? size - window : 0
        try? handle.seek(toOffset: start)
        let tail = [UInt8]((try? handle.readToEnd()) ?? Data())
        let truncated = start > 0

        if case .stdoutStrict = score.source {
            if size > UInt64(tailBytes) {
                throw Failure(.outputTooLarge, "stdout (\(name)) is \(size) bytes; stdout_strict expects it to be one number")
            }
            let body = trim(tail[...])
            if body.isEmpty { throw Failure(.noOutput, "stdout (\(name)) is empty; the evaluator must print its score") }
            guard let text = String(validating: body, as: UTF8.self) else {
                throw Failure(.notANumber, "stdout (\(name)) is not valid UTF-8")
            }
            return (try single(text, "stdout (\(name))"), [:], nil)
        }

        // The last non-empty line.
        var end = tail.count
        var line: ArraySlice<UInt8> = []
        var lineStart = 0
        while end > 0 {
            let nl = tail[..<end].lastIndex(of: 0x0A)
            lineStart = nl.map { $0 + 1 } ?? 0
            let candidate = trim(tail[lineStart..<end])
            if !candidate.isEmpty { line = candidate; break }
            end = nl ?? 0
        }
        if line.isEmpty {
            if truncated { throw Failure(.noOutput, "the last \(tail.count) bytes of stdout (\(name)) are blank") }
            throw Failure(.noOutput, "stdout (\(name)) is empty or blank; the evaluator must print its score on the last line")
        }
        if truncated && lineStart == 0 {
            throw Failure(.outputTooLarge, "the last line of stdout (\(name)) is longer than \(tailBytes) bytes")
        }
        guard let text = String(validating: line, as: UTF8.self) else {
            throw Failure(.notANumber, "the last line of stdout (\(name)) is not valid UTF-8")
        }
        if text.hasPrefix("{") {
            let doc: JSONValue
            do {
                doc = try JSONValue.parse(Data(text.utf8))
            } catch {
                if case .syntax(let why) = error {
                    throw Failure(.badJSON, "the last line of stdout (\(name)) starts with `{` but is not JSON: \(why)")
                }
                throw Failure(.badJSON, "the last line of stdout (\(name)) is not valid UTF-8")
            }
            guard case .object = doc else { throw Failure(.badJSON, "the last line of stdout (\(name)) is not a JSON object") }
            return try scoreFrom(doc, score, ownKey: ScoreSpec.scoreKey, where: "stdout JSON (\(name))")
        }
        if !score.metrics.isEmpty || score.weights != nil {
            throw Failure(.badJSON, "score.metrics asks for \(score.metrics.keys.sorted().joined(separator: ", ")), but the last line of stdout (\(name)) is not a JSON object: `\(text.prefix(80))`")
        }
        return (try single(text, "the last line of stdout (\(name))"), [:], nil)
    }

    /// The recorded metrics and the score from a JSON document: the weighted sum, or `ownKey`.
    static func scoreFrom(_ doc: JSONValue, _ score: ScoreSpec, ownKey: String, where place: String) throws -> (score: Double, metrics: [String: Double], note: String?) {
        var metrics: [String: Double] = [:]
        for (name, key) in score.metrics.sorted(by: { $0.key < $1.key }) {
            switch doc.lookup(key) {
            case .success(let v): metrics[name] = try metricValue(v, "\(place): metric \(name) (`\(key)`)")
            case .failure(let f): throw Failure(.badJSON, "\(place): metric \(name): \(f.describe(key))")
            }
        }
        if let weights = score.weights {
            return (weights.reduce(0) { $0 + $1.value * metrics[$1.key]! }, metrics, nil)
        }
        switch doc.lookup(ownKey) {
        case .success(let v): return (try metricValue(v, "\(place): `\(ownKey)`"), metrics, nil)
        case .failure(let f): throw Failure(.badJSON, "\(place): \(f.describe(ownKey)); the score must be there (or give score.weights)")
        }
    }

    // MARK: JSON file

    static func readJSONFile(_ score: ScoreSpec, path: String, key: String, directory: String,
                             before: [String: Stamp]) throws -> (score: Double, metrics: [String: Double], note: String?) {
        let rel: String
        do { rel = try ScoreSpec.relativePath(path) } catch { throw Failure(.missingFile, "\(error)") }
        let full = (directory as NSString).appendingPathComponent(rel)
        guard let now = stamp(full) else {
            throw Failure(.missingFile, "\(full): no such file; the evaluator must write it before exiting 0")
        }
        if let old = before[full], old == now {
            throw Failure(.missingFile, "\(full): not written by this attempt (it is unchanged since before the evaluator started)")
        }
        let doc = try loadJSON(full, size: now.size)
        return try scoreFrom(doc, score, ownKey: key, where: full)
    }

    static func loadJSON(_ path: String, size: Int64) throws -> JSONValue {
        if size > Int64(Evaluator.maxJSONBytes) {
            throw Failure(.outputTooLarge, "\(path) is \(size) bytes, over the limit of \(Evaluator.maxJSONBytes)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(.missingFile, "\(path): cannot be read")
        }
        do {
            return try JSONValue.parse(data)
        } catch {
            switch error {
            case .notUTF8: throw Failure(.badJSON, "\(path): not valid UTF-8")
            case .syntax(let why): throw Failure(.badJSON, "\(path): not valid JSON: \(why)")
            }
        }
    }

    // MARK: lm-eval, lmms-eval

    /// Results files below the harness's output directory: lm-eval's `results_<timestamp>.json`
    /// or lmms-eval's `<timestamp>_results.json`, at any depth.
    static func resultsFiles(_ score: ScoreSpec, directory: String) -> [String] {
        guard let sub = score.outputDirectory else { return [] }
        let root = (directory as NSString).appendingPathComponent(sub)
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var out: [String] = []
        while let rel = walker.nextObject() as? String {
            if timestamp(of: (rel as NSString).lastPathComponent, score.source) != nil {
                out.append((root as NSString).appendingPathComponent(rel))
            }
        }
        return out.sorted()
    }

    /// The timestamp in a results file's name, nil when the name is not a results file's.
    static func timestamp(of name: String, _ source: ScoreSpec.Source) -> String? {
        guard name.hasSuffix(".json") else { return nil }
        let stem = name.dropLast(".json".count)
        switch source {
        case .lmEval:
            guard stem.hasPrefix("results_"), stem.count > "results_".count else { return nil }
            return String(stem.dropFirst("results_".count))
        case .lmmsEval:
            guard stem.hasSuffix("_results"), stem.count > "_results".count else { return nil }
            return String(stem.dropLast("_results".count))
        default:
            return nil
        }
    }

    static func readHarness(_ score: ScoreSpec, directory: String,
                            before: [String: Stamp]) throws -> (score: Double, metrics: [String: Double], note: String?) {
        let tool = score.sourceName
        let root = (directory as NSString).appendingPathComponent(score.outputDirectory!)
        let layout = score.source == .lmEval ? "<output_path>/<model>/results_<timestamp>.json" : "<output_path>/<model>/<timestamp>_results.json"
        let all = resultsFiles(score, directory: directory)
        let fresh = all.compactMap { p -> (path: String, stamp: Stamp)? in
            guard let s = stamp(p), before[p] != s else { return nil }
            return (p, s)
        }
        guard !fresh.isEmpty else {
            var msg = "no \(tool) results file under \(root) (\(tool) writes \(layout); run it with --output_path {trial_dir}/\(score.outputDirectory!))"
            if !all.isEmpty { msg += "; \(all.count) older results file(s) there were left by an earlier attempt and are ignored" }
            throw Failure(.missingFile, msg)
        }
        // The newest: by the timestamp in the name (both harnesses write sortable ones), then mtime.
        let newest = fresh.max { a, b in
            let ta = timestamp(of: (a.path as NSString).lastPathComponent, score.source)!
            let tb = timestamp(of: (b.path as NSString).lastPathComponent, score.source)!
            if ta != tb { return ta < tb }
            return (a.stamp.seconds, a.stamp.nanoseconds, a.path) < (b.stamp.seconds, b.stamp.nanoseconds, b.path)
        }!
        let file = newest.path
        let doc = try loadJSON(file, size: newest.stamp.size)
        guard case .object(let top) = doc else { throw Failure(.badJSON, "\(file): not a JSON object") }
        guard case .object(let results)? = top["results"] else {
            throw Failure(.badJSON, "\(file): no `results` object (is this a \(tool) results file?)")
        }
        var metrics: [String: Double] = [:]
        var notes: [String] = []
        for (name, key) in score.metrics.sorted(by: { $0.key < $1.key }) {
            let slash = key.lastIndex(of: "/")!
            let task = String(key[..<slash]), metric = String(key[key.index(after: slash)...])
            guard case .object(let taskResults)? = results[task] else {
                throw Failure(.badJSON, "\(file): no task `\(task)` in results (tasks: \(results.keys.sorted().joined(separator: ", "))); metric \(name) = \"\(key)\"")
            }
            guard let v = taskResults[metric] else {
                let has = taskResults.keys.filter { $0 != "alias" }.sorted().joined(separator: ", ")
                throw Failure(.badJSON, "\(file): results.\(task) has no metric `\(metric)` (has: \(has)); metric \(name) = \"\(key)\"")
            }
            metrics[name] = try metricValue(v, "\(file): results.\(task).\"\(metric)\" (metric \(name))")
        }
        let value: Double
        if let weights = score.weights {
            value = weights.reduce(0) { $0 + $1.value * metrics[$1.key]! }
        } else {
            let (name, key) = score.metrics.first!
            value = metrics[name]!
            // The harness says which way its metric goes; a spec that disagrees is almost surely a mistake.
            let slash = key.lastIndex(of: "/")!
            let task = String(key[..<slash])
            let metricName = String(key[key.index(after: slash)...].split(separator: ",", maxSplits: 1)[0])
            if case .object(let hib)? = top["higher_is_better"], case .object(let forTask)? = hib[task],
               case .bool(let higher)? = forTask[metricName], higher != (score.direction == .maximize) {
                notes.append("\(tool) says higher is \(higher ? "better" : "worse") for \(task)/\(metricName), but direction = \(score.direction.rawValue)")
            }
        }
        // n-samples: effective < original means a --limit, and a score from a subset.
        if case .object(let ns)? = top["n-samples"] {
            let tasks = Set(score.metrics.values.map { String($0[..<$0.lastIndex(of: "/")!]) })
            for task in tasks.sorted() {
                if case .object(let n)? = ns[task], case .number(let orig)? = n["original"], case .number(let eff)? = n["effective"], eff < orig {
                    notes.append("\(task) ran on \(Int(eff)) of \(Int(orig)) samples (--limit)")
                }
            }
        }
        notes.insert("read \(file)", at: 0)
        return (value, metrics, notes.joined(separator: "; "))
    }
}
