import Foundation
import MergetuneNumerics
import SafeTensors

/// The decoder's hyperparameters (the `text_config` of the checkpoints).
public struct TextConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double

    public var headDim: Int { hiddenSize / headCount }

    /// Reads a LLaMA `config.json` object (or a LLaVA config's `text_config`).
    init(json: [String: Any], file: String) throws {
        let text = (json["text_config"] as? [String: Any]) ?? json
        func int(_ key: String) throws -> Int {
            guard let v = text[key] as? NSNumber else { throw TestbedError("\(file): missing integer '\(key)'") }
            return v.intValue
        }
        func double(_ key: String) throws -> Double {
            guard let v = text[key] as? NSNumber else { throw TestbedError("\(file): missing number '\(key)'") }
            return v.doubleValue
        }
        vocabSize = try int("vocab_size")
        hiddenSize = try int("hidden_size")
        intermediateSize = try int("intermediate_size")
        layerCount = try int("num_hidden_layers")
        headCount = try int("num_attention_heads")
        rmsNormEps = Float(try double("rms_norm_eps"))
        ropeTheta = try double("rope_theta")
        if let kv = text["num_key_value_heads"] as? NSNumber, kv.intValue != headCount {
            throw TestbedError("\(file): grouped-query attention (num_key_value_heads \(kv.intValue) ≠ \(headCount)) is not supported")
        }
        guard hiddenSize % headCount == 0, headDim % 2 == 0 else {
            throw TestbedError("\(file): hidden_size \(hiddenSize) must split into \(headCount) heads of even size")
        }
    }
}

public struct TestbedError: Error, Sendable, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// A LLaMA-layout decoder's weights by canonical name (`model.layers.N.…`, `model.embed_tokens.weight`,
/// `model.norm.weight`, `lm_head.weight`), row-major Float as in the checkpoints.
public typealias DecoderWeights = [String: [Float]]

/// The vision tower and projector of the VLM (LLaVA names without prefix handling: the tensors are copied).
public struct VisionWeights: Sendable {
    var fc1W: [Float], fc1B: [Float], fc2W: [Float], fc2B: [Float]
    var p1W: [Float], p1B: [Float], p2W: [Float], p2B: [Float]
    let patch: Int, visionHidden: Int

    init(fc1W: [Float], fc1B: [Float], fc2W: [Float], fc2B: [Float], p1W: [Float], p1B: [Float], p2W: [Float], p2B: [Float],
         patch: Int, visionHidden: Int) {
        self.fc1W = fc1W; self.fc1B = fc1B; self.fc2W = fc2W; self.fc2B = fc2B
        self.p1W = p1W; self.p1B = p1B; self.p2W = p2W; self.p2B = p2B
        self.patch = patch; self.visionHidden = visionHidden
    }

    /// The tower and projector of a VLM checkpoint (the VLM's own, or a merge of it, which copies them).
    init(checkpoint ck: Checkpoint) throws {
        func t(_ name: String) throws -> [Float] {
            do { return try ck.tensor(name).floats() } catch { throw TestbedError("\(ck.path): \(error)") }
        }
        let fc1: TensorRef
        do { fc1 = try ck.tensor("vision_tower.fc1.weight") } catch { throw TestbedError("\(ck.path): \(error)") }
        guard fc1.shape.count == 2 else { throw TestbedError("\(ck.path): vision_tower.fc1.weight is not a matrix") }
        self.init(fc1W: try t("vision_tower.fc1.weight"), fc1B: try t("vision_tower.fc1.bias"),
                  fc2W: try t("vision_tower.fc2.weight"), fc2B: try t("vision_tower.fc2.bias"),
                  p1W: try t("multi_modal_projector.linear_1.weight"), p1B: try t("multi_modal_projector.linear_1.bias"),
                  p2W: try t("multi_modal_projector.linear_2.weight"), p2B: try t("multi_modal_projector.linear_2.bias"),
                  patch: fc1.shape[1], visionHidden: fc1.shape[0])
    }
}

