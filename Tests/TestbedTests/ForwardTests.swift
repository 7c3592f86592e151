import Foundation
import Testing
@testable import Testbed

/// The family and the PyTorch reference, loaded once for all tests.
enum Shared {
    static let directory: URL = try! TestbedFamily.locate()
    static let family: TestbedFamily = try! TestbedFamily(directory: directory)

    struct Reference: Decodable {
        struct Entry: Decodable {
            let tokens: [Int]
            let image: [Float]?
            let logits: [[Double]]
        }
        struct Score: Decodable { let exact_match: Double; let mean_logprob: Double }
        struct Model: Decodable { let inputs: [Entry]; let validation_scores: [String: Score] }
        let models: [String: Model]
    }
    static let reference: Reference = {
        let data = FileManager.default.contents(atPath: directory.appendingPathComponent("reference/logits.json").path)!
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()
}

@Suite struct ForwardPassTests {
    @Test(arguments: TestbedFamily.modelNames)
    func logitsMatchPyTorch(model name: String) throws {
        let model = try Shared.family.parent(name)
        let ref = try #require(Shared.reference.models[name])
        #expect(ref.inputs.count >= 3)
        var maxDiff = 0.0
        // One packed batch of all reference inputs: also checks that packing does not mix examples.
        let logits = try model.logits(ref.inputs.map { DecoderModel.Input(tokens: $0.tokens, image: $0.image) })
        let vocab = model.config.vocabSize
        var row = 0
        for entry in ref.inputs {
            #expect(entry.logits.count == entry.tokens.count)
            for (p, expected) in entry.logits.enumerated() {
                #expect(expected.count == vocab)
                for (j, x) in expected.enumerated() {
                    maxDiff = max(maxDiff, abs(Double(logits[(row + p) * vocab + j]) - x))
                }
            }
            row += entry.tokens.count
        }
        print("max |logit − PyTorch| for \(name): \(maxDiff)")
        #expect(maxDiff < 1e-4, "\(name): max logit difference \(maxDiff)")
        #expect(maxDiff > 0, "float32 reorderings always differ a little: zero would mean nothing was compared")
    }

    @Test(arguments: TestbedFamily.modelNames)
    func validationScoresMatchPyTorch(model name: String) throws {
        let model = try Shared.family.parent(name)
        let ref = try #require(Shared.reference.models[name])
        #expect(!ref.validation_scores.isEmpty)
        for (task, expected) in ref.validation_scores {
            let data = try TaskData.load(task: task, directory: Shared.directory)
            let s = try model.score(data.validation)
            #expect(abs(s.exactMatch - expected.exact_match) < 1e-9, "\(name) \(task): exact \(s.exactMatch) vs \(expected.exact_match)")
            #expect(abs(s.meanLogprob - expected.mean_logprob) < 1e-4, "\(name) \(task): log-prob \(s.meanLogprob) vs \(expected.mean_logprob)")
        }
    }

    @Test func imageTokensNeedAnImage() throws {
        let vlm = try Shared.family.parent("vlm")
        #expect(throws: TestbedError.self) { try vlm.logits([.init(tokens: [1, 38, 38, 38, 3], image: nil)]) }
        #expect(throws: TestbedError.self) { try vlm.logits([.init(tokens: [1, 99], image: nil)]) }
    }
}
