import Dispatch
import Foundation
import SafeTensors

/// How a checkpoint merge runs.
public struct MergeOptions: Sendable {
    /// Worker threads (default: active processors).
    public var threads: Int
    /// Elements per chunk: each worker holds three Float chunks and a 16-bit output
    /// scratch, so memory is about threads × chunkElements × 14 bytes, independent of
    /// model size. Default: 16 Mi elements (whole decoder tensors of 1–8 B models fit one
    /// chunk, so multi-pass methods convert them once), capped so all workers together
    /// hold at most about 1.5 GB.
    public var chunkElements: Int
    /// Largest shard of the output (bytes of tensor data).
    public var maxShardBytes: Int
    /// Output dtype for floating tensors (nil: the VLM's dtype of each tensor).
    public var outputDType: DType?
    public var passThroughUnpaired: Bool
    public var overwrite: Bool
    /// Copy config, generation config, tokenizer and processor files from the VLM directory.
    public var copyConfigFiles: Bool
    /// The recipe recorded in the provenance (`mergetune.recipe`); nil: the spec's own
    /// (`MergeRecipe(spec:models:)` with the input paths).
    public var recipe: MergeRecipe? = nil
    /// The writer's version, recorded as `mergetune.version` when set.
    public var writerVersion: String? = nil
    /// Small text files written into the output (name, contents), e.g. `mergekit_config.yml`;
    /// a VLM file of the same name is then not copied.
    public var extraFiles: [(name: String, contents: String)] = []
    /// subspace: the SVD cache directory (nil: `SubspaceCache.defaultDirectory()`).
    public var subspaceCache: String? = nil

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, chunkElements: Int? = nil,
                maxShardBytes: Int = 5_000_000_000, outputDType: DType? = nil, passThroughUnpaired: Bool = false,
                overwrite: Bool = false, copyConfigFiles: Bool = true) {
        self.threads = max(1, threads)
        self.chunkElements = max(16, chunkElements ?? MergeOptions.defaultChunk(threads: max(1, threads)))
        self.maxShardBytes = maxShardBytes
        self.outputDType = outputDType
        self.passThroughUnpaired = passThroughUnpaired
        self.overwrite = overwrite
        self.copyConfigFiles = copyConfigFiles
    }
}

extension MergeOptions {
    public static func defaultChunk(threads: Int) -> Int {
        min(16 << 20, 1_500_000_000 / (14 * threads))
    }
}

public struct MergeResult: Sendable {
    public let output: String
    public let coefficients: Coefficients
    public let mergedTensors: Int
    public let copiedTensors: Int
    public let bytesWritten: Int
    public let copiedFiles: [String]
    public let statsSeconds: Double
    public let seconds: Double
    /// Non-finite input tensors (file and tensor named) and FRANK prior warnings, also sent to the log.
    public var warnings: [String] = []
}

public struct MergeError: Error, Sendable, CustomStringConvertible, LocalizedError {
    public let message: String
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Warnings collected from the workers (and logged as they come).
final class WarningSink: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var all: [String] = []
    let log: (@Sendable (String) -> Void)?
    init(log: (@Sendable (String) -> Void)?) { self.log = log }
    func warn(_ m: String) {
        lock.lock(); all.append(m); lock.unlock()
        log?("warning: \(m)")
    }
    var list: [String] { lock.lock(); defer { lock.unlock() }; return all }
}

/// Per-worker Float chunks, allocated once per worker.
final class WorkerBuffers {
    let b, v, e: UnsafeMutablePointer<Float>
    /// 16-bit staging for reads (one per input) and for the output; 32-bit dtypes need
    /// none, wider ones fall back to the mapping / a temporary allocation.
    let scratch: UnsafeMutableRawBufferPointer
    let stageB, stageV, stageE: UnsafeMutableRawBufferPointer
    let capacity: Int
    init(capacity: Int) {
        self.capacity = capacity
        b = .allocate(capacity: capacity)
        v = .allocate(capacity: capacity)
        e = .allocate(capacity: capacity)
        scratch = .allocate(byteCount: capacity * 2, alignment: 64)
        stageB = .allocate(byteCount: capacity * 2, alignment: 64)
        stageV = .allocate(byteCount: capacity * 2, alignment: 64)
        stageE = .allocate(byteCount: capacity * 2, alignment: 64)
    }
    deinit {
        b.deallocate(); v.deallocate(); e.deallocate()
        scratch.deallocate(); stageB.deallocate(); stageV.deallocate(); stageE.deallocate()
    }
}