/// The forward pass of family.py's `CausalLM` (and `VLM` with vision weights), in Float32 through sgemm.
/// Examples are processed as one packed batch: every per-token product runs on all tokens of all
/// examples at once ([tokens × in] · Wᵀ); attention runs per example (causal, no padding needed).
public struct DecoderModel: Sendable {
    public let config: TextConfig
    let embed: [Float], norm: [Float], lmHead: [Float]
    struct Layer: Sendable {
        let inNorm: [Float], q: [Float], k: [Float], v: [Float], o: [Float]
        let postNorm: [Float], gate: [Float], up: [Float], down: [Float]
    }
    let layers: [Layer]
    let vision: VisionWeights?
    /// Token id whose embeddings are replaced by image features.
    public let imageToken: Int?

    public init(config: TextConfig, weights: DecoderWeights, vision: VisionWeights? = nil, imageToken: Int? = nil) throws {
        let h = config.hiddenSize, f = config.intermediateSize, v = config.vocabSize
        func get(_ name: String, _ count: Int) throws -> [Float] {
            guard let w = weights[name] else { throw TestbedError("decoder weights lack '\(name)'") }
            guard w.count == count else { throw TestbedError("tensor '\(name)' has \(w.count) elements, expected \(count)") }
            return w
        }
        self.config = config
        embed = try get("model.embed_tokens.weight", v * h)
        norm = try get("model.norm.weight", h)
        lmHead = try get("lm_head.weight", v * h)
        layers = try (0..<config.layerCount).map { l in
            let p = "model.layers.\(l)."
            return Layer(inNorm: try get(p + "input_layernorm.weight", h),
                         q: try get(p + "self_attn.q_proj.weight", h * h), k: try get(p + "self_attn.k_proj.weight", h * h),
                         v: try get(p + "self_attn.v_proj.weight", h * h), o: try get(p + "self_attn.o_proj.weight", h * h),
                         postNorm: try get(p + "post_attention_layernorm.weight", h),
                         gate: try get(p + "mlp.gate_proj.weight", f * h), up: try get(p + "mlp.up_proj.weight", f * h),
                         down: try get(p + "mlp.down_proj.weight", h * f))
        }
        if let vision, vision.p2B.count != h { throw TestbedError("projector output \(vision.p2B.count) ≠ hidden size \(h)") }
        self.vision = vision
        self.imageToken = imageToken
    }

    /// One input sequence: tokens and, for image examples, the patches (imageTokens × patch floats).
    public struct Input: Sendable {
        public let tokens: [Int]
        public let image: [Float]?
        public init(tokens: [Int], image: [Float]?) { self.tokens = tokens; self.image = image }
    }

    /// Per-layer visual-attention shares collected by `forward` (see `AttentionProbe`).
    struct ShareAccumulator {
        var sum: [Double]
        var count: [Int]
    }

