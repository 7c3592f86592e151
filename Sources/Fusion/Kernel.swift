// The per-tensor merge kernel: generalized task arithmetic over one tensor triple,
// streamable in chunks. Sparsification needs tensor-wide facts (the top-k magnitude
// threshold, the L1 norms before/after dropping), so the kernel runs "pre-passes" over
// the chunks that gather them, then an apply pass that produces the output.

/// Counter-based uniform in [0, 1): a pure function of (key, index), so DARE's mask does
/// not depend on threads, chunking or order. SplitMix64's finalizer over a Weyl sequence.
@inline(__always) public func counterUniform(key: UInt64, index: UInt64) -> Float {
    var z = key &+ (index &+ 1) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z = z ^ (z >> 31)
    return Float(z >> 40) * (1.0 / 16_777_216.0)
}

/// The DARE key of one model's task vector of one tensor: seed, tensor (canonical name,
/// so wrapper prefixes do not change the mask) and which model (V = 0, R = 1).
public func dareKey(seed: UInt64, tensor: String, model: UInt64) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
    for b in tensor.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* (model &+ 1)
    z ^= h
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// The state of merging one tensor (its shared elements). Create one per tensor.
public struct TensorKernel: Sendable {
    public enum Pass: Sendable { case magnitudeHigh, magnitudeLow, l1 }

    public let config: TaskArithmeticConfig
    public let count: Int
    public let wV: Float, wR: Float
    public let density: Float
    let keyV: UInt64, keyR: UInt64
    /// Top-k: entries with |τ| bit pattern ≥ threshold are kept.
    var thrV: UInt32 = 0, thrR: UInt32 = 0
    var scaleV: Float = 1, scaleR: Float = 1
    // Radix-select state: histograms of the high / low 16 bits of |τ|'s bit pattern.
    var histV: [UInt32] = [], histR: [UInt32] = []
    var binV: UInt32 = 0, binR: UInt32 = 0
    var aboveV = 0, aboveR = 0
    var l1 = (oldV: 0.0, newV: 0.0, oldR: 0.0, newR: 0.0)
    public let k: Int

    public init(config: TaskArithmeticConfig, count: Int, wV: Double, wR: Double, density: Double, seed: UInt64, tensor: String) {
        self.config = config
        self.count = count
        self.wV = Float(wV)
        self.wR = Float(wR)
        self.density = Float(density)
        keyV = dareKey(seed: seed, tensor: tensor, model: 0)
        keyR = dareKey(seed: seed, tensor: tensor, model: 1)
        // mergekit 0.1.5: k = max(1, int(density × numel)); density ≥ 1 keeps everything.
        k = max(1, Int(density * Double(count)))
        if !sparsifies { thrV = 0; thrR = 0 }
        if config.rescale == .inverseDensity && sparsifies { scaleV = 1 / Float(density); scaleR = scaleV }
    }

    var sparsifies: Bool { config.sparsification != .none && density < 1 && !config.linearCombination }

    /// The pre-passes this tensor needs, in order.
    public var passes: [Pass] {
        var p: [Pass] = []
        if sparsifies && config.sparsification == .magnitude { p += [.magnitudeHigh, .magnitudeLow] }
        if sparsifies && config.rescale == .l1 { p.append(.l1) }
        return p
    }

    public mutating func begin(_ pass: Pass) {
        switch pass {
        case .magnitudeHigh, .magnitudeLow:
            histV = [UInt32](repeating: 0, count: 65536)
            histR = [UInt32](repeating: 0, count: 65536)
        case .l1:
            l1 = (0, 0, 0, 0)
        }
    }

    /// Feeds elements [offset, offset+n) of the shared region.
    public mutating func accumulate(_ pass: Pass, base b: UnsafePointer<Float>, vlm v: UnsafePointer<Float>, expert e: UnsafePointer<Float>, offset: Int, n: Int) {
        switch pass {
        case .magnitudeHigh:
            histV.withUnsafeMutableBufferPointer { hv in
                histR.withUnsafeMutableBufferPointer { hr in
                    for i in 0..<n {
                        hv[Int(((v[i] - b[i]).bitPattern & 0x7FFF_FFFF) >> 16)] &+= 1
                        hr[Int(((e[i] - b[i]).bitPattern & 0x7FFF_FFFF) >> 16)] &+= 1
                    }
                }
            }
        case .magnitudeLow:
            let bv = binV, br = binR
            histV.withUnsafeMutableBufferPointer { hv in
                histR.withUnsafeMutableBufferPointer { hr in
                    for i in 0..<n {
                        let av = (v[i] - b[i]).bitPattern & 0x7FFF_FFFF
                        if av >> 16 == bv { hv[Int(av & 0xFFFF)] &+= 1 }
                        let ar = (e[i] - b[i]).bitPattern & 0x7FFF_FFFF
                        if ar >> 16 == br { hr[Int(ar & 0xFFFF)] &+= 1 }
                    }
                }
            }
        case .l1:
            var ov = 0.0, nv = 0.0, or = 0.0, nr = 0.0
            for i in 0..<n {
                let tv = v[i] - b[i], tr = e[i] - b[i]
                let av = Double(abs(tv)), ar = Double(abs(tr))
                ov += av
                or += ar
                if keepV(tv, offset + i) { nv += av }
                if keepR(tr, offset + i) { nr += ar }
            }
            l1.oldV += ov; l1.newV += nv; l1.oldR += or; l1.newR += nr
        }
    }

