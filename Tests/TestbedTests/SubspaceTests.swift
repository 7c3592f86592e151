import Foundation
import Fusion
import Testing
@testable import Testbed

@Suite struct FrismObjectiveTests {
    /// KL(P ‖ Q) at the answer positions against the closed form Σ p log(p/q) of two softmaxes,
    /// on a tiny vocabulary of 3: an example of 5 tokens answering from position 2 is scored at
    /// positions 1 and 2 (the closing `<eos>` excluded); a second example of 4 tokens at position 1.
    @Test func meanKLMatchesADirectComputation() {
        let vocab = 3
        let examples = [TaskExample(tokens: [0, 1, 2, 1, 2], answerStart: 2), TaskExample(tokens: [2, 0, 1, 2], answerStart: 2)]
        var teacher = [Float](repeating: 0, count: 9 * vocab), student = teacher
        for i in teacher.indices { teacher[i] = Float((i * 7) % 5) * 0.5 - 1; student[i] = Float((i * 3) % 4) * 0.4 - 0.6 }
        func kl(_ row: Int) -> Double {
            let t = (0..<vocab).map { Double(teacher[row * vocab + $0]) }, s = (0..<vocab).map { Double(student[row * vocab + $0]) }
            let zt = t.map(exp).reduce(0, +), zs = s.map(exp).reduce(0, +)
            return (0..<vocab).reduce(0.0) { acc, j in
                let p = exp(t[j]) / zt, q = exp(s[j]) / zs
                return acc + p * log(p / q)
            }
        }
        // Example 0: rows 1, 2; example 1 starts at row 5 and is scored at row 5 + 1.
        let want = ((kl(1) + kl(2)) / 2 + kl(6)) / 2
        let got = meanKL(teacher: teacher, student: student, examples: examples, vocab: vocab)
        // meanKL takes the logit differences in Float (as `score` does): agreement to ~1e-10.
        #expect(abs(got - want) < 1e-8, "\(got) vs \(want)")
        #expect(got > 0)
        #expect(meanKL(teacher: teacher, student: teacher, examples: examples, vocab: vocab) == 0)
    }

    /// On the testbed: all gates 0 is the VLM (KL 0, spectral 0, the VLM's scores); all gates 1
    /// at λ_R = 1 is task arithmetic at (1, 1) up to float rounding, with spectral 1.
    @Test func subspaceEndpointsOnTheTestbed() throws {
        let e = try TestbedEvaluator(directory: Shared.directory, scenario: .language, objective: .frism, frismAlpha: 0.5)
        func spec(_ g: Double, _ lambda: Double) -> MergeSpec {
            MergeSpec(method: .subspace, expWeight: lambda, subspace: SubspaceConfig(bands: [2, 8, 24], gates: [g, g, g, g]))
        }
        let closed = try e.evaluate(spec: spec(0, 1))
        let vlm = try e.evaluate(decoder: e.family.vlm)
        #expect(closed.perceptionKL == 0 && closed.spectral == 0 && closed.value == 0)
        #expect(closed.target == vlm.target && closed.perception == vlm.perception && closed.skill == vlm.skill)
        let open = try e.evaluate(spec: spec(1, 1))
        let ta = try e.evaluate(spec: MergeSpec(method: .taskArithmetic, vlWeight: 1, expWeight: 1))
        #expect(abs(open.spectral! - 1) < 1e-9)
        #expect(abs(open.target - ta.target) < 1e-4 && abs(open.perceptionKL! - ta.perceptionKL!) < 1e-4)
        #expect(abs(open.value - (-open.perceptionKL! + 0.5)) < 1e-12)
        #expect(open.perceptionKL! > 0)
        // Half the gates: a quarter of the energy (spectral is quadratic in the gates).
        #expect(abs(try e.evaluate(spec: spec(0.5, 1)).spectral! - 0.25) < 1e-9)
    }
}
