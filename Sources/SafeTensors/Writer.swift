#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// What the writer needs to know about a tensor before any data exists.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * dtype.itemSize }
}

/// Serializes a header (with `__metadata__` first) padded with spaces to a multiple of 8,
/// as the reference writer does, so the data section starts aligned.
public func encodeHeader(_ entries: [(spec: TensorSpec, start: Int)], metadata: [String: String]) -> [UInt8] {
    var s = "{"
    var first = true
    if !metadata.isEmpty {
        s += "\"__metadata__\":{"
        s += metadata.keys.sorted().map { "\(jsonQuote($0)):\(jsonQuote(metadata[$0]!))" }.joined(separator: ",")
        s += "}"
        first = false
    }
    for (spec, start) in entries {
        if !first { s += "," }
        first = false
        let shape = spec.shape.map(String.init).joined(separator: ",")
        s += "\(jsonQuote(spec.name)):{\"dtype\":\"\(spec.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(start),\(start + spec.byteCount)]}"
    }
    s += "}"
    var bytes = Array(s.utf8)
    while (8 + bytes.count) % 8 != 0 { bytes.append(0x20) }
    return bytes
}

/// Writes a whole single-file checkpoint from in-memory tensors (tests, fixtures, small outputs).
public func writeSafeTensorsFile(path: String, tensors: [(spec: TensorSpec, values: [Float])], metadata: [String: String] = [:]) throws(SafeTensorsError) {
    var entries: [(spec: TensorSpec, start: Int)] = []
    var offset = 0
    for (spec, values) in tensors {
        guard values.count == spec.elementCount else {
            throw SafeTensorsError(.shapeMismatch, file: path, tensor: spec.name, "\(values.count) values for shape \(spec.shape)")
        }
        entries.append((spec, offset))
        offset += spec.byteCount
    }
    let header = encodeHeader(entries, metadata: metadata)
    var out = [UInt8]()
    out.reserveCapacity(8 + header.count + offset)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: header)
    for (spec, values) in tensors {
        var bytes = [UInt8](repeating: 0, count: spec.byteCount)
        values.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { dst in
                if let s = src.baseAddress, let d = dst.baseAddress { convertFromFloat(s, count: values.count, to: spec.dtype, into: d) }
            }
        }
        out.append(contentsOf: bytes)
    }
    do { try Data(out).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw SafeTensorsError(.write, file: path, "\(error)")
    }
}

/// Parses "5GB", "500MB", "2GiB", "1000000" into bytes (GB = 10^9 as in HF's max_shard_size).
public func parseByteSize(_ text: String) -> Int? {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [(String, Double)] = [("GIB", 1073741824), ("MIB", 1048576), ("KIB", 1024),
                                     ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("G", 1e9), ("M", 1e6), ("K", 1e3), ("B", 1)]
    for (u, f) in units where t.hasSuffix(u) {
        // Decimal digits and one point only (Double(String) would take hex floats and "inf").
        let number = t.dropLast(u.count).trimmingCharacters(in: .whitespaces)
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              number.filter({ $0 == "." }).count <= 1, let v = Double(number), v > 0 else { return nil }
        let bytes = v * f
        guard bytes < Double(Int.max / 2) else { return nil }  // 1e30GB: refused, not a crash
        return Int(bytes)
    }
    guard let v = Int(t), v > 0 else { return nil }
    return v
}

/// A sharded checkpoint writer whose layout is planned up front: every tensor's shard
/// and offset are known before any data is computed, so any thread may write any tensor
/// (in pieces, in any order) with pwrite. Everything goes to a temporary directory that
/// is renamed to the final name only in `finish()`, so a crash never leaves a partial
/// checkpoint under the final name.
public final class CheckpointWriter: @unchecked Sendable {
    // Shared state after init is immutable except `written`, guarded by `lock`.
    public let outputPath: String
    public let tempPath: String
    public let shardNames: [String]
    private let fds: [Int32]
    private let location: [String: (shard: Int, offset: Int, spec: TensorSpec)]
    private let specs: [TensorSpec]
    private var written: [String: Int] = [:]
    private let lock = NSLock()
    private var metadata: [String: String]
    /// Each shard's planned entries, kept so headers can be re-encoded by `replaceMetadata`.
    private var shardEntries: [[(spec: TensorSpec, start: Int)]] = []
    private let overwrite: Bool
    private var finished = false