    public mutating func end(_ pass: Pass) {
        switch pass {
        case .magnitudeHigh:
            (binV, aboveV) = Self.findBin(histV, k: k)
            (binR, aboveR) = Self.findBin(histR, k: k)
        case .magnitudeLow:
            thrV = binV << 16 | Self.findBin(histV, k: k - aboveV).0
            thrR = binR << 16 | Self.findBin(histR, k: k - aboveR).0
            histV = []; histR = []
        case .l1:
            // mergekit's rescaled_masked_tensor: scale by old/new L1 unless either is < 1e-7.
            let eps = 1e-7
            scaleV = (l1.oldV < eps || l1.newV < eps) ? 1 : Float(l1.oldV / l1.newV)
            scaleR = (l1.oldR < eps || l1.newR < eps) ? 1 : Float(l1.oldR / l1.newR)
        }
    }

    /// The highest bin b such that at least k entries lie in bins ≥ b; also the count strictly above b.
    static func findBin(_ hist: [UInt32], k: Int) -> (UInt32, Int) {
        var cum = 0
        var b = 65535
        while b >= 0 {
            let c = Int(hist[b])
            if cum + c >= k { return (UInt32(b), cum) }
            cum += c
            b -= 1
        }
        return (0, cum)
    }

    @inline(__always) func keepV(_ t: Float, _ index: Int) -> Bool {
        guard sparsifies else { return true }
        switch config.sparsification {
        case .magnitude: return (t.bitPattern & 0x7FFF_FFFF) >= thrV
        case .random: return counterUniform(key: keyV, index: UInt64(index)) < density
        case .none: return true
        }
    }
    @inline(__always) func keepR(_ t: Float, _ index: Int) -> Bool {
        guard sparsifies else { return true }
        switch config.sparsification {
        case .magnitude: return (t.bitPattern & 0x7FFF_FFFF) >= thrR
        case .random: return counterUniform(key: keyR, index: UInt64(index)) < density
        case .none: return true
        }
    }

    /// Produces output elements [offset, offset+n) into `out` (which may alias `v`).
    public func apply(base b: UnsafePointer<Float>, vlm v: UnsafePointer<Float>, expert e: UnsafePointer<Float>, offset: Int, n: Int, out: UnsafeMutablePointer<Float>) {
        let wV = self.wV, wR = self.wR
        if config.linearCombination {
            var s = wV + wR
            if !config.normalize || abs(s) < 1e-8 { s = 1 }
            for i in 0..<n { out[i] = (wV * v[i] + wR * e[i]) / s }
            return
        }
        if !sparsifies && !config.signConsensus {
            // Plain task arithmetic: the hot path of TA, FRANK, MetaGPT, NaN, layer_range.
            var div = wV + wR
            if abs(div) < 1e-8 { div = 1 }
            if config.normalize {
                for i in 0..<n { out[i] = b[i] + (wV * (v[i] - b[i]) + wR * (e[i] - b[i])) / div }
            } else {
                for i in 0..<n { out[i] = b[i] + (wV * (v[i] - b[i]) + wR * (e[i] - b[i])) }
            }
            return
        }
        let sV = scaleV, sR = scaleR
        for i in 0..<n {
            let bi = b[i]
            let tv = v[i] - bi, tr = e[i] - bi
            let dv: Float = keepV(tv, offset + i) ? tv * sV : 0
            let dr: Float = keepR(tr, offset + i) ? tr * sR : 0
            let xv = wV * dv, xr = wR * dr
            var mixed: Float, div: Float
            if config.signConsensus {
                // Elect the sign of the summed weighted deltas (≥ 0 → +); keep agreeing nonzero entries.
                let positive = xv + xr >= 0
                let mv = xv != 0 && (xv > 0) == positive
                let mr = xr != 0 && (xr > 0) == positive
                mixed = (mv ? xv : 0) + (mr ? xr : 0)
                div = (mv ? wV : 0) + (mr ? wR : 0)
                if div == 0 { div = 1 }
            } else {
                mixed = xv + xr
                div = wV + wR
                if abs(div) < 1e-8 { div = 1 }
            }
            if config.normalize { mixed /= div }
            out[i] = bi + mixed
        }
    }
}

/// Merges one in-memory tensor triple (the study engine's entry point for live objectives).
/// `tensor` keys DARE's random mask; pass the canonical name for checkpoint-identical results.
public func mergeTensor(base: [Float], vlm: [Float], expert: [Float], config: TaskArithmeticConfig,
                        vlWeight: Double, expWeight: Double, density: Double = 1, seed: UInt64 = 0,
                        tensor: String = "") -> [Float] {
    precondition(base.count == vlm.count && vlm.count == expert.count, "tensor triple sizes differ")
    var kernel = TensorKernel(config: config, count: base.count, wV: vlWeight, wR: expWeight, density: density, seed: seed, tensor: tensor)
    var out = [Float](repeating: 0, count: base.count)
    base.withUnsafeBufferPointer { b in
        vlm.withUnsafeBufferPointer { v in
            expert.withUnsafeBufferPointer { e in
                guard let bp = b.baseAddress, let vp = v.baseAddress, let ep = e.baseAddress else { return }
                for pass in kernel.passes {
                    kernel.begin(pass)
                    kernel.accumulate(pass, base: bp, vlm: vp, expert: ep, offset: 0, n: base.count)
                    kernel.end(pass)
                }
                out.withUnsafeMutableBufferPointer { o in
                    kernel.apply(base: bp, vlm: vp, expert: ep, offset: 0, n: base.count, out: o.baseAddress!)
                }
            }
        }
    }
    return out
}

/// Convenience: merge one tensor triple with a spec's method and constant coefficients.
public func mergeTensor(base: [Float], vlm: [Float], expert: [Float], spec: MergeSpec, tensor: String = "") -> [Float] {
    mergeTensor(base: base, vlm: vlm, expert: expert, config: spec.config, vlWeight: spec.vlWeight,
                expWeight: spec.expWeight, density: spec.density, seed: spec.seed, tensor: tensor)
}