/// Worker buffers kept between the many short parallel loops of one merge (layer by layer:
/// two per layer), so each loop does not allocate and page-fault fresh chunks.
final class BufferPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [WorkerBuffers] = []
    func take(capacity: Int) -> WorkerBuffers {
        lock.lock(); defer { lock.unlock() }
        if let i = free.firstIndex(where: { $0.capacity >= capacity }) { return free.remove(at: i) }
        return WorkerBuffers(capacity: capacity)
    }
    func give(_ b: WorkerBuffers) { lock.lock(); free.append(b); lock.unlock() }
}

/// Runs `body` over 0..<count on `threads` workers that take the next index from a shared
/// counter; the first error stops the others and is rethrown.
func parallelForEach(count: Int, threads: Int, capacity: Int, pool: BufferPool? = nil,
                     _ body: @Sendable (Int, WorkerBuffers) throws -> Void) throws {
    final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        var error: Error?
        func take() -> Int? {
            lock.lock(); defer { lock.unlock() }
            guard error == nil, next < count else { return nil }
            next += 1
            return next - 1
        }
        func fail(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
        let count: Int
        init(count: Int) { self.count = count }
    }
    let shared = Shared(count: count)
    let workers = max(1, min(threads, count))
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        let buffers = pool?.take(capacity: capacity) ?? WorkerBuffers(capacity: capacity)
        while let i = shared.take() {
            do { try body(i, buffers) } catch { shared.fail(error) }
        }
        pool?.give(buffers)
    }
    if let e = shared.error { throw e }
}

/// Streams the three tensors of a merge item through a worker's buffers in chunks.
/// When the shared region fits one chunk it is loaded once and reused by every pass.
struct ChunkStream {
    let base: TensorRef, vlm: TensorRef, expert: TensorRef
    let count: Int
    let chunk: Int
    var single: Bool { count <= chunk }

    func forEachChunk(_ buf: WorkerBuffers, loaded: inout Bool, _ body: (Int, Int) throws -> Void) throws {
        var lo = 0
        while lo < count {
            let n = min(chunk, count - lo)
            if !(single && loaded) {
                try base.readFloatsBuffered(from: lo, count: n, into: buf.b, staging: buf.stageB)
                try vlm.readFloatsBuffered(from: lo, count: n, into: buf.v, staging: buf.stageV)
                try expert.readFloatsBuffered(from: lo, count: n, into: buf.e, staging: buf.stageE)
                loaded = true
            }
            try body(lo, n)
            lo += n
        }
    }
}

/// Task-vector statistics over the merged tensors (one streaming pass over the inputs).
public func computeTaskVectorStats(_ pairing: TensorPairing, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                                   chunkElements: Int? = nil) throws -> TaskVectorStats {
    try computeTaskVectorStats(pairing, threads: threads, chunkElements: chunkElements, pool: nil)
}

