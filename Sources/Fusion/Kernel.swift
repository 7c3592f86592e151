import MergetuneNumerics

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
    let h = fnv1a64(tensor.utf8)
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
    public enum Pass: Sendable { case magnitudeHigh, magnitudeLow, magnitudeTies, l1 }

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
    /// Exactly k entries are kept: all with |τ| bits > threshold, and of those equal to it
    /// the first ones in element order (a stable descending sort's choice) — the tied
    /// entries with index < cut. `admit` is how many ties are kept; the ties pass finds the
    /// cut only when some ties must be dropped.
    var cutV = Int.max, cutR = Int.max
    var admitV = 0, admitR = 0
    var seenV = 0, seenR = 0
    var tiesPendingV = false, tiesPendingR = false
    var l1 = (oldV: SIMD4<Double>(), newV: SIMD4<Double>(), oldR: SIMD4<Double>(), newR: SIMD4<Double>())
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
        if sparsifies && config.sparsification == .magnitude { p += [.magnitudeHigh, .magnitudeLow, .magnitudeTies] }
        if sparsifies && config.rescale == .l1 { p.append(.l1) }
        return p
    }

    /// Whether a pass of `passes` has work to do now (the ties pass only runs when the
    /// entries tied at the threshold are more than the k − (entries above) to keep).
    public func needs(_ pass: Pass) -> Bool {
        pass == .magnitudeTies ? (tiesPendingV || tiesPendingR) : true
    }

    public mutating func begin(_ pass: Pass) {
        switch pass {
        case .magnitudeHigh, .magnitudeLow:
            histV = [UInt32](repeating: 0, count: 65536)
            histR = [UInt32](repeating: 0, count: 65536)
        case .magnitudeTies:
            seenV = 0; seenR = 0
        case .l1:
            l1 = (.zero, .zero, .zero, .zero)
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
        case .magnitudeTies:
            // Chunks arrive in element order: count the tied entries until the admitted
            // number is reached; the cut is the index after the last admitted one.
            if tiesPendingV, let c = Self.tieCut(v, b, threshold: thrV, admit: admitV, seen: &seenV, offset: offset, n: n) {
                cutV = c; tiesPendingV = false
            }
            if tiesPendingR, let c = Self.tieCut(e, b, threshold: thrR, admit: admitR, seen: &seenR, offset: offset, n: n) {
                cutR = c; tiesPendingR = false
            }
        case .l1:
            // Double sums in four lanes (lane = absolute element index mod 4, each lane in
            // element order): identical for any chunking, and the loop vectorizes.
            var start = 0
            while start < n {
                let end = min(n, start + dareBlock)
                if config.sparsification == .random {
                    let th = Int32(bitPattern: dareTh)
                    withUnsafeTemporaryAllocation(of: UInt32.self, capacity: dareBlock) { bits in
                        let bp = bits.baseAddress!
                        fillDareBits(key: dareKeyT, start: offset + start, count: end - start, into: bp)
                        accumulateL1(offset: offset + start, n: end - start, b + start, v + start, e + start) { _, _, i in
                            let r = bp[i]
                            // All ones when kept (bits < th), from the sign of the difference.
                            return (UInt64(bitPattern: Int64((Int32(bitPattern: r >> 16) &- th) >> 31)),
                                    UInt64(bitPattern: Int64((Int32(bitPattern: r & 0xFFFF) &- th) >> 31)))
                        }
                    }
                } else {
                    // The same keep rule as `apply`: per segment of constant thresholds.
                    for seg in segments(offset: offset + start, n: end - start) {
                        let tV = Int64(seg.tV), tR = Int64(seg.tR), o = start + seg.lo
                        accumulateL1(offset: offset + o, n: seg.n, b + o, v + o, e + o) { fv, fr, _ in
                            // Kept when |τ| bits ≥ threshold: all ones when (bits − thr) ≥ 0.
                            (~UInt64(bitPattern: (Int64(fv.bitPattern) &- tV) >> 63), ~UInt64(bitPattern: (Int64(fr.bitPattern) &- tR) >> 63))
                        }
                    }
                }
                start = end
            }
        }
    }

    /// The index after the `admit`-th entry (counting `seen` from earlier chunks) whose
    /// |x − b| bit pattern equals `threshold`, or nil if this chunk does not reach it. A
    /// plain scan that stops at the cut: fewer instructions than a vectorized count of
    /// whole blocks (callgrind, 262 144 elements: 2.4 against 5.7 per element).
    static func tieCut(_ x: UnsafePointer<Float>, _ b: UnsafePointer<Float>, threshold t: UInt32, admit: Int, seen: inout Int,
                       offset: Int, n: Int) -> Int? {
        for i in 0..<n where (x[i] - b[i]).bitPattern & 0x7FFF_FFFF == t {
            seen += 1
            if seen == admit { return offset + i + 1 }
        }
        return nil
    }

    /// Adds |τ| and kept |τ| of elements [0, n) (absolute index offset + i) to the L1 lanes.
    @inline(__always)
    private mutating func accumulateL1(offset: Int, n: Int, _ b: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ e: UnsafePointer<Float>,
                                       keep: (Float, Float, Int) -> (UInt64, UInt64)) {
        @inline(__always) func term(_ j: Int) -> (Double, Double, Double, Double) {
            let fv = abs(v[j] - b[j]), fr = abs(e[j] - b[j])
            let (mv, mr) = keep(fv, fr, j)
            let av = Double(fv), ar = Double(fr)
            return (av, ar, Double(bitPattern: av.bitPattern & mv), Double(bitPattern: ar.bitPattern & mr))
        }
        var ov = l1.oldV, nv = l1.newV, or = l1.oldR, nr = l1.newR
        var i = 0
        while i < n && (offset + i) & 3 != 0 {
            let x = term(i), l = (offset + i) & 3
            ov[l] += x.0; or[l] += x.1; nv[l] += x.2; nr[l] += x.3
            i += 1
        }
        while i + 4 <= n {
            let x0 = term(i), x1 = term(i + 1), x2 = term(i + 2), x3 = term(i + 3)
            ov += SIMD4(x0.0, x1.0, x2.0, x3.0); or += SIMD4(x0.1, x1.1, x2.1, x3.1)
            nv += SIMD4(x0.2, x1.2, x2.2, x3.2); nr += SIMD4(x0.3, x1.3, x2.3, x3.3)
            i += 4
        }
        while i < n {
            let x = term(i), l = (offset + i) & 3
            ov[l] += x.0; or[l] += x.1; nv[l] += x.2; nr[l] += x.3
            i += 1
        }
        l1 = (ov, nv, or, nr)
    }

    public mutating func end(_ pass: Pass) {
        switch pass {
        case .magnitudeHigh:
            (binV, aboveV) = Self.findBin(histV, k: k)
            (binR, aboveR) = Self.findBin(histR, k: k)
        case .magnitudeLow:
            let (lowV, aboveInBinV) = Self.findBin(histV, k: k - aboveV)
            let (lowR, aboveInBinR) = Self.findBin(histR, k: k - aboveR)
            thrV = binV << 16 | lowV
            thrR = binR << 16 | lowR
            // Entries equal to the threshold: keep k − (entries above it) of them.
            admitV = k - aboveV - aboveInBinV
            admitR = k - aboveR - aboveInBinR
            tiesPendingV = admitV < Int(histV[Int(lowV)])
            tiesPendingR = admitR < Int(histR[Int(lowR)])
            cutV = Int.max; cutR = Int.max
            histV = []; histR = []
        case .magnitudeTies:
            break
        case .l1:
            // mergekit's rescaled_masked_tensor: scale by old/new L1 unless either is < 1e-7.
            let eps = 1e-7
            let lanes = { (x: SIMD4<Double>) in (x[0] + x[1]) + (x[2] + x[3]) }
            let oldV = lanes(l1.oldV), newV = lanes(l1.newV), oldR = lanes(l1.oldR), newR = lanes(l1.newR)
            scaleV = (oldV < eps || newV < eps) ? 1 : Float(oldV / newV)
            scaleR = (oldR < eps || newR < eps) ? 1 : Float(oldR / newR)
        }
    }

    /// Elements [offset, offset+n) split at the tie cuts into runs of constant keep
    /// thresholds: kept when |τ| bits ≥ t, where t is the threshold before the cut (ties
    /// kept) and threshold + 1 from the cut on (ties dropped). `lo` is relative to offset.
    func segments(offset: Int, n: Int) -> [(lo: Int, n: Int, tV: UInt32, tR: UInt32)] {
        // 0x7FFF_FFFF + 1 would not fit the signed 32-bit compare; only a NaN has that pattern.
        let dropV = thrV < 0x7FFF_FFFF ? thrV + 1 : thrV, dropR = thrR < 0x7FFF_FFFF ? thrR + 1 : thrR
        let cuts = Set([cutV, cutR].map { min(max($0 - offset, 0), n) }).filter { $0 > 0 && $0 < n }.sorted()
        var out: [(lo: Int, n: Int, tV: UInt32, tR: UInt32)] = []
        var lo = 0
        for hi in cuts + [n] where hi > lo {
            out.append((lo, hi - lo, offset + lo < cutV ? thrV : dropV, offset + lo < cutR ? thrR : dropR))
            lo = hi
        }
        return out
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

    /// Produces output elements [offset, offset+n) into `out` (which may alias `v`), and
    /// says whether the output holds a non-finite value (inf or NaN) there; under DARE also
    /// whether the VLM or the expert does. The check is an OR-reduction of integer bit tests folded into the
    /// merge loops, so it costs no extra pass over memory. Only DARE can drop a non-finite
    /// input entry and still produce a finite output: elsewhere a non-finite input that is
    /// used makes the output non-finite (0·inf is NaN; TIES ranks NaN and inf above every
    /// finite magnitude and sign election keeps them), so the output flag alone catches it
    /// and the caller names the inputs on that (rare) path.
    @discardableResult
    public func apply(base b: UnsafePointer<Float>, vlm v: UnsafePointer<Float>, expert e: UnsafePointer<Float>, offset: Int, n: Int,
                      out: UnsafeMutablePointer<Float>) -> NonFinite {
        let wV = self.wV, wR = self.wR
        var f = FiniteAcc()
        if config.linearCombination {
            var s = wV + wR
            if !config.normalize || abs(s) < 1e-8 { s = 1 }
            for i in 0..<n {
                let o = (wV * v[i] + wR * e[i]) / s
                out[i] = o
                f.o |= nonFiniteBit(o)
            }
            return f.flags
        }
        if !sparsifies && !config.signConsensus {
            // Plain task arithmetic: the hot path of TA, FRANK, MetaGPT, NaN, layer_range.
            var div = wV + wR
            if abs(div) < 1e-8 { div = 1 }
            if config.normalize {
                for i in 0..<n {
                    let bi = b[i]
                    let o = bi + (wV * (v[i] - bi) + wR * (e[i] - bi)) / div
                    out[i] = o
                    f.o |= nonFiniteBit(o)
                }
            } else {
                for i in 0..<n {
                    let bi = b[i]
                    let o = bi + (wV * (v[i] - bi) + wR * (e[i] - bi))
                    out[i] = o
                    f.o |= nonFiniteBit(o)
                }
            }
            return f.flags
        }
        // Sparsified and/or sign-elected: one specialized loop per sparsification, with the
        // loop-invariant switches hoisted so the compiler can vectorize.
        switch (sparsifies ? config.sparsification : .none) {
        case .magnitude:
            // |τ| bit patterns and thresholds are ≤ 0x7FFF_FFFF: a signed compare is exact
            // (and vectorizes on SSE2, which has no unsigned 32-bit compare). The tie cuts
            // split the chunk into at most three runs of constant thresholds.
            for seg in segments(offset: offset, n: n) {
                let tV = Int32(bitPattern: seg.tV), tR = Int32(bitPattern: seg.tR), o = seg.lo
                mix(b + o, v + o, e + o, seg.n, out + o, &f, MagnitudeKeep(tV: tV, tR: tR))
            }
        case .random:
            let th = Int32(bitPattern: dareTh)
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: dareBlock) { bits in
                let bp = bits.baseAddress!
                var s = 0
                while s < n {
                    let len = min(dareBlock, n - s)
                    fillDareBits(key: dareKeyT, start: offset + s, count: len, into: bp)
                    mix(b + s, v + s, e + s, len, out + s, &f, RandomKeep(bits: UnsafePointer(bp), th: th))
                    s += len
                }
            }
        case .none:
            mix(b, v, e, n, out, &f, KeepAll())
        }
        return f.flags
    }

    /// The sparsified / sign-elected mix (`mixEntries`) with this kernel's weights.
    @inline(__always)
    private func mix<R: KeepRule>(_ b: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ e: UnsafePointer<Float>, _ n: Int,
                     _ out: UnsafeMutablePointer<Float>, _ f: inout FiniteAcc, _ rule: R) {
        // The output usually is the VLM's buffer (in place), and LLVM's overlap check then sends
        // every element down the scalar loop: mix into a small stack block, then copy it out.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: min(n, mixBlock)) { block in
            var s = 0
            while s < n {
                let len = min(mixBlock, n - s)
                let (fv, fe, fo) = mixEntries(b + s, v + s, e + s, len, block.baseAddress!, rule.advanced(by: s),
                                              wV: wV, wR: wR, sV: scaleV, sR: scaleR,
                                              normalize: config.normalize, signConsensus: config.signConsensus)
                (out + s).update(from: block.baseAddress!, count: len)
                f.v |= fv; f.e |= fe; f.o |= fo
                s += len
            }
        }
    }
}

