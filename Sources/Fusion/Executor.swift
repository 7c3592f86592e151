import Dispatch
import Foundation
import SafeTensors

/// How a checkpoint merge runs.
public struct MergeOptions: Sendable {
    /// Worker threads (default: active processors).
    public var threads: Int
    /// Elements per chunk: each worker holds three Float chunks, so memory is about
    /// threads × chunkElements × 14 bytes, independent of model size.
    public var chunkElements: Int
    /// Largest shard of the output (bytes of tensor data).
    public var maxShardBytes: Int
    /// Output dtype for floating tensors (nil: the VLM's dtype of each tensor).
    public var outputDType: DType?
    public var passThroughUnpaired: Bool
    public var overwrite: Bool
    /// Copy config, generation config, tokenizer and processor files from the VLM directory.
    public var copyConfigFiles: Bool

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, chunkElements: Int = 4 << 20,
                maxShardBytes: Int = 5_000_000_000, outputDType: DType? = nil, passThroughUnpaired: Bool = false,
                overwrite: Bool = false, copyConfigFiles: Bool = true) {
        self.threads = max(1, threads)
        self.chunkElements = max(16, chunkElements)
        self.maxShardBytes = maxShardBytes
        self.outputDType = outputDType
        self.passThroughUnpaired = passThroughUnpaired
        self.overwrite = overwrite
        self.copyConfigFiles = copyConfigFiles
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
}

/// Per-worker Float chunks, allocated once per worker.
final class WorkerBuffers {
    let b, v, e: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutableRawBufferPointer
    let capacity: Int
    init(capacity: Int) {
        self.capacity = capacity
        b = .allocate(capacity: capacity)
        v = .allocate(capacity: capacity)
        e = .allocate(capacity: capacity)
        scratch = .allocate(byteCount: capacity * 8, alignment: 16)
    }
    deinit {
        b.deallocate(); v.deallocate(); e.deallocate(); scratch.deallocate()
    }
}

/// Runs `body` over 0..<count on `threads` workers that take the next index from a shared
/// counter; the first error stops the others and is rethrown.
func parallelForEach(count: Int, threads: Int, capacity: Int,
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
        let buffers = WorkerBuffers(capacity: capacity)
        while let i = shared.take() {
            do { try body(i, buffers) } catch { shared.fail(error) }
        }
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

    func forEachChunk(_ buf: WorkerBuffers, loaded: inout Bool, _ body: (Int, Int) throws -> Void) rethrows {
        var lo = 0
        while lo < count {
            let n = min(chunk, count - lo)
            if !(single && loaded) {
                base.readFloatsAndRelease(from: lo, count: n, into: buf.b)
                vlm.readFloatsAndRelease(from: lo, count: n, into: buf.v)
                expert.readFloatsAndRelease(from: lo, count: n, into: buf.e)
                loaded = true
            }
            try body(lo, n)
            lo += n
        }
    }
}