func computeTaskVectorStats(_ pairing: TensorPairing, threads: Int, chunkElements: Int?, pool: BufferPool?) throws -> TaskVectorStats {
    let chunkElements = max(16, chunkElements ?? MergeOptions.defaultChunk(threads: threads))
    let items = pairing.tensors.enumerated().compactMap { (i, t) -> Int? in
        if case .merge = t.action, t.canonical != nil { return i }
        return nil
    }
    final class Results: @unchecked Sendable {
        let lock = NSLock()
        var perTensor: [String: NormStats] = [:]
    }
    let results = Results()
    try parallelForEach(count: items.count, threads: threads, capacity: chunkElements, pool: pool) { j, buf in
        for k in (j + 1)..<min(items.count, j + 1 + threads) { prefetch(pairing.tensors[items[k]]) }
        let t = pairing.tensors[items[j]]
        guard case let .merge(b, v, e, shared) = t.action else { return }
        let stream = ChunkStream(base: b, vlm: v, expert: e, count: shared, chunk: chunkElements)
        var s = NormStats()
        var loaded = false
        // Double sums in four lanes (lane = element index mod 4, each lane in element order):
        // identical for any chunk size or thread count, and the loop vectorizes.
        var sqV = SIMD4<Double>(), sqR = SIMD4<Double>(), dot = SIMD4<Double>(), thV = SIMD4<Double>(), thR = SIMD4<Double>()
        try stream.forEachChunk(buf, loaded: &loaded) { lo, n in
            let pb = buf.b, pv = buf.v, pe = buf.e
            @inline(__always) func term(_ k: Int) -> (Double, Double, Double, Double, Double) {
                let bk = Double(pb[k]), vk = Double(pv[k]), ek = Double(pe[k])
                let tv = vk - bk, tr = ek - bk
                return (tv * tv, tr * tr, tv * tr, vk * vk, ek * ek)
            }
            var k = 0
            while k < n && (lo + k) & 3 != 0 {
                let x = term(k), l = (lo + k) & 3
                sqV[l] += x.0; sqR[l] += x.1; dot[l] += x.2; thV[l] += x.3; thR[l] += x.4
                k += 1
            }
            while k + 4 <= n {
                let x0 = term(k), x1 = term(k + 1), x2 = term(k + 2), x3 = term(k + 3)
                sqV += SIMD4(x0.0, x1.0, x2.0, x3.0); sqR += SIMD4(x0.1, x1.1, x2.1, x3.1)
                dot += SIMD4(x0.2, x1.2, x2.2, x3.2); thV += SIMD4(x0.3, x1.3, x2.3, x3.3)
                thR += SIMD4(x0.4, x1.4, x2.4, x3.4)
                k += 4
            }
            while k < n {
                let x = term(k), l = (lo + k) & 3
                sqV[l] += x.0; sqR[l] += x.1; dot[l] += x.2; thV[l] += x.3; thR[l] += x.4
                k += 1
            }
            s.elements += n
        }
        let lanes = { (x: SIMD4<Double>) in (x[0] + x[1]) + (x[2] + x[3]) }
        s.sqV += lanes(sqV); s.sqR += lanes(sqR); s.dot += lanes(dot); s.sqThetaV += lanes(thV); s.sqThetaR += lanes(thR)
        results.lock.lock()
        results.perTensor[t.canonical!] = s
        results.lock.unlock()
    }
    var layers = [NormStats](repeating: NormStats(), count: pairing.layerCount)
    var other = NormStats()
    var tensorLayer: [String: Int] = [:]
    for i in items {
        let t = pairing.tensors[i]
        guard let s = results.perTensor[t.canonical!] else { continue }
        if let l = t.layer {
            layers[l].add(s)
            tensorLayer[t.canonical!] = l
        } else {
            other.add(s)
        }
    }
    return TaskVectorStats(perTensor: results.perTensor, tensorLayer: tensorLayer, layers: layers, other: other)
}

/// Files copied from the VLM directory: everything except weights, the weight index and hidden files.
public func vlmSideFiles(_ vlm: Checkpoint) -> [String] {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: vlm.path, isDirectory: &isDir), isDir.boolValue else { return [] }
    let weightSuffixes = [".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx", ".index.json"]
    let names = (try? FileManager.default.contentsOfDirectory(atPath: vlm.path)) ?? []
    return names.sorted().filter { name in
        guard !name.hasPrefix("."), !weightSuffixes.contains(where: { name.hasSuffix($0) }) else { return false }
        var d: ObjCBool = false
        let p = (vlm.path as NSString).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: p, isDirectory: &d) && !d.boolValue
    }
}