/// The sparsified / sign-elected mix. `rule` returns all-ones / all-zero masks; every
/// select is a bitwise AND so the loops vectorize (Bool selects did not: 17 ns/element
/// against 3.5). Results are bit-identical to the select form: a dropped entry is +0.
/// A free function, not a method: as a method of `TensorKernel` the loops stayed scalar in
/// whole-module builds (Benchmarks/fusion.md, "Issue 10"). Returns the non-finite flags of
/// the VLM, the expert and the output.
func mixEntries<R: KeepRule>(_ b: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ e: UnsafePointer<Float>, _ n: Int,
                         _ out: UnsafeMutablePointer<Float>, _ rule: R, wV: Float, wR: Float, sV: Float, sR: Float,
                         normalize: Bool, signConsensus: Bool) -> (UInt32, UInt32, UInt32) {
    var plainDiv = wV + wR
    if abs(plainDiv) < 1e-8 { plainDiv = 1 }
    let wVb = wV.bitPattern, wRb = wR.bitPattern, oneBits = Float(1).bitPattern
    var fv: UInt32 = 0, fe: UInt32 = 0, fo: UInt32 = 0
    if signConsensus {
        // Elect the sign of the summed weighted deltas (≥ 0 → +); keep agreeing nonzero entries.
        if normalize {
            for i in 0..<n {
                let bi = b[i], vi = v[i], ei = e[i]
                let tv = vi - bi, tr = ei - bi
                let (kV, kR) = rule.keep(tv, tr, i)
                let xv = Float(bitPattern: (wV * (tv * sV)).bitPattern & kV)
                let xr = Float(bitPattern: (wR * (tr * sR)).bitPattern & kR)
                let (mv, mr) = signAgreement(xv, xr)
                let mixed = Float(bitPattern: xv.bitPattern & mv) + Float(bitPattern: xr.bitPattern & mr)
                let div = Float(bitPattern: wVb & mv) + Float(bitPattern: wRb & mr)
                let dz = mask(div == 0)
                let o = bi + mixed / Float(bitPattern: (div.bitPattern & ~dz) | (oneBits & dz))
                out[i] = o
                fo |= nonFiniteBit(o)
                if R.checksInputs { fv |= nonFiniteBit(vi); fe |= nonFiniteBit(ei) }
            }
        } else {
            for i in 0..<n {
                let bi = b[i], vi = v[i], ei = e[i]
                let tv = vi - bi, tr = ei - bi
                let (kV, kR) = rule.keep(tv, tr, i)
                let xv = Float(bitPattern: (wV * (tv * sV)).bitPattern & kV)
                let xr = Float(bitPattern: (wR * (tr * sR)).bitPattern & kR)
                let (mv, mr) = signAgreement(xv, xr)
                let o = bi + (Float(bitPattern: xv.bitPattern & mv) + Float(bitPattern: xr.bitPattern & mr))
                out[i] = o
                fo |= nonFiniteBit(o)
                if R.checksInputs { fv |= nonFiniteBit(vi); fe |= nonFiniteBit(ei) }
            }
        }
    } else {
        for i in 0..<n {
            let bi = b[i], vi = v[i], ei = e[i]
            let tv = vi - bi, tr = ei - bi
            let (kV, kR) = rule.keep(tv, tr, i)
            let xv = Float(bitPattern: (wV * (tv * sV)).bitPattern & kV)
            let xr = Float(bitPattern: (wR * (tr * sR)).bitPattern & kR)
            let o = normalize ? bi + (xv + xr) / plainDiv : bi + (xv + xr)
            out[i] = o
            fo |= nonFiniteBit(o)
            if R.checksInputs { fv |= nonFiniteBit(vi); fe |= nonFiniteBit(ei) }
        }
    }
    return (fv, fe, fo)
}

