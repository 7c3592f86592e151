import Foundation
import SafeTensors

/// Where a tensor name belongs once wrapper prefixes are removed.
public enum CanonicalName: Sendable, Equatable {
    /// A language-model tensor in LLaMA/Mistral/Qwen2 form: `model.layers.N.…`,
    /// `model.embed_tokens.weight`, `model.norm.weight`, `lm_head.weight`.
    case language(String)
    /// Vision tower or projector: copied from the VLM unchanged.
    case vision
}

/// The explicit mapping from the name layouts of VLM wrappers to the canonical decoder form.
/// Rules are tried in order; the first matching prefix wins.
public enum NameLayout {
    public static let prefixRules: [(prefix: String, canonical: String)] = [
        ("language_model.model.", "model."),     // LLaVA, Mllama, InternVL (transformers < 4.52)
        ("language_model.lm_head.", "lm_head."),
        ("model.language_model.", "model."),     // LLaVA, Qwen2.5-VL, Gemma3 (transformers ≥ 4.52)
        ("model.text_model.", "model."),         // Idefics3 / SmolVLM
        ("language_model.", "model."),           // wrappers that drop the inner `model.`
        ("model.", "model."),                    // plain decoder
        ("lm_head.", "lm_head."),
    ]

    /// Name components that mark the vision tower and the projector.
    public static let visionComponents: Set<String> = [
        "vision_tower", "vision_model", "visual", "multi_modal_projector", "mm_projector",
        "vision_embed_tokens", "image_newline", "connector", "mlp1", "vision_resampler", "vpm", "resampler",
    ]

    public static func canonical(_ name: String) -> CanonicalName? {
        let parts = name.split(separator: ".")
        // The marker must be one of the first two components (e.g. `model.vision_tower.…`),
        // so a decoder weight that happens to contain "visual" deeper down is not misread.
        if parts.prefix(2).contains(where: { visionComponents.contains(String($0)) }) { return .vision }
        for (prefix, canonical) in prefixRules where name.hasPrefix(prefix) {
            return .language(canonical + name.dropFirst(prefix.count))
        }
        return nil
    }

    /// The decoder layer index (0-based, as in the names) of a canonical name.
    public static func layerIndex(_ canonical: String) -> Int? {
        guard canonical.hasPrefix("model.layers.") else { return nil }
        let rest = canonical.dropFirst("model.layers.".count)
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        return Int(rest[rest.startIndex..<dot])
    }
}

/// One output tensor and how to produce it.
public struct PlannedTensor: Sendable {
    public enum Action: Sendable {
        /// Merge the first `sharedCount` elements; elements beyond it (extra vocabulary rows) keep the VLM's values.
        case merge(base: TensorRef, vlm: TensorRef, expert: TensorRef, sharedCount: Int)
        case copy(TensorRef)
    }
    /// Name in the output (the VLM's name, so the output loads like the VLM).
    public let name: String
    /// Canonical language-model name (nil for vision/projector and pass-through tensors).
    public let canonical: String?
    /// Decoder layer (0-based), nil for embeddings/norm/head and copied tensors.
    public let layer: Int?
    public let action: Action
    public let output: TensorSpec
}

/// The pairing of the three checkpoints' tensors, computed from names and shapes alone.
public struct TensorPairing: Sendable {
    public let tensors: [PlannedTensor]
    /// Number of decoder layers (max layer index + 1).
    public let layerCount: Int
    /// VLM tensors that could not be paired but were passed through (only with the flag).
    public let passedThrough: [String]
    /// Base/expert tensors with no VLM counterpart, ignored (only with the flag).
    public let ignored: [String]

    public var mergedCount: Int { tensors.filter { if case .merge = $0.action { return true }; return false }.count }
    public var copiedCount: Int { tensors.count - mergedCount }
}

public struct PairingError: Error, Sendable, CustomStringConvertible, LocalizedError {
    public let message: String
    public var description: String { message }
    public var errorDescription: String? { message }
}