/// JSON of a coefficient table for provenance. Numbers have a fixed width (17 characters),
/// so a placeholder table reserves exactly the header space of the final one: that is why this
/// is written here and not with JSONEncoder, whose numbers vary in length. Non-finite: null.
public func coefficientsJSON(_ c: Coefficients) -> String {
    func f(_ x: Double) -> String {
        let t = x.isFinite ? String(format: "%.9e", x) : "null"
        return String(repeating: " ", count: max(0, 17 - t.count)) + t
    }
    var s = "{\"layers\":[" + c.layers.map { "[\(f($0.vl)),\(f($0.exp))]" }.joined(separator: ",") + "]"
    s += ",\"other\":[\(f(c.other.vl)),\(f(c.other.exp))]"
    if !c.perTensor.isEmpty {
        s += ",\"tensors\":{" + c.perTensor.keys.sorted().map { "\(jsonQuote($0)):[\(f(c.perTensor[$0]!.vl)),\(f(c.perTensor[$0]!.exp))]" }.joined(separator: ",") + "}"
    }
    if let d = c.decay { s += ",\"decay\":\(f(d))" }
    return s + "}"
}

/// The streaming merge pipeline: pairs the checkpoints, resolves the coefficients
/// (one statistics pass for the closed forms), plans the output's shards, and merges
/// tensor by tensor on `options.threads` workers, each holding a few chunks of memory.
/// `pairing`: the pairing of these three checkpoints with `options`' passThroughUnpaired and
/// outputDType, when the caller built it already (e.g. to check the disk space first).
public func merge(base: Checkpoint, vlm: Checkpoint, expert: Checkpoint, spec: MergeSpec, to output: String,
                  options: MergeOptions = MergeOptions(), pairing prepared: TensorPairing? = nil,
                  log: (@Sendable (String) -> Void)? = nil) throws -> MergeResult {
    try spec.validate()
    let start = Date()
    let pairing = try prepared ?? TensorPairing(base: base, vlm: vlm, expert: expert,
                                                passThroughUnpaired: options.passThroughUnpaired, outputDType: options.outputDType)
    let abs = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.path }
    let inputs = (abs(base.path), abs(vlm.path), abs(expert.path))
    if spec.method == .subspace {
        return try mergeSubspace(pairing: pairing, spec: spec, base: base, vlm: vlm, expert: expert, to: output, options: options,
                                 inputs: inputs, start: start, log: log)
    }
    if spec.method.isClosedForm && spec.effectiveGranularity != .model {
        // Layer-local closed forms: statistics and merge layer by layer, so each layer is
        // read from disk once (its second read comes from the page cache).
        return try mergeLayerByLayer(pairing: pairing, spec: spec, to: output, options: options, inputs: inputs,
                                     vlm: vlm, start: start, log: log)
    }
    var stats: TaskVectorStats? = nil
    if spec.method.isClosedForm {
        log?("computing task-vector norms over \(pairing.mergedCount) tensors")
        stats = try computeTaskVectorStats(pairing, threads: options.threads, chunkElements: options.chunkElements)
    }
    let statsSeconds = Date().timeIntervalSince(start)
    let warnings = WarningSink(log: log)
    let coefficients = try ClosedForm.coefficients(for: spec, layerCount: pairing.layerCount, stats: stats, warn: warnings.warn)
    return try merge(pairing: pairing, spec: spec, coefficients: coefficients, to: output, options: options,
                     inputs: inputs, vlm: vlm, start: start, statsSeconds: statsSeconds, warnings: warnings, log: log)
}

private func provenance(_ spec: MergeSpec, _ coefficients: Coefficients, _ inputs: (base: String, vlm: String, expert: String),
                        _ options: MergeOptions) -> [String: String] {
    let recipe = options.recipe ?? MergeRecipe(spec: spec, models: [.base: inputs.base, .vlm: inputs.vlm, .expert: inputs.expert])
    var metadata: [String: String] = [
        "mergetune.recipe": recipe.json(),
        "mergetune.method": spec.method.rawValue,
        "mergetune.coefficients": coefficientsJSON(coefficients),
    ]
    // Sorted keys: the same merge writes the same bytes (the encoder's default order varies per process).
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let pathsEncoder = JSONEncoder()
    pathsEncoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    struct Inputs: Encodable { let base, vlm, expert: String }
    if let data = try? pathsEncoder.encode(Inputs(base: inputs.base, vlm: inputs.vlm, expert: inputs.expert)) {
        metadata["mergetune.inputs"] = String(decoding: data, as: UTF8.self)
    }
    if let data = try? encoder.encode(spec), let s = String(data: data, encoding: .utf8) { metadata["mergetune.spec"] = s }
    if let v = options.writerVersion { metadata["mergetune.version"] = v }
    return metadata
}