/// Whether a merge's output held a non-finite value (inf or NaN), and under DARE which
/// fine-tuned input did. A non-finite base entry always reaches the output (b + 0 = b), so
/// it shows as `.output`; the caller then names the inputs.
public struct NonFinite: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let vlm = NonFinite(rawValue: 2)
    public static let expert = NonFinite(rawValue: 4)
    public static let output = NonFinite(rawValue: 8)
}

/// The sign bit of the result is set iff x is inf or NaN (exponent all ones): the exponent
/// field plus one exponent ulp carries into bit 31 only from 0xFF. Integer and/add only,
/// so OR-reductions over it vectorize.
/// Which task-vector entries a sparsified mix keeps: all-ones / all-zero masks for the VLM's
/// and the expert's entry. A generic rule (specialized per kind) rather than a closure: with a
/// closure the mix loops stayed scalar (Benchmarks/fusion.md, "Issue 10").
protocol KeepRule {
    /// Whether the mix also flags non-finite inputs (only DARE can drop one and stay finite).
    /// Static, so each specialization's loop has no runtime branch.
    static var checksInputs: Bool { get }
    func keep(_ tv: Float, _ tr: Float, _ i: Int) -> (UInt32, UInt32)
    /// The rule for elements starting `k` further on (the mix works in blocks).
    func advanced(by k: Int) -> Self
}

