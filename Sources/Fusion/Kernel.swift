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

/// One round of a 32-bit integer mixer ("lowbias32", C. Wellons): cheap and vectorizable.
@inline(__always) func mix32(_ v: UInt32) -> UInt32 {
    var x = v
    x ^= x >> 16
    x = x &* 0x7FEB_352D
    x ^= x >> 15
    x = x &* 0x846C_A68B
    x ^= x >> 16
    return x
}

/// DARE's random bits for elements [start, start+count) of a tensor: 32 bits per element,
/// the high 16 decide the VLM's entry, the low 16 the expert's (keep when < ⌈density·2^16⌉).
/// A pure function of (key, element index) — one SplitMix64 output per pair of elements —
/// so masks do not depend on threads, chunking or order.
@inline(__always) public func fillDareBits(key: UInt64, start: Int, count: Int, into bits: UnsafeMutablePointer<UInt32>) {
    @inline(__always) func pair(_ p: Int) -> UInt64 {
        var z = key &+ UInt64(truncatingIfNeeded: p) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    var i = 0
    if count > 0 && start & 1 == 1 {
        bits[0] = UInt32(truncatingIfNeeded: pair(start >> 1) >> 32)
        i = 1
    }
    while i + 1 < count {
        let h = pair((start + i) >> 1)
        bits[i] = UInt32(truncatingIfNeeded: h)
        bits[i + 1] = UInt32(truncatingIfNeeded: h >> 32)
        i += 2
    }
    if i < count { bits[i] = UInt32(truncatingIfNeeded: pair((start + i) >> 1)) }
}

/// The keep decisions (VLM, expert) of element `index`, as `fillDareBits` makes them.
public func dareKeeps(key: UInt64, index: Int, density: Double) -> (Bool, Bool) {
    var bits: UInt32 = 0
    fillDareBits(key: key, start: index, count: 1, into: &bits)
    let th = dareThreshold(density)
    return (bits >> 16 < th, bits & 0xFFFF < th)
}

@inline(__always) func dareThreshold(_ density: Double) -> UInt32 {
    UInt32(min(65536, (density * 65536).rounded(.up)))
}

/// Elements per block of DARE bits (a 16 kB stack buffer).
let dareBlock = 4096

/// The state of merging one tensor (its shared elements). Create one per tensor.
public struct TensorKernel: Sendable {
    public enum Pass: Sendable { case magnitudeHigh, magnitudeLow, l1 }

    public let config: TaskArithmeticConfig
    public let count: Int
    public let wV: Float, wR: Float
    public let density: Float
    /// DARE: one key per tensor; keep when the model's 16 bits < dareTh.
    let dareKeyT: UInt64
    let dareTh: UInt32
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
        dareKeyT = dareKey(seed: seed, tensor: tensor, model: 0)
        dareTh = dareThreshold(density)
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
            // Double sums in element order: the result is identical for any chunking.
            var ov = 0.0, nv = 0.0, or = 0.0, nr = 0.0
            var start = 0
            while start < n {
                let end = min(n, start + dareBlock)
                if config.sparsification == .random {
                    let th = dareTh
                    withUnsafeTemporaryAllocation(of: UInt32.self, capacity: dareBlock) { bits in
                        let bp = bits.baseAddress!
                        fillDareBits(key: dareKeyT, start: offset + start, count: end - start, into: bp)
                        for i in start..<end {
                            let av = Double(abs(v[i] - b[i])), ar = Double(abs(e[i] - b[i]))
                            let r = bp[i - start]
                            ov += av; or += ar
                            nv += r >> 16 < th ? av : 0
                            nr += r & 0xFFFF < th ? ar : 0
                        }
                    }
                } else {
                    let tV = thrV, tR = thrR
                    for i in start..<end {
                        let fv = abs(v[i] - b[i]), fr = abs(e[i] - b[i])
                        let av = Double(fv), ar = Double(fr)
                        ov += av; or += ar
                        nv += fv.bitPattern >= tV ? av : 0
                        nr += fr.bitPattern >= tR ? ar : 0
                    }
                }
                start = end
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
        // Sparsified and/or sign-elected: one specialized loop per sparsification, with the
        // loop-invariant switches hoisted so the compiler can vectorize.
        switch (sparsifies ? config.sparsification : .none) {
        case .magnitude:
            let tV = thrV, tR = thrR
            mix(b, v, e, n, out) { tv, tr, _ in
                ((tv.bitPattern & 0x7FFF_FFFF) >= tV, (tr.bitPattern & 0x7FFF_FFFF) >= tR)
            }
        case .random:
            let th = dareTh
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: dareBlock) { bits in
                let bp = bits.baseAddress!
                var s = 0
                while s < n {
                    let len = min(dareBlock, n - s)
                    fillDareBits(key: dareKeyT, start: offset + s, count: len, into: bp)
                    mix(b + s, v + s, e + s, len, out + s) { _, _, i in (bp[i] >> 16 < th, bp[i] & 0xFFFF < th) }
                    s += len
                }
            }
        case .none:
            mix(b, v, e, n, out) { _, _, _ in (true, true) }
        }
    }

    @inline(__always)
    private func mix(_ b: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ e: UnsafePointer<Float>, _ n: Int,
                     _ out: UnsafeMutablePointer<Float>, keep: (Float, Float, Int) -> (Bool, Bool)) {
        let wV = self.wV, wR = self.wR
        let sV = scaleV, sR = scaleR
        let normalize = config.normalize
        var plainDiv = wV + wR
        if abs(plainDiv) < 1e-8 { plainDiv = 1 }
        if config.signConsensus {
            for i in 0..<n {
                let bi = b[i]
                let tv = v[i] - bi, tr = e[i] - bi
                let (kV, kR) = keep(tv, tr, i)
                let xv = kV ? wV * (tv * sV) : 0
                let xr = kR ? wR * (tr * sR) : 0
                // Elect the sign of the summed weighted deltas (≥ 0 → +); keep agreeing nonzero entries.
                let positive = xv + xr >= 0
                let mv = xv != 0 && (xv > 0) == positive
                let mr = xr != 0 && (xr > 0) == positive
                var mixed = (mv ? xv : 0) + (mr ? xr : 0)
                if normalize {
                    var div = (mv ? wV : 0) + (mr ? wR : 0)
                    if div == 0 { div = 1 }
                    mixed /= div
                }
                out[i] = bi + mixed
            }
        } else {
            for i in 0..<n {
                let bi = b[i]
                let tv = v[i] - bi, tr = e[i] - bi
                let (kV, kR) = keep(tv, tr, i)
                let xv = kV ? wV * (tv * sV) : 0
                let xr = kR ? wR * (tr * sR) : 0
                out[i] = normalize ? bi + (xv + xr) / plainDiv : bi + (xv + xr)
            }
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