private func makeWriter(_ pairing: TensorPairing, _ metadata: [String: String], _ output: String, _ options: MergeOptions,
                        _ vlm: Checkpoint?, inputs: [String], log: (@Sendable (String) -> Void)?) throws -> (CheckpointWriter, [String]) {
    let writer = try CheckpointWriter(outputPath: output, tensors: pairing.tensors.map(\.output),
                                      maxShardBytes: options.maxShardBytes, metadata: metadata, overwrite: options.overwrite,
                                      inputs: inputs)
    for p in writer.removedStalePartials { log?("removed the temporary folder of a merge that no longer runs: \(p)") }
    var copied: [String] = []
    let extra = Set(options.extraFiles.map(\.name))
    if options.copyConfigFiles, let vlm {
        for name in vlmSideFiles(vlm) where !extra.contains(name) {
            try writer.copyFile(from: (vlm.path as NSString).appendingPathComponent(name))
            copied.append(name)
        }
    }
    for f in options.extraFiles {
        try writer.writeFile(named: f.name, contents: f.contents)
        copied.append(f.name)
    }
    return (writer, copied)
}

/// Produces one output tensor (merge or copy) through a worker's buffers.
private func produce(_ t: PlannedTensor, spec: MergeSpec, coefficients: Coefficients, writer: CheckpointWriter,
                     buf: WorkerBuffers, chunk: Int, warnings: WarningSink) throws {
    switch t.action {
    case let .copy(src):
        try copyTensor(src, from: 0, count: src.elementCount, to: t.output, writer: writer, buf: buf, chunk: chunk)
    case let .merge(b, v, e, shared):
        let c = coefficients.lookup(canonical: t.canonical, layer: t.layer)
        var kernel = TensorKernel(config: spec.config, count: shared, wV: c.vl, wR: c.exp, density: spec.density,
                                  seed: spec.seed, tensor: t.canonical ?? t.name)
        let stream = ChunkStream(base: b, vlm: v, expert: e, count: shared, chunk: chunk)
        var loaded = false
        for pass in kernel.passes where kernel.needs(pass) {
            kernel.begin(pass)
            try stream.forEachChunk(buf, loaded: &loaded) { lo, n in
                kernel.accumulate(pass, base: buf.b, vlm: buf.v, expert: buf.e, offset: lo, n: n)
            }
            kernel.end(pass)
        }
        let k = kernel
        var flags: NonFinite = []
        try stream.forEachChunk(buf, loaded: &loaded) { lo, n in
            let f = k.apply(base: buf.b, vlm: buf.v, expert: buf.e, offset: lo, n: n, out: buf.v)
            flags.formUnion(f)
            if f.contains(.output) {
                // Rare path: find the non-finite inputs of this tensor (the kernel tracks them only under DARE).
                let culprits = [b, v, e].filter { r in let c = r.nonFiniteCounts(); return c.nan + c.inf > 0 }
                    .map { "\($0.file.path): '\($0.name)'" }
                throw MergeError(message: "merged tensor '\(t.name)' is not finite (inf or NaN); nothing was written. "
                    + (culprits.isEmpty ? "The inputs are finite there: the weights (λ_V = \(c.vl), λ_R = \(c.exp)) overflow Float; use smaller weights."
                                        : "Non-finite input values in \(culprits.joined(separator: ", ")): repair or replace those checkpoints."))
            }
            try writer.write(t.name, UnsafeBufferPointer(start: buf.v, count: n), elementOffset: lo, scratch: buf.scratch)
        }
        for (flag, ref, role) in [(NonFinite.vlm, v, "VLM"), (.expert, e, "expert")] where flags.contains(flag) {
            warnings.warn("\(ref.file.path): tensor '\(ref.name)' (\(role)) holds non-finite values (inf or NaN); the merge dropped them here, but check that checkpoint")
        }
        // Extra vocabulary rows of the VLM keep their values.
        if shared < v.elementCount {
            try copyTensor(v, from: shared, count: v.elementCount - shared, to: t.output, writer: writer, buf: buf, chunk: chunk)
        }
    }
}