/// Elements per block of the mix (16 KB of output on the stack).
let mixBlock = 4096

/// TIES magnitude trimming: |τ| bit patterns (≤ 0x7FFF_FFFF, so a signed compare is exact and
/// vectorizes on SSE2) at or above the thresholds.
struct MagnitudeKeep: KeepRule {
    static var checksInputs: Bool { false }
    let tV: Int32, tR: Int32
    @inline(__always) func keep(_ tv: Float, _ tr: Float, _ i: Int) -> (UInt32, UInt32) {
        (mask(Int32(bitPattern: tv.bitPattern & 0x7FFF_FFFF) >= tV), mask(Int32(bitPattern: tr.bitPattern & 0x7FFF_FFFF) >= tR))
    }
    func advanced(by k: Int) -> MagnitudeKeep { self }
}

/// DARE's random drop: the VLM's draw in the high 16 bits, the expert's in the low 16.
struct RandomKeep: KeepRule {
    static var checksInputs: Bool { true }
    let bits: UnsafePointer<UInt32>, th: Int32
    @inline(__always) func keep(_ tv: Float, _ tr: Float, _ i: Int) -> (UInt32, UInt32) {
        let r = bits[i]
        return (mask(Int32(bitPattern: r >> 16) < th), mask(Int32(bitPattern: r & 0xFFFF) < th))
    }
    func advanced(by k: Int) -> RandomKeep { RandomKeep(bits: bits + k, th: th) }
}

