import Foundation

/// FRANK's attention prior measured on the VLM: a_l = the mean share of attention that the
/// text tokens after the image tokens pay to the image tokens, in layer l, averaged over
/// heads, over the prompt positions (after the image, before the answer: what the model
/// attends to when it starts answering) and over the examples.
public enum AttentionProbe {
    /// Per-layer shares (layer 0 first) of `model` on the image examples.
    public static func shares(model: DecoderModel, examples: [TaskExample]) throws -> [Double] {
        let images = examples.filter { $0.image != nil }
        guard !images.isEmpty else { throw TestbedError("the attention probe needs examples with images") }
        let L = model.config.layerCount
        var acc: DecoderModel.ShareAccumulator? = .init(sum: [Double](repeating: 0, count: L), count: [Int](repeating: 0, count: L))
        _ = try model.forward(images.map(\.input), promptEnd: images.map(\.answerStart), shares: &acc)
        let a = acc!
        guard a.count.allSatisfy({ $0 > 0 }) else { throw TestbedError("no text positions follow the image tokens") }
        return zip(a.sum, a.count).map { $0 / Double($1) }
    }

    /// The attention CSV that `mergetune weights --attention` reads (`readAttentionShares`):
    /// `layer,share` rows, layer numbered from 1 as in FRANK's fit, with provenance comments
    /// after the header (the reader skips a header only on the first line).
    public static func csv(shares: [Double], provenance: [String]) -> String {
        var out = "layer,share\n"
        out += provenance.map { "# \($0)\n" }.joined()
        for (i, s) in shares.enumerated() { out += "\(i + 1),\(String(format: "%.8g", s))\n" }
        return out
    }
}