/// Runs `produce` over `indices` of the pairing on the worker pool, with read-ahead.
private func produceAll(_ indices: [Int], pairing: TensorPairing, spec: MergeSpec, coefficients: Coefficients,
                        writer: CheckpointWriter, options: MergeOptions, pool: BufferPool? = nil, warnings: WarningSink) throws {
    let tensors = pairing.tensors
    let chunk = options.chunkElements
    try parallelForEach(count: indices.count, threads: options.threads, capacity: chunk, pool: pool) { j, buf in
        // Ask the kernel to read ahead the tensors the workers will take next.
        for k in (j + 1)..<min(indices.count, j + 1 + options.threads) { prefetch(tensors[indices[k]]) }
        try produce(tensors[indices[j]], spec: spec, coefficients: coefficients, writer: writer, buf: buf, chunk: chunk, warnings: warnings)
    }
}

/// FRANK/MetaGPT/NaN at layer or tensor granularity: a layer's coefficients depend only on
/// that layer's norms, so each group (decoder layer, then the other group) is measured and
/// merged before the next is read. The provenance header reserves fixed-width space for the
/// coefficients and is rewritten with the final values at the end.
private func mergeLayerByLayer(pairing: TensorPairing, spec: MergeSpec, to output: String, options: MergeOptions,
                               inputs: (base: String, vlm: String, expert: String), vlm: Checkpoint?, start: Date,
                               log: (@Sendable (String) -> Void)?) throws -> MergeResult {
    let L = pairing.layerCount
    // Placeholder with the final structure (same layers, other group, tensor keys, decay).
    let empty = TaskVectorStats(perTensor: Dictionary(uniqueKeysWithValues: pairing.tensors.compactMap { t -> (String, NormStats)? in
        if case .merge = t.action, let c = t.canonical { return (c, NormStats()) }
        return nil
    }), tensorLayer: [:], layers: Array(repeating: NormStats(), count: L), other: NormStats())
    let warnings = WarningSink(log: log)
    // Resolves (and checks) the prior before anything is written; its warnings come from here.
    var coefficients = try ClosedForm.coefficients(for: spec, layerCount: L, stats: empty, warn: warnings.warn)
    let (writer, copied) = try makeWriter(pairing, provenance(spec, coefficients, inputs, options), output, options, vlm,
                                          inputs: protectedPaths(pairing, inputs), log: log)
    log?("layer by layer: \(L) decoder layers + other group, \(options.threads) threads, \(writer.shardNames.count) shard(s)")
    var groups: [Int: [Int]] = [:]
    var copies: [Int] = []
    for (i, t) in pairing.tensors.enumerated() {
        if case .merge = t.action, t.canonical != nil { groups[t.layer ?? L, default: []].append(i) } else { copies.append(i) }
    }
    var statsSeconds = 0.0
    let pool = BufferPool()
    let order = groups.keys.sorted()
    for (gi, g) in order.enumerated() {
        let indices = groups[g]!
        let sub = TensorPairing(tensors: indices.map { pairing.tensors[$0] }, layerCount: L, passedThrough: [], ignored: [])
        let t0 = Date()
        let stats = try computeTaskVectorStats(sub, threads: options.threads, chunkElements: options.chunkElements, pool: pool)
        statsSeconds += Date().timeIntervalSince(t0)
        let c = try ClosedForm.coefficients(for: spec, layerCount: L, stats: stats)
        if g < L { coefficients.layers[g] = c.layers[g] } else { coefficients.other = c.other }
        for i in indices {
            if let name = pairing.tensors[i].canonical, let p = c.perTensor[name] { coefficients.perTensor[name] = p }
        }
        // Read the next group ahead (asynchronous readahead) while this one is merged from
        // the page cache, so the disk stays busy during the merge pass.
        if gi + 1 < order.count { for i in groups[order[gi + 1]]! { prefetch(pairing.tensors[i]) } }
        try produceAll(indices, pairing: pairing, spec: spec, coefficients: c, writer: writer, options: options, pool: pool,
                       warnings: warnings)
    }
    try produceAll(copies, pairing: pairing, spec: spec, coefficients: coefficients, writer: writer, options: options, pool: pool,
                   warnings: warnings)
    try writer.replaceMetadata(["mergetune.coefficients": coefficientsJSON(coefficients)])
    try writer.finish()
    let bytes = pairing.tensors.reduce(0) { $0 + $1.output.byteCount }
    return MergeResult(output: output, coefficients: coefficients, mergedTensors: pairing.mergedCount,
                       copiedTensors: pairing.copiedCount, bytesWritten: bytes, copiedFiles: copied,
                       statsSeconds: statsSeconds, seconds: Date().timeIntervalSince(start), warnings: warnings.list)
}