    /// The resolved output path (symlinks followed) that `finish()` renames onto.
    public let resolvedOutputPath: String
    private let inputs: [String]
    private var copiedNames: [String] = []
    /// Temporary folders of dead writers next to the output, removed by this init.
    public private(set) var removedStalePartials: [String] = []

    /// Plans shards of at most `maxShardBytes` of tensor data (a larger single tensor gets a shard of its own).
    /// `inputs` are the checkpoints the output is computed from: the output may never be
    /// one of them or contain one (see `OutputSafety.check`).
    public init(outputPath: String, tensors: [TensorSpec], maxShardBytes: Int, metadata: [String: String], overwrite: Bool = false,
                inputs: [String] = []) throws(SafeTensorsError) {
        self.outputPath = outputPath
        self.metadata = metadata
        self.overwrite = overwrite
        self.specs = tensors
        self.inputs = inputs
        let fm = FileManager.default
        try OutputSafety.check(output: outputPath, inputs: inputs, overwrite: overwrite)
        guard let resolved = OutputSafety.resolvedPath(outputPath) else {
            throw SafeTensorsError(.write, file: outputPath, "the output's parent folder does not exist")
        }
        resolvedOutputPath = resolved
        var seen = Set<String>()
        for t in tensors where !seen.insert(t.name).inserted {
            throw SafeTensorsError(.duplicateName, file: outputPath, tensor: t.name, "tensor planned twice")
        }
        // Greedy shard assignment in the given order.
        var groups: [[TensorSpec]] = [[]]
        var current = 0
        for t in tensors {
            if current > 0 && current + t.byteCount > maxShardBytes {
                groups.append([])
                current = 0
            }
            groups[groups.count - 1].append(t)
            current += t.byteCount
        }
        let n = groups.count
        shardNames = n == 1 ? [Checkpoint.singleName]
            : (1...n).map { String(format: "model-%05d-of-%05d.safetensors", $0, n) }
        // The temporary folder sits next to the resolved output (same file system, so the
        // final rename is atomic) and is named after this writer (pid + start time), so a
        // later writer can tell a dead writer's leftovers from a running one's.
        let parent = (resolved as NSString).deletingLastPathComponent
        let base = (resolved as NSString).lastPathComponent
        removedStalePartials = OutputSafety.removeStalePartials(in: parent)
        tempPath = (parent as NSString).appendingPathComponent(OutputSafety.partialName(for: base))
        try? fm.removeItem(atPath: tempPath)
        do { try fm.createDirectory(atPath: tempPath, withIntermediateDirectories: true) } catch {
            throw SafeTensorsError(.write, file: tempPath, "cannot create directory: \(error)")
        }
        let marker = (tempPath as NSString).appendingPathComponent(OutputSafety.partialMarker)
        guard fm.createFile(atPath: marker, contents: Data("\(getpid()) \(OutputSafety.processStartTime())\n".utf8)) else {
            throw SafeTensorsError(.write, file: marker, "cannot create the partial marker")
        }
        var fds: [Int32] = []
        var allEntries: [[(spec: TensorSpec, start: Int)]] = []
        var location: [String: (shard: Int, offset: Int, spec: TensorSpec)] = [:]
        for (i, group) in groups.enumerated() {
            var entries: [(spec: TensorSpec, start: Int)] = []
            var off = 0
            for t in group {
                entries.append((t, off))
                off += t.byteCount
            }
            let shardMeta = metadata.merging(["format": "pt"]) { a, _ in a }
            let header = encodeHeader(entries, metadata: shardMeta)
            let dataStart = 8 + header.count
            let path = (tempPath as NSString).appendingPathComponent(shardNames[i])
            let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                fds.forEach { close($0) }
                throw SafeTensorsError(.write, file: path, "cannot create: \(String(cString: strerror(errno)))")
            }
            fds.append(fd)
            var prefix = [UInt8]()
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { prefix.append(contentsOf: $0) }
            prefix.append(contentsOf: header)
            let ok = prefix.withUnsafeBytes { CheckpointWriter.pwriteAll(fd, $0, 0) }
            guard ok, ftruncate(fd, off_t(dataStart + off)) == 0 else {
                fds.forEach { close($0) }
                throw SafeTensorsError(.write, file: path, "cannot write header: \(String(cString: strerror(errno)))")
            }
            for (spec, start) in entries { location[spec.name] = (i, dataStart + start, spec) }
            allEntries.append(entries)
        }
        self.shardEntries = allEntries
        self.fds = fds
        self.location = location
    }

    deinit {
        fds.forEach { close($0) }
        if !finished { try? FileManager.default.removeItem(atPath: tempPath) }
    }

    private static func pwriteAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer, _ offset: Int) -> Bool {
        var done = 0
        while done < buf.count {
            let r = pwrite(fd, buf.baseAddress! + done, buf.count - done, off_t(offset + done))
            if r < 0 { if errno == EINTR { continue }; return false }
            done += r
        }
        return true
    }

    public func spec(_ name: String) -> TensorSpec? { location[name]?.spec }

    /// Writes raw bytes (already in the tensor's dtype) at a byte offset inside the tensor.
    public func writeBytes(_ name: String, _ bytes: UnsafeRawBufferPointer, byteOffset: Int = 0) throws(SafeTensorsError) {
        guard let loc = location[name] else { throw SafeTensorsError(.write, file: outputPath, tensor: name, "tensor not in the plan") }
        guard byteOffset >= 0, byteOffset + bytes.count <= loc.spec.byteCount else {
            throw SafeTensorsError(.write, file: outputPath, tensor: name, "write beyond the tensor's bytes")
        }
        guard CheckpointWriter.pwriteAll(fds[loc.shard], bytes, loc.offset + byteOffset) else {
            throw SafeTensorsError(.write, file: shardNames[loc.shard], tensor: name, "write failed: \(String(cString: strerror(errno)))")
        }
        lock.lock()
        written[name, default: 0] += bytes.count
        lock.unlock()
    }

    /// Converts Float values to the tensor's dtype and writes them at an element offset.
    /// `scratch` must hold count × item size bytes; pass one per thread to avoid allocation.
    public func write(_ name: String, _ values: UnsafeBufferPointer<Float>, elementOffset: Int = 0,
                      scratch: UnsafeMutableRawBufferPointer? = nil) throws(SafeTensorsError) {
        guard let loc = location[name] else { throw SafeTensorsError(.write, file: outputPath, tensor: name, "tensor not in the plan") }
        let n = values.count * loc.spec.dtype.itemSize
        if loc.spec.dtype == .f32 {
            try writeBytes(name, UnsafeRawBufferPointer(values), byteOffset: elementOffset * 4)
            return
        }
        if let scratch, scratch.count >= n {
            if let s = values.baseAddress { convertFromFloat(s, count: values.count, to: loc.spec.dtype, into: scratch.baseAddress!) }
            try writeBytes(name, UnsafeRawBufferPointer(rebasing: scratch[0..<n]), byteOffset: elementOffset * loc.spec.dtype.itemSize)
        } else {
            let tmp = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 1), alignment: 16)
            defer { tmp.deallocate() }
            if let s = values.baseAddress { convertFromFloat(s, count: values.count, to: loc.spec.dtype, into: tmp.baseAddress!) }
            try writeBytes(name, UnsafeRawBufferPointer(rebasing: tmp[0..<n]), byteOffset: elementOffset * loc.spec.dtype.itemSize)
        }
    }

    /// Replaces metadata values computed during the merge (e.g. coefficients of a layer-by-layer
    /// closed form). Headers are already on disk, so every shard's re-encoded header must
    /// keep its exact length: callers reserve the space with fixed-width placeholders.
    public func replaceMetadata(_ new: [String: String]) throws(SafeTensorsError) {
        var merged = metadata
        for (k, v) in new { merged[k] = v }
        for (i, entries) in shardEntries.enumerated() {
            let old = encodeHeader(entries, metadata: metadata.merging(["format": "pt"]) { a, _ in a })
            let header = encodeHeader(entries, metadata: merged.merging(["format": "pt"]) { a, _ in a })
            guard header.count == old.count else {
                throw SafeTensorsError(.write, file: shardNames[i], "replacement metadata changes the header length (\(old.count) → \(header.count))")
            }
            let ok = header.withUnsafeBytes { CheckpointWriter.pwriteAll(fds[i], $0, 8) }
            guard ok else { throw SafeTensorsError(.write, file: shardNames[i], "cannot rewrite header: \(String(cString: strerror(errno)))") }
        }
        metadata = merged
    }

    /// Copies a file into the output directory (config, tokenizer, ...).
    public func copyFile(from path: String, as name: String? = nil) throws(SafeTensorsError) {
        let fileName = name ?? (path as NSString).lastPathComponent
        let dest = (tempPath as NSString).appendingPathComponent(fileName)
        do { try FileManager.default.copyItem(atPath: path, toPath: dest) } catch {
            throw SafeTensorsError(.write, file: path, "cannot copy into the output: \(error)")
        }
        lock.lock(); copiedNames.append(fileName); lock.unlock()
    }

    /// Writes a small text file (e.g. the merge's `mergekit_config.yml`) into the output; it is
    /// listed in the manifest like a copied file.
    public func writeFile(named fileName: String, contents: String) throws(SafeTensorsError) {
        let dest = (tempPath as NSString).appendingPathComponent(fileName)
        do { try Data(contents.utf8).write(to: URL(fileURLWithPath: dest)) } catch {
            throw SafeTensorsError(.write, file: dest, "cannot write into the output: \(error)")
        }
        lock.lock(); copiedNames.append(fileName); lock.unlock()
    }

    /// Checks every tensor was fully written, syncs, writes the index (for several shards)
    /// and renames the temporary directory to the final name.
    public func finish() throws(SafeTensorsError) {
        lock.lock()
        let w = written
        lock.unlock()
        for s in specs where w[s.name, default: 0] != s.byteCount {
            throw SafeTensorsError(.write, file: outputPath, tensor: s.name, "\(w[s.name, default: 0]) of \(s.byteCount) bytes written")
        }
        for (i, fd) in fds.enumerated() where fsync(fd) != 0 {
            throw SafeTensorsError(.write, file: shardNames[i], "fsync failed: \(String(cString: strerror(errno)))")
        }
        if shardNames.count > 1 {
            var s = "{\n  \"metadata\": {\n    \"total_size\": \(specs.reduce(0) { $0 + $1.byteCount })"
            for k in metadata.keys.sorted() { s += ",\n    \(jsonQuote(k)): \(jsonQuote(metadata[k]!))" }
            s += "\n  },\n  \"weight_map\": {\n"
            s += specs.map { "    \(jsonQuote($0.name)): \(jsonQuote(shardNames[location[$0.name]!.shard]))" }.joined(separator: ",\n")
            s += "\n  }\n}\n"
            let indexPath = (tempPath as NSString).appendingPathComponent(Checkpoint.indexName)
            do { try Data(s.utf8).write(to: URL(fileURLWithPath: indexPath)) } catch {
                throw SafeTensorsError(.write, file: indexPath, "\(error)")
            }
        }
        let fm = FileManager.default
        // The manifest lists what this writer produced (so a later --force may replace all of it).
        var files = shardNames + (shardNames.count > 1 ? [Checkpoint.indexName] : [])
        lock.lock(); files += copiedNames; lock.unlock()
        let manifest = (tempPath as NSString).appendingPathComponent(OutputSafety.manifestName)
        do { try Data((files.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: manifest)) } catch {
            throw SafeTensorsError(.write, file: manifest, "\(error)")
        }
        // The output may have changed since init: check again right before replacing it.
        try OutputSafety.check(output: outputPath, inputs: inputs, overwrite: overwrite)
        try? fm.removeItem(atPath: (tempPath as NSString).appendingPathComponent(OutputSafety.partialMarker))
        let outputPath = resolvedOutputPath
        var trash: String? = nil
        if fm.fileExists(atPath: outputPath) {
            guard overwrite else { throw SafeTensorsError(.write, file: outputPath, "output already exists") }
            trash = tempPath + ".old"
            if rename(outputPath, trash!) != 0 {
                throw SafeTensorsError(.write, file: outputPath, "cannot move the old output aside: \(String(cString: strerror(errno)))")
            }
        }
        guard rename(tempPath, outputPath) == 0 else {
            throw SafeTensorsError(.write, file: outputPath, "cannot rename \(tempPath): \(String(cString: strerror(errno)))")
        }
        finished = true
        if let trash { try? fm.removeItem(atPath: trash) }
    }
}