/// Task-vector statistics over the merged tensors (one streaming pass over the inputs).
public func computeTaskVectorStats(_ pairing: TensorPairing, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                                   chunkElements: Int = 4 << 20) throws -> TaskVectorStats {
    let items = pairing.tensors.enumerated().compactMap { (i, t) -> Int? in
        if case .merge = t.action, t.canonical != nil { return i }
        return nil
    }
    final class Results: @unchecked Sendable {
        let lock = NSLock()
        var perTensor: [String: NormStats] = [:]
    }
    let results = Results()
    try parallelForEach(count: items.count, threads: threads, capacity: chunkElements) { j, buf in
        let t = pairing.tensors[items[j]]
        guard case let .merge(b, v, e, shared) = t.action else { return }
        let stream = ChunkStream(base: b, vlm: v, expert: e, count: shared, chunk: chunkElements)
        var s = NormStats()
        var loaded = false
        stream.forEachChunk(buf, loaded: &loaded) { _, n in
            var sqV = 0.0, sqR = 0.0, dot = 0.0, thV = 0.0, thR = 0.0
            // Float partial sums per 4096 elements, accumulated in Double: fast and accurate enough.
            var i = 0
            while i < n {
                let end = min(n, i + 4096)
                var a: Float = 0, c: Float = 0, d: Float = 0, f: Float = 0, g: Float = 0
                for k in i..<end {
                    let bk = buf.b[k], vk = buf.v[k], ek = buf.e[k]
                    let tv = vk - bk, tr = ek - bk
                    a += tv * tv; c += tr * tr; d += tv * tr; f += vk * vk; g += ek * ek
                }
                sqV += Double(a); sqR += Double(c); dot += Double(d); thV += Double(f); thR += Double(g)
                i = end
            }
            s.sqV += sqV; s.sqR += sqR; s.dot += dot; s.sqThetaV += thV; s.sqThetaR += thR
            s.elements += n
        }
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

/// Compact JSON of a coefficient table for provenance and reports.
public func coefficientsJSON(_ c: Coefficients) -> String {
    func f(_ x: Double) -> String { String(format: "%.6g", x) }
    var s = "{\"layers\":[" + c.layers.map { "[\(f($0.vl)),\(f($0.exp))]" }.joined(separator: ",") + "]"
    s += ",\"other\":[\(f(c.other.vl)),\(f(c.other.exp))]"
    if !c.perTensor.isEmpty {
        s += ",\"tensors\":{" + c.perTensor.keys.sorted().map { "\(jsonQuote($0)):[\(f(c.perTensor[$0]!.vl)),\(f(c.perTensor[$0]!.exp))]" }.joined(separator: ",") + "}"
    }
    if let d = c.decay { s += ",\"decay\":\(f(d))" }
    return s + "}"
}

/// The streaming merge executor: pairs the checkpoints, resolves the coefficients
/// (one statistics pass for the closed forms), plans the output's shards, and merges
/// tensor by tensor on `options.threads` workers, each holding a few chunks of memory.
public func merge(base: Checkpoint, vlm: Checkpoint, expert: Checkpoint, spec: MergeSpec, to output: String,
                  options: MergeOptions = MergeOptions(), log: (@Sendable (String) -> Void)? = nil) throws -> MergeResult {
    try spec.validate()
    let start = Date()
    let pairing = try TensorPairing(base: base, vlm: vlm, expert: expert,
                                    passThroughUnpaired: options.passThroughUnpaired, outputDType: options.outputDType)
    var stats: TaskVectorStats? = nil
    if spec.method.isClosedForm {
        log?("computing task-vector norms over \(pairing.mergedCount) tensors")
        stats = try computeTaskVectorStats(pairing, threads: options.threads, chunkElements: options.chunkElements)
    }
    let statsSeconds = Date().timeIntervalSince(start)
    let coefficients = try ClosedForm.coefficients(for: spec, layerCount: pairing.layerCount, stats: stats)
    let abs = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.path }
    return try merge(pairing: pairing, spec: spec, coefficients: coefficients, to: output, options: options,
                     inputs: (abs(base.path), abs(vlm.path), abs(expert.path)), vlm: vlm, start: start, statsSeconds: statsSeconds, log: log)
}

/// Merge with coefficients already resolved (the study engine can reuse a pairing and stats).
public func merge(pairing: TensorPairing, spec: MergeSpec, coefficients: Coefficients, to output: String,
                  options: MergeOptions, inputs: (base: String, vlm: String, expert: String), vlm: Checkpoint?,
                  start: Date = Date(), statsSeconds: Double = 0, log: (@Sendable (String) -> Void)? = nil) throws -> MergeResult {
    let config = spec.config
    var metadata: [String: String] = [
        "mergetune.method": spec.method.rawValue,
        "mergetune.coefficients": coefficientsJSON(coefficients),
        "mergetune.inputs": "{\"base\":\(jsonQuote(inputs.base)),\"vlm\":\(jsonQuote(inputs.vlm)),\"expert\":\(jsonQuote(inputs.expert))}",
    ]
    if let data = try? JSONEncoder().encode(spec), let s = String(data: data, encoding: .utf8) { metadata["mergetune.spec"] = s }
    let writer = try CheckpointWriter(outputPath: output, tensors: pairing.tensors.map(\.output),
                                      maxShardBytes: options.maxShardBytes, metadata: metadata, overwrite: options.overwrite)
    var copied: [String] = []
    if options.copyConfigFiles, let vlm {
        for name in vlmSideFiles(vlm) {
            try writer.copyFile(from: (vlm.path as NSString).appendingPathComponent(name))
            copied.append(name)
        }
    }
    log?("merging \(pairing.mergedCount) tensors, copying \(pairing.copiedCount), \(options.threads) threads, \(writer.shardNames.count) shard(s)")
    let chunk = options.chunkElements
    let tensors = pairing.tensors
    try parallelForEach(count: tensors.count, threads: options.threads, capacity: chunk) { i, buf in
        // Ask the kernel to read ahead the tensor a worker will take next.
        if i + 1 < tensors.count { prefetch(tensors[i + 1]) }
        let t = tensors[i]
        switch t.action {
        case let .copy(src):
            try copyTensor(src, from: 0, count: src.elementCount, to: t.output, writer: writer, buf: buf, chunk: chunk)
        case let .merge(b, v, e, shared):
            let c = coefficients.lookup(canonical: t.canonical, layer: t.layer)
            var kernel = TensorKernel(config: config, count: shared, wV: c.vl, wR: c.exp, density: spec.density,
                                      seed: spec.seed, tensor: t.canonical ?? t.name)
            let stream = ChunkStream(base: b, vlm: v, expert: e, count: shared, chunk: chunk)
            var loaded = false
            for pass in kernel.passes {
                kernel.begin(pass)
                stream.forEachChunk(buf, loaded: &loaded) { lo, n in
                    kernel.accumulate(pass, base: buf.b, vlm: buf.v, expert: buf.e, offset: lo, n: n)
                }
                kernel.end(pass)
            }
            let k = kernel
            try stream.forEachChunk(buf, loaded: &loaded) { lo, n in
                k.apply(base: buf.b, vlm: buf.v, expert: buf.e, offset: lo, n: n, out: buf.v)
                try writer.write(t.name, UnsafeBufferPointer(start: buf.v, count: n), elementOffset: lo, scratch: buf.scratch)
            }
            // Extra vocabulary rows of the VLM keep their values.
            if shared < v.elementCount {
                try copyTensor(v, from: shared, count: v.elementCount - shared, to: t.output, writer: writer, buf: buf, chunk: chunk)
            }
        }
    }
    try writer.finish()
    let bytes = pairing.tensors.reduce(0) { $0 + $1.output.byteCount }
    return MergeResult(output: output, coefficients: coefficients, mergedTensors: pairing.mergedCount,
                       copiedTensors: pairing.copiedCount, bytesWritten: bytes, copiedFiles: copied,
                       statsSeconds: statsSeconds, seconds: Date().timeIntervalSince(start))
}

private func prefetch(_ t: PlannedTensor) {
    switch t.action {
    case let .copy(s): s.prefetch()
    case let .merge(b, v, e, _): b.prefetch(); v.prefetch(); e.prefetch()
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
            src.readFloatsAndRelease(from: lo, count: n, into: buf.v)
            try writer.write(spec.name, UnsafeBufferPointer(start: buf.v, count: n), elementOffset: lo, scratch: buf.scratch)
        }
        lo += n
    }
}