/// subspace: the factors from the SVD cache (computed and stored on a miss), then every tensor
/// whole, one at a time (a matrix's gated delta needs all of it; Subspace.swift).
private func mergeSubspace(pairing: TensorPairing, spec: MergeSpec, base: Checkpoint, vlm: Checkpoint, expert: Checkpoint,
                           to output: String, options: MergeOptions, inputs: (base: String, vlm: String, expert: String),
                           start: Date, log: (@Sendable (String) -> Void)?) throws -> MergeResult {
    guard let config = spec.subspace else { throw MergeError(message: "subspace needs its bands and gates") }
    do { try config.validate(layers: pairing.layerCount) } catch { throw MergeError(message: "\(error)") }
    let cache = SubspaceCache(directory: options.subspaceCache ?? SubspaceCache.defaultDirectory())
    let (factors, hit) = try cache.factors(pairing, base: base, vlm: vlm, expert: expert, rank: config.rank) { log?("note: \($0)") }
    log?(hit ? "SVD factors (rank \(config.rank)) read from the cache in \(cache.directory)"
             : "SVD factors (rank \(config.rank)) computed and cached in \(cache.directory)")
    let statsSeconds = Date().timeIntervalSince(start)
    let coefficients = Coefficients.constant(CoefficientPair(1, spec.expWeight), layers: pairing.layerCount)
    let warnings = WarningSink(log: log)
    let (writer, copied) = try makeWriter(pairing, provenance(spec, coefficients, inputs, options), output, options, vlm,
                                          inputs: protectedPaths(pairing, inputs), log: log)
    let buf = WorkerBuffers(capacity: options.chunkElements)
    for t in pairing.tensors {
        switch t.action {
        case let .copy(src):
            try copyTensor(src, from: 0, count: src.elementCount, to: t.output, writer: writer, buf: buf, chunk: options.chunkElements)
        case let .merge(b, v, e, shared):
            let out = subspaceMergeTensor(base: Array(b.floats()[0..<shared]), vlm: v.floats(), expert: Array(e.floats()[0..<shared]),
                                          factor: t.canonical.flatMap { factors.factors[$0] }, config: config, layer: t.layer,
                                          lambda: spec.expWeight)
            guard out.allSatisfy(\.isFinite) else {
                throw MergeError(message: "merged tensor '\(t.name)' is not finite (inf or NaN); nothing was written. Check the inputs for non-finite values, or use a smaller exp_weight.")
            }
            try out.withUnsafeBufferPointer { try writer.write(t.name, $0) }
        }
    }
    try writer.finish()
    let bytes = pairing.tensors.reduce(0) { $0 + $1.output.byteCount }
    return MergeResult(output: output, coefficients: coefficients, mergedTensors: pairing.mergedCount,
                       copiedTensors: pairing.copiedCount, bytesWritten: bytes, copiedFiles: copied,
                       statsSeconds: statsSeconds, seconds: Date().timeIntervalSince(start), warnings: warnings.list)
}