    /// Logits of every position of every input, packed: row r of the result is token r of the
    /// concatenated inputs (vocab floats per row). `shares`: when given, accumulates per layer the
    /// share of attention that text positions after the image tokens (up to `promptEnd[i]`,
    /// exclusive) pay to the image positions, averaged over heads.
    func forward(_ inputs: [Input], promptEnd: [Int]? = nil, shares: inout ShareAccumulator?) throws -> [Float] {
        let h = config.hiddenSize, f = config.intermediateSize, vocab = config.vocabSize
        let nh = config.headCount, hd = config.headDim
        let lengths = inputs.map { $0.tokens.count }
        let T = lengths.reduce(0, +)
        var starts = [Int](repeating: 0, count: inputs.count)
        for i in 1..<max(1, inputs.count) { starts[i] = starts[i - 1] + lengths[i - 1] }

        // Embeddings, with image features in place of the image tokens (in order).
        var x = [Float](repeating: 0, count: T * h)
        for (i, input) in inputs.enumerated() {
            var imagePatch = 0
            var feats: [Float] = []
            if let imageToken, input.tokens.contains(imageToken) {
                guard let image = input.image else { throw TestbedError("input \(i) has image tokens but no image") }
                guard let vision else { throw TestbedError("input \(i) has image tokens but the model has no vision tower") }
                feats = imageFeatures(image, vision: vision)
            }
            for (p, t) in input.tokens.enumerated() {
                guard t >= 0 && t < vocab else { throw TestbedError("input \(i): token \(t) outside the vocabulary of \(vocab)") }
                let row = (starts[i] + p) * h
                if let imageToken, t == imageToken, !feats.isEmpty {
                    guard (imagePatch + 1) * h <= feats.count else { throw TestbedError("input \(i): more image tokens than patches") }
                    for j in 0..<h { x[row + j] = feats[imagePatch * h + j] }
                    imagePatch += 1
                } else {
                    for j in 0..<h { x[row + j] = embed[t * h + j] }
                }
            }
        }

        let rope = RotaryTable(length: lengths.max() ?? 0, headDim: hd, theta: config.ropeTheta)
        var normed = [Float](repeating: 0, count: T * h)
        var q = [Float](repeating: 0, count: T * h), k = q, v = q, attn = q, proj = q
        var gate = [Float](repeating: 0, count: T * f), up = gate
        let scale = 1 / Float(hd).squareRoot()
        var scores = [Float](repeating: 0, count: (lengths.max() ?? 0))

        for (l, layer) in layers.enumerated() {
            rmsNorm(x, weight: layer.inNorm, rows: T, into: &normed)
            linear(normed, layer.q, rows: T, inDim: h, outDim: h, into: &q)
            linear(normed, layer.k, rows: T, inDim: h, outDim: h, into: &k)
            linear(normed, layer.v, rows: T, inDim: h, outDim: h, into: &v)
            for (i, len) in lengths.enumerated() {
                rope.apply(&q, start: starts[i], length: len, hidden: h, heads: nh)
                rope.apply(&k, start: starts[i], length: len, hidden: h, heads: nh)
            }
            // Causal attention per example and head.
            for (i, len) in lengths.enumerated() {
                let s0 = starts[i]
                let tokens = inputs[i].tokens
                let lastImage = imageToken.flatMap { it in tokens.lastIndex(of: it) }
                let firstImage = imageToken.flatMap { it in tokens.firstIndex(of: it) }
                for head in 0..<nh {
                    let off = head * hd
                    for p in 0..<len {
                        let qp = (s0 + p) * h + off
                        var m = -Float.infinity
                        for j in 0...p {
                            let kj = (s0 + j) * h + off
                            var d: Float = 0
                            for c in 0..<hd { d += q[qp + c] * k[kj + c] }
                            d *= scale
                            scores[j] = d
                            if d > m { m = d }
                        }
                        var z: Float = 0
                        for j in 0...p { let e = expf(scores[j] - m); scores[j] = e; z += e }
                        let inv = 1 / z
                        let out = (s0 + p) * h + off
                        for c in 0..<hd { attn[out + c] = 0 }
                        for j in 0...p {
                            let w = scores[j] * inv
                            scores[j] = w
                            let vj = (s0 + j) * h + off
                            for c in 0..<hd { attn[out + c] += w * v[vj + c] }
                        }
                        if shares != nil, let firstImage, let lastImage, p > lastImage, p < (promptEnd?[i] ?? len) {
                            var share: Float = 0
                            for j in firstImage...lastImage where tokens[j] == imageToken { share += scores[j] }
                            shares!.sum[l] += Double(share)
                            shares!.count[l] += 1
                        }
                    }
                }
            }
            linear(attn, layer.o, rows: T, inDim: h, outDim: h, into: &proj)
            for j in 0..<(T * h) { x[j] += proj[j] }
            rmsNorm(x, weight: layer.postNorm, rows: T, into: &normed)
            linear(normed, layer.gate, rows: T, inDim: h, outDim: f, into: &gate)
            linear(normed, layer.up, rows: T, inDim: h, outDim: f, into: &up)
            for j in 0..<(T * f) { let g = gate[j]; gate[j] = g / (1 + expf(-g)) * up[j] }
            linear(gate, layer.down, rows: T, inDim: f, outDim: h, into: &proj)
            for j in 0..<(T * h) { x[j] += proj[j] }
        }
        rmsNorm(x, weight: norm, rows: T, into: &normed)
        var logits = [Float](repeating: 0, count: T * vocab)
        linear(normed, lmHead, rows: T, inDim: h, outDim: vocab, into: &logits)
        return logits
    }

