import Foundation
import MergetuneNumerics

/// One evaluation example: the answer tokens are tokens[answerStart ..< count-1] (the last token is `<eos>`).
public struct TaskExample: Sendable, Decodable {
    public let tokens: [Int]
    public let answerStart: Int
    /// Image patches (3 glyphs × 35 pixels) of image tasks.
    public let image: [Float]?

    enum CodingKeys: String, CodingKey { case tokens, answerStart = "answer_start", image }

    public init(tokens: [Int], answerStart: Int, image: [Float]? = nil) {
        self.tokens = tokens; self.answerStart = answerStart; self.image = image
    }

    public var input: DecoderModel.Input { DecoderModel.Input(tokens: tokens, image: image) }
}

public enum Split: String, Sendable, CaseIterable, Codable { case validation, test }

/// A task's fixed evaluation splits, `data/<task>.json` (exported by export_eval.py).
public struct TaskData: Sendable {
    public let task: String
    public let validation: [TaskExample]
    public let test: [TaskExample]

    public func examples(_ split: Split) -> [TaskExample] { split == .validation ? validation : test }

    public static let names = ["copy", "add", "copy_w", "sum3", "see", "see_w", "see_sum"]

    public static func load(task: String, directory: URL) throws -> TaskData {
        struct File: Decodable { let task: String; let validation: [TaskExample]; let test: [TaskExample] }
        let url = directory.appendingPathComponent("data/\(task).json")
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TestbedError("\(url.path): cannot read task data") }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw TestbedError("\(url.path): invalid task data: \(error)")
        }
        guard file.task == task else { throw TestbedError("\(url.path): holds task '\(file.task)', expected '\(task)'") }
        for (i, e) in (file.validation + file.test).enumerated() {
            guard e.answerStart >= 1, e.answerStart < e.tokens.count - 1 else {
                throw TestbedError("\(url.path): example \(i): answer_start \(e.answerStart) outside its \(e.tokens.count) tokens")
            }
        }
        return TaskData(task: task, validation: file.validation, test: file.test)
    }
}

/// Teacher-forced scores of one task: per-example exact match and mean answer log-probability.
public struct TaskScore: Sendable {
    public let exact: [Double]
    public let logprob: [Double]
    public var exactMatch: Double { exact.reduce(0, +) / Double(max(1, exact.count)) }
    public var meanLogprob: Double { logprob.reduce(0, +) / Double(max(1, logprob.count)) }

    public func values(_ metric: Metric) -> [Double] { metric == .exactMatch ? exact : logprob }
    public func mean(_ metric: Metric) -> Double { metric == .exactMatch ? exactMatch : meanLogprob }
}

public enum Metric: String, Sendable, CaseIterable, Codable {
    case meanLogprob = "mean_logprob"
    case exactMatch = "exact_match"
}

extension DecoderModel {
    /// family.py's `score`: position p predicts token p+1; exact = argmax equals the answer at every
    /// answer position (the closing `<eos>` excluded); log-prob = mean over the answer tokens.
    public func score(_ examples: [TaskExample]) throws -> TaskScore {
        score(examples, logits: try self.logits(examples.map(\.input)))
    }

    /// `score` from the packed logits of the examples (`logits(_:)`).
    public func score(_ examples: [TaskExample], logits: [Float]) -> TaskScore {
        let vocab = config.vocabSize
        var exact: [Double] = [], logprob: [Double] = []
        var row0 = 0
        for e in examples {
            var allRight = true
            var lpSum = 0.0
            let positions = (e.answerStart - 1)..<(e.tokens.count - 2)
            for p in positions {
                let target = e.tokens[p + 1]
                let base = (row0 + p) * vocab
                var m = -Float.infinity, arg = 0
                for j in 0..<vocab where logits[base + j] > m { m = logits[base + j]; arg = j }
                // log-softmax in Double around the max, as a stable reference.
                var z = 0.0
                for j in 0..<vocab { z += Foundation.exp(Double(logits[base + j] - m)) }
                lpSum += Double(logits[base + target] - m) - Foundation.log(z)
                if arg != target { allRight = false }
            }
            exact.append(allRight ? 1 : 0)
            logprob.append(lpSum / Double(positions.count))
            row0 += e.tokens.count
        }
        return TaskScore(exact: exact, logprob: logprob)
    }
}

/// FRISM's vision-preservation term: KL(teacher ‖ student) of the next-token distributions at
/// the answer positions `score` reads (position p predicts token p+1, the closing `<eos>`
/// excluded), averaged over an example's positions, then over the examples. Log-softmax in
/// Double around each row's maximum. `teacher` and `student` are packed logits of `examples`.
public func meanKL(teacher: [Float], student: [Float], examples: [TaskExample], vocab: Int) -> Double {
    var total = 0.0
    var row0 = 0
    for e in examples {
        let positions = (e.answerStart - 1)..<(e.tokens.count - 2)
        var sum = 0.0
        for p in positions {
            let base = (row0 + p) * vocab
            func logSoftmax(_ x: [Float]) -> [Double] {
                var m = -Float.infinity
                for j in 0..<vocab where x[base + j] > m { m = x[base + j] }
                var z = 0.0
                for j in 0..<vocab { z += Foundation.exp(Double(x[base + j] - m)) }
                let lz = Foundation.log(z)
                return (0..<vocab).map { Double(x[base + $0] - m) - lz }
            }
            let lp = logSoftmax(teacher), lq = logSoftmax(student)
            for j in 0..<vocab { sum += Foundation.exp(lp[j]) * (lp[j] - lq[j]) }
        }
        total += positions.isEmpty ? 0 : sum / Double(positions.count)
        row0 += e.tokens.count
    }
    return examples.isEmpty ? 0 : total / Double(examples.count)
}

/// A seeded percentile bootstrap of a mean (2.5% and 97.5% of `resamples` resampled means).
public struct Interval: Sendable, Equatable, Codable {
    public let low: Double
    public let high: Double
}

public enum Bootstrap {
    public static let defaultResamples = 1000

    /// 95% interval of f(means of the resampled groups); each group is resampled independently
    /// (e.g. the retention objective averages perception and skill over two example sets).
    public static func interval(_ groups: [[Double]], seed: UInt64, resamples: Int = defaultResamples,
                                combine: ([Double]) -> Double = { $0.reduce(0, +) / Double($0.count) }) -> Interval {
        let rng = RandomGenerator(seed: seed)
        var stats: [Double] = []
        stats.reserveCapacity(resamples)
        for _ in 0..<resamples {
            let means = groups.map { g -> Double in
                guard !g.isEmpty else { return .nan }
                var s = 0.0
                for _ in 0..<g.count { s += g[rng.integer(below: g.count)] }
                return s / Double(g.count)
            }
            stats.append(combine(means))
        }
        stats.sort()
        func q(_ p: Double) -> Double { stats[min(stats.count - 1, max(0, Int((p * Double(stats.count - 1)).rounded())))] }
        return Interval(low: q(0.025), high: q(0.975))
    }
}