extension TensorPairing {
    /// Pairs the VLM's language-model tensors with the base's and the expert's by canonical name.
    /// Unpaired tensors are an error listing them all, unless `passThroughUnpaired`.
    public init(base: Checkpoint, vlm: Checkpoint, expert: Checkpoint,
                passThroughUnpaired: Bool = false, outputDType: DType? = nil) throws {
        func canonicalMap(_ ck: Checkpoint) throws -> [String: TensorRef] {
            var map: [String: TensorRef] = [:]
            for name in ck.names {
                guard case let .language(c)? = NameLayout.canonical(name) else { continue }
                if let other = map[c] {
                    throw PairingError(message: "\(ck.path): tensors '\(other.name)' and '\(name)' both map to '\(c)'")
                }
                map[c] = try ck.tensor(name)
            }
            return map
        }
        let baseMap = try canonicalMap(base)
        let expMap = try canonicalMap(expert)
        var planned: [PlannedTensor] = []
        var unpaired: [String] = []
        var passed: [String] = []
        var usedCanonical = Set<String>()
        var maxLayer = -1
        for name in vlm.names {
            let v = try vlm.tensor(name)
            let dtype = outputDType.flatMap { v.dtype.isFloatingPoint ? $0 : nil } ?? v.dtype
            let spec = TensorSpec(name: name, dtype: dtype, shape: v.shape)
            switch NameLayout.canonical(name) {
            case .vision?:
                planned.append(PlannedTensor(name: name, canonical: nil, layer: nil, action: .copy(v), output: spec))
            case let .language(c)?:
                guard let b = baseMap[c], let e = expMap[c] else {
                    let missing = [baseMap[c] == nil ? "base" : nil, expMap[c] == nil ? "expert" : nil].compactMap { $0 }
                    if passThroughUnpaired {
                        passed.append(name)
                        planned.append(PlannedTensor(name: name, canonical: nil, layer: nil, action: .copy(v), output: spec))
                    } else {
                        unpaired.append("\(name) (as \(c); missing in \(missing.joined(separator: " and ")))")
                    }
                    continue
                }
                usedCanonical.insert(c)
                let shared = try sharedElementCount(name: name, base: b, vlm: v, expert: e)
                let layer = NameLayout.layerIndex(c)
                if let layer { maxLayer = max(maxLayer, layer) }
                guard v.dtype.isFloatingPoint, b.dtype.isFloatingPoint, e.dtype.isFloatingPoint else {
                    // Integer buffers (e.g. position ids) are not weights: keep the VLM's.
                    planned.append(PlannedTensor(name: name, canonical: c, layer: layer, action: .copy(v), output: spec))
                    continue
                }
                planned.append(PlannedTensor(name: name, canonical: c, layer: layer,
                                             action: .merge(base: b, vlm: v, expert: e, sharedCount: shared), output: spec))
            case nil:
                if passThroughUnpaired {
                    passed.append(name)
                    planned.append(PlannedTensor(name: name, canonical: nil, layer: nil, action: .copy(v), output: spec))
                } else {
                    unpaired.append("\(name) (name layout not recognized)")
                }
            }
        }
        var ignored: [String] = []
        for (label, map) in [("base", baseMap), ("expert", expMap)] {
            for c in map.keys.sorted() where !usedCanonical.contains(c) {
                ignored.append("\(label): \(map[c]!.name)")
            }
        }
        if !passThroughUnpaired && !(unpaired.isEmpty && ignored.isEmpty) {
            var msg = "cannot pair \(unpaired.count + ignored.count) tensor(s) between \(vlm.path), \(base.path) and \(expert.path):"
            for u in unpaired.prefix(50) { msg += "\n  VLM: \(u)" }
            for u in ignored.prefix(50) { msg += "\n  \(u) has no VLM counterpart" }
            if unpaired.count + ignored.count > 100 { msg += "\n  …" }
            msg += "\n(use --pass-through-unpaired to copy unpaired VLM tensors and ignore the rest)"
            throw PairingError(message: msg)
        }
        if maxLayer >= 0 {
            // Layers must be 0..L-1 without gaps, or the layer schedule would be misaligned.
            let present = Set(planned.compactMap { $0.layer })
            if present.count != maxLayer + 1 {
                throw PairingError(message: "\(vlm.path): decoder layers are not contiguous (found \(present.count) distinct indices up to \(maxLayer))")
            }
        }
        self.init(tensors: planned, layerCount: maxLayer + 1, passedThrough: passed, ignored: ignored)
    }
}

/// Elements that the three tensors share: all of them when shapes agree; the leading rows
/// when only the first dimension differs (a VLM vocabulary extended with image tokens).
func sharedElementCount(name: String, base: TensorRef, vlm: TensorRef, expert: TensorRef) throws -> Int {
    if base.shape == vlm.shape && expert.shape == vlm.shape { return vlm.elementCount }
    let shapes = [base.shape, vlm.shape, expert.shape]
    let sameTrailing = shapes.allSatisfy { $0.count == vlm.shape.count && $0.count >= 1 && Array($0.dropFirst()) == Array(vlm.shape.dropFirst()) }
    let rows = min(base.shape.first ?? 0, expert.shape.first ?? 0)
    if sameTrailing, base.shape == expert.shape, vlm.shape[0] >= rows {
        return rows * vlm.shape.dropFirst().reduce(1, *)
    }
    throw PairingError(message: "tensor '\(name)': shapes differ (base \(base.shape) in \(base.file.path), VLM \(vlm.shape) in \(vlm.file.path), expert \(expert.shape) in \(expert.file.path))")
}