/// Sign election without sparsification.
struct KeepAll: KeepRule {
    static var checksInputs: Bool { false }
    @inline(__always) func keep(_ tv: Float, _ tr: Float, _ i: Int) -> (UInt32, UInt32) { (~0, ~0) }
    func advanced(by k: Int) -> KeepAll { self }
}

/// All-ones when `c`, else zero. Masks instead of `&&` and Bool selects keep the TIES loops
/// branch-free, so they vectorize (the short-circuit form compiled to scalar code with
/// branches: Benchmarks/fusion.md, "Issue 10").
@inline(__always) func mask(_ c: Bool) -> UInt32 { c ? ~0 : 0 }

/// TIES sign election for one entry: the elected sign is that of xv + xr (≥ 0 → +; NaN → −),
/// and an entry is kept when it is nonzero and has that sign. Exactly
/// `x != 0 && (x > 0) == (xv + xr >= 0)`, for NaN and signed zeros too.
@inline(__always) func signAgreement(_ xv: Float, _ xr: Float) -> (UInt32, UInt32) {
    let positive = mask(xv + xr >= 0)
    return (mask(xv != 0) & ~(mask(xv > 0) ^ positive), mask(xr != 0) & ~(mask(xr > 0) ^ positive))
}

@inline(__always) func nonFiniteBit(_ x: Float) -> UInt32 { (x.bitPattern & 0x7F80_0000) &+ 0x0080_0000 }

struct FiniteAcc {
    var v: UInt32 = 0, e: UInt32 = 0, o: UInt32 = 0
    var flags: NonFinite {
        var f: NonFinite = []
        if v & 0x8000_0000 != 0 { f.insert(.vlm) }
        if e & 0x8000_0000 != 0 { f.insert(.expert) }
        if o & 0x8000_0000 != 0 { f.insert(.output) }
        return f
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
                for pass in kernel.passes where kernel.needs(pass) {
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