    /// Public form of the forward pass: packed logits (see `forward`).
    public func logits(_ inputs: [Input]) throws -> [Float] {
        var none: ShareAccumulator? = nil
        return try forward(inputs, shares: &none)
    }

    /// vision_tower (fc1, GELU, fc2) then the projector (linear_1, GELU, linear_2), per patch.
    func imageFeatures(_ image: [Float], vision w: VisionWeights) -> [Float] {
        let n = image.count / w.patch
        let vh = w.visionHidden, h = config.hiddenSize
        var a = [Float](repeating: 0, count: n * vh), b = a
        var c = [Float](repeating: 0, count: n * h), d = c
        linear(image, w.fc1W, rows: n, inDim: w.patch, outDim: vh, into: &a, bias: w.fc1B)
        gelu(&a)
        linear(a, w.fc2W, rows: n, inDim: vh, outDim: vh, into: &b, bias: w.fc2B)
        linear(b, w.p1W, rows: n, inDim: vh, outDim: h, into: &c, bias: w.p1B)
        gelu(&c)
        linear(c, w.p2W, rows: n, inDim: h, outDim: h, into: &d, bias: w.p2B)
        return d
    }

    func rmsNorm(_ x: [Float], weight: [Float], rows: Int, into out: inout [Float]) {
        let h = config.hiddenSize
        for r in 0..<rows {
            var ss: Float = 0
            for j in 0..<h { ss += x[r * h + j] * x[r * h + j] }
            let inv = 1 / (ss / Float(h) + config.rmsNormEps).squareRoot()
            for j in 0..<h { out[r * h + j] = x[r * h + j] * inv * weight[j] }
        }
    }
}

/// y = x·Wᵀ (+ b): x is [rows × inDim], W is [outDim × inDim] as stored by PyTorch.
func linear(_ x: [Float], _ w: [Float], rows: Int, inDim: Int, outDim: Int, into y: inout [Float], bias: [Float]? = nil) {
    guard rows > 0 else { return }
    x.withUnsafeBufferPointer { xp in
        w.withUnsafeBufferPointer { wp in
            y.withUnsafeMutableBufferPointer { yp in
                sgemm(transB: true, m: rows, n: outDim, k: inDim, a: xp.baseAddress!, lda: inDim,
                      b: wp.baseAddress!, ldb: inDim, c: yp.baseAddress!, ldc: outDim)
            }
        }
    }
    if let bias {
        for r in 0..<rows { for j in 0..<outDim { y[r * outDim + j] += bias[j] } }
    }
}

/// GELU with erf (PyTorch's default), computed in Double for fidelity.
func gelu(_ x: inout [Float]) {
    for i in x.indices {
        let v = Double(x[i])
        x[i] = Float(0.5 * v * (1 + erf(v / 2.0.squareRoot())))
    }
}

/// cos/sin of HF LLaMA's rotary embedding (rotate-half convention), in Float32 like PyTorch.
struct RotaryTable {
    let cos: [Float], sin: [Float]
    let half: Int

    init(length: Int, headDim d: Int, theta: Double) {
        half = d / 2
        var c = [Float](repeating: 0, count: length * half), s = c
        for i in 0..<half {
            // inv = 1 / theta^(2i/d), evaluated in float32 as torch does.
            let inv = 1 / powf(Float(theta), Float(2 * i) / Float(d))
            for p in 0..<length {
                let angle = Float(p) * inv
                c[p * half + i] = cosf(angle)
                s[p * half + i] = sinf(angle)
            }
        }
        cos = c
        sin = s
    }

    /// x ← x·cos + rotate_half(x)·sin for every head of rows [start, start+length).
    func apply(_ x: inout [Float], start: Int, length: Int, hidden: Int, heads: Int) {
        let d = 2 * half
        for p in 0..<length {
            for head in 0..<heads {
                let o = (start + p) * hidden + head * d
                for i in 0..<half {
                    let a = x[o + i], b = x[o + half + i]
                    let c = cos[p * half + i], s = sin[p * half + i]
                    x[o + i] = a * c - b * s
                    x[o + half + i] = b * c + a * s
                }
            }
        }
    }
}