/// Paths the output must never be or contain: the input checkpoints and every shard read.
private func protectedPaths(_ pairing: TensorPairing, _ inputs: (base: String, vlm: String, expert: String)) -> [String] {
    var files = Set<String>()
    for t in pairing.tensors {
        switch t.action {
        case let .copy(r): files.insert(r.file.path)
        case let .merge(b, v, e, _): files.insert(b.file.path); files.insert(v.file.path); files.insert(e.file.path)
        }
    }
    return [inputs.base, inputs.vlm, inputs.expert] + files.sorted()
}

/// Merge with coefficients already resolved (the study engine can reuse a pairing and stats).
public func merge(pairing: TensorPairing, spec: MergeSpec, coefficients: Coefficients, to output: String,
                  options: MergeOptions, inputs: (base: String, vlm: String, expert: String), vlm: Checkpoint?,
                  start: Date = Date(), statsSeconds: Double = 0, log: (@Sendable (String) -> Void)? = nil) throws -> MergeResult {
    try merge(pairing: pairing, spec: spec, coefficients: coefficients, to: output, options: options, inputs: inputs, vlm: vlm,
              start: start, statsSeconds: statsSeconds, warnings: WarningSink(log: log), log: log)
}

private func merge(pairing: TensorPairing, spec: MergeSpec, coefficients: Coefficients, to output: String,
                   options: MergeOptions, inputs: (base: String, vlm: String, expert: String), vlm: Checkpoint?,
                   start: Date, statsSeconds: Double, warnings: WarningSink, log: (@Sendable (String) -> Void)?) throws -> MergeResult {
    let (writer, copied) = try makeWriter(pairing, provenance(spec, coefficients, inputs, options), output, options, vlm,
                                          inputs: protectedPaths(pairing, inputs), log: log)
    log?("merging \(pairing.mergedCount) tensors, copying \(pairing.copiedCount), \(options.threads) threads, \(writer.shardNames.count) shard(s)")
    try produceAll(Array(pairing.tensors.indices), pairing: pairing, spec: spec, coefficients: coefficients, writer: writer, options: options,
                   warnings: warnings)
    try writer.finish()
    let bytes = pairing.tensors.reduce(0) { $0 + $1.output.byteCount }
    return MergeResult(output: output, coefficients: coefficients, mergedTensors: pairing.mergedCount,
                       copiedTensors: pairing.copiedCount, bytesWritten: bytes, copiedFiles: copied,
                       statsSeconds: statsSeconds, seconds: Date().timeIntervalSince(start), warnings: warnings.list)
}

private func prefetch(_ t: PlannedTensor) {
    switch t.action {
    case let .copy(s): s.adviseWillNeed()
    case let .merge(b, v, e, _): b.adviseWillNeed(); v.adviseWillNeed(); e.adviseWillNeed()
    }
}

/// Copies elements [from, from+count) of `src` into the output tensor: raw bytes when the
/// dtype is unchanged, else converted through Float.
private func copyTensor(_ src: TensorRef, from: Int, count: Int, to spec: TensorSpec, writer: CheckpointWriter,
                        buf: WorkerBuffers, chunk: Int) throws {
    var lo = from
    while lo < from + count {
        let n = min(chunk, from + count - lo)
        if src.dtype == spec.dtype {
            try writer.writeBytes(spec.name, src.rawBytes(from: lo, count: n), byteOffset: lo * spec.dtype.itemSize)
            src.releaseElements(from: lo, count: n)
        } else {
            try src.readFloatsBuffered(from: lo, count: n, into: buf.v, staging: buf.stageV)
            try writer.write(spec.name, UnsafeBufferPointer(start: buf.v, count: n), elementOffset: lo, scratch: buf.scratch)
        }
        lo += n
    }
}
