#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

extension SafeTensorsError: LocalizedError {
    public var errorDescription: String? { description }
}

/// A read-only memory mapping of a whole file. Pages are faulted in on use; `release`
/// drops a range from this process's resident set (the page cache keeps it) so
/// streaming over a large file does not grow the resident set.
public final class MappedFile: @unchecked Sendable {
    // Immutable after init; the mapping is read-only, so concurrent reads are safe.
    public let path: String
    public let size: Int
    public let base: UnsafeRawPointer?
    /// Kept open for positioned reads (streaming large ranges with pread avoids page faults).
    public let fd: Int32
    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    public init(path: String) throws(SafeTensorsError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SafeTensorsError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))") }
        self.fd = fd
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw SafeTensorsError(.io, file: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw SafeTensorsError(.io, file: path, "not a regular file")
        }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            close(fd)
            throw SafeTensorsError(.io, file: path, "cannot mmap: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
        close(fd)
    }

    /// Reads [offset, offset+count) into `dst` with pread (all bytes, or false on error/EOF).
    public func read(offset: Int, count: Int, into dst: UnsafeMutableRawPointer) -> Bool {
        guard offset >= 0, count >= 0, offset + count <= size else { return false }
        var done = 0
        while done < count {
            let r = pread(fd, dst + done, count - done, off_t(offset + done))
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return false }
            done += r
        }
        return true
    }

    /// Starts reading a range into the page cache asynchronously.
    public func adviseWillNeed(offset: Int, count: Int) {
        _ = posix_fadvise(fd, off_t(offset), off_t(count), Int32(POSIX_FADV_WILLNEED))
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    /// Drops the whole pages inside [offset, offset+count) from the resident set.
    public func release(offset: Int, count: Int) {
        guard let base, count > 0 else { return }
        let start = (offset + Self.pageSize - 1) / Self.pageSize * Self.pageSize
        let end = (offset + count) / Self.pageSize * Self.pageSize
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// Asks the kernel to start reading a range ahead of use.
    public func prefetch(offset: Int, count: Int) {
        guard let base, count > 0 else { return }
        let start = offset / Self.pageSize * Self.pageSize
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), offset + count - start, MADV_WILLNEED)
    }
}

/// One validated .safetensors file, memory-mapped.
public final class SafeTensorFile: Sendable {
    public let path: String
    public let header: SafeTensorsHeader
    public let mapping: MappedFile
    private let byName: [String: Int]

    public init(path: String) throws(SafeTensorsError) {
        self.path = path
        mapping = try MappedFile(path: path)
        header = try SafeTensorsHeader.parse(mapping.bytes, fileSize: mapping.size, file: path)
        var map: [String: Int] = [:]
        for (i, t) in header.tensors.enumerated() { map[t.name] = i }
        byName = map
    }

    public var tensors: [TensorInfo] { header.tensors }
    public var metadata: [String: String] { header.metadata }

    public func info(_ name: String) -> TensorInfo? { byName[name].map { header.tensors[$0] } }

    /// The raw little-endian bytes of a tensor, valid while this object lives.
    public func rawBytes(_ info: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[(header.dataOffset + info.dataStart)..<(header.dataOffset + info.dataEnd)])
    }

    /// Converts elements [from, from+count) of a tensor to Float into `dst`.
    public func readFloats(_ info: TensorInfo, from: Int = 0, count: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(from >= 0 && count >= 0 && from + count <= info.elementCount)
        guard count > 0, let base = mapping.base else { return }
        let p = base + header.dataOffset + info.dataStart + from * info.dtype.itemSize
        convertToFloat(p, dtype: info.dtype, count: count, into: dst)
    }

    /// A whole tensor as [Float] (for tests and small tensors).
    public func floats(_ name: String) throws(SafeTensorsError) -> [Float] {
        guard let info = info(name) else { throw SafeTensorsError(.notFound, file: path, tensor: name, "no such tensor") }
        return [Float](unsafeUninitializedCapacity: info.elementCount) { buf, n in
            if let b = buf.baseAddress { readFloats(info, count: info.elementCount, into: b) }
            n = info.elementCount
        }
    }

    public func release(_ info: TensorInfo) {
        mapping.release(offset: header.dataOffset + info.dataStart, count: info.byteCount)
    }
    public func prefetch(_ info: TensorInfo) {
        mapping.prefetch(offset: header.dataOffset + info.dataStart, count: info.byteCount)
    }
}

/// A tensor of a checkpoint: its entry and the shard that holds it.
public struct TensorRef: Sendable {
    public let info: TensorInfo
    public let file: SafeTensorFile
    public var name: String { info.name }
    public var shape: [Int] { info.shape }
    public var dtype: DType { info.dtype }
    public var elementCount: Int { info.elementCount }

    public func readFloats(from: Int = 0, count: Int, into dst: UnsafeMutablePointer<Float>) {
        file.readFloats(info, from: from, count: count, into: dst)
    }
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: info.elementCount) { buf, n in
            if let b = buf.baseAddress { file.readFloats(info, count: info.elementCount, into: b) }
            n = info.elementCount
        }
    }
    public func release() { file.release(info) }
    public func prefetch() { file.prefetch(info) }

    /// Reads elements [from, from+count) as Float, then drops their pages from the resident
    /// set: streaming a model through this keeps memory bounded by the buffers.
    public func readFloatsAndRelease(from: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        file.readFloats(info, from: from, count: count, into: dst)
        let size = info.dtype.itemSize
        file.mapping.release(offset: file.header.dataOffset + info.dataStart + from * size, count: count * size)
    }

    /// Raw bytes of elements [from, from+count).
    public func rawBytes(from: Int, count: Int) -> UnsafeRawBufferPointer {
        let size = info.dtype.itemSize
        let all = file.rawBytes(info)
        return UnsafeRawBufferPointer(rebasing: all[(from * size)..<((from + count) * size)])
    }
    /// Streams elements [from, from+count) as Float through positioned reads into `staging`
    /// (at least count × item size bytes; f32 needs none), so large sequential reads reach
    /// the disk instead of page faults. Throws an error naming the file and tensor on I/O failure.
    public func readFloatsBuffered(from: Int, count: Int, into dst: UnsafeMutablePointer<Float>,
                                   staging: UnsafeMutableRawBufferPointer) throws(SafeTensorsError) {
        precondition(from >= 0 && count >= 0 && from + count <= info.elementCount)
        let size = info.dtype.itemSize
        let offset = file.header.dataOffset + info.dataStart + from * size
        if info.dtype == .f32 {
            guard file.mapping.read(offset: offset, count: count * 4, into: UnsafeMutableRawPointer(dst)) else {
                throw SafeTensorsError(.io, file: file.path, tensor: name, "read failed: \(String(cString: strerror(errno)))")
            }
            return
        }
        guard staging.count >= count * size else {
            file.readFloats(info, from: from, count: count, into: dst)
            return
        }
        guard file.mapping.read(offset: offset, count: count * size, into: staging.baseAddress!) else {
            throw SafeTensorsError(.io, file: file.path, tensor: name, "read failed: \(String(cString: strerror(errno)))")
        }
        convertToFloat(UnsafeRawPointer(staging.baseAddress!), dtype: info.dtype, count: count, into: dst)
    }

    /// Asks the kernel to read this tensor into the page cache ahead of use.
    public func adviseWillNeed() {
        file.mapping.adviseWillNeed(offset: file.header.dataOffset + info.dataStart, count: info.byteCount)
    }

    public func releaseElements(from: Int, count: Int) {
        let size = info.dtype.itemSize
        file.mapping.release(offset: file.header.dataOffset + info.dataStart + from * size, count: count * size)
    }
}

/// A checkpoint: a single .safetensors file, or a directory with `model.safetensors`
/// or a sharded set described by `model.safetensors.index.json`.
public final class Checkpoint: Sendable {
    public static let indexName = "model.safetensors.index.json"
    public static let singleName = "model.safetensors"

    /// The path given (file or directory).
    public let path: String
    /// The directory holding the shards (and config files).
    public let directory: String
    public let shards: [SafeTensorFile]
    /// Tensor names in shard order, then data order.
    public let names: [String]
    private let refs: [String: TensorRef]
    /// The index's `metadata` object, if any.
    public let indexMetadata: [String: String]

    public init(path: String) throws(SafeTensorsError) {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SafeTensorsError(.io, file: path, "no such file or directory")
        }
        // A killed merge's temporary folder has the full layout with unwritten (zero) data:
        // never read it as a model.
        let folder = isDir.boolValue ? path : (path as NSString).deletingLastPathComponent
        if let owner = OutputSafety.partialOwner(folder.isEmpty ? "." : folder) {
            throw SafeTensorsError(.partial, file: path, "is the temporary folder of an unfinished or killed merge (\(owner)), not a checkpoint: its tensors may be unwritten. Rerun the merge; a later merge removes it once its writer is gone")
        }
        var shardFiles: [SafeTensorFile] = []
        var weightMap: [String: String]? = nil
        var meta: [String: String] = [:]
        if isDir.boolValue {
            directory = path
            let indexPath = (path as NSString).appendingPathComponent(Checkpoint.indexName)
            let singlePath = (path as NSString).appendingPathComponent(Checkpoint.singleName)
            if FileManager.default.fileExists(atPath: indexPath) {
                let index = try ShardIndex.load(path: indexPath)
                weightMap = index.weightMap
                meta = index.metadata
                for shard in index.shardNames {
                    shardFiles.append(try SafeTensorFile(path: (path as NSString).appendingPathComponent(shard)))
                }
            } else if FileManager.default.fileExists(atPath: singlePath) {
                shardFiles = [try SafeTensorFile(path: singlePath)]
            } else {
                // A directory with exactly one .safetensors file is accepted too.
                let files = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
                guard files.count == 1 else {
                    throw SafeTensorsError(.notFound, file: path,
                                           files.isEmpty ? "no model.safetensors, no \(Checkpoint.indexName) and no .safetensors file"
                                                         : "several .safetensors files but no \(Checkpoint.indexName)")
                }
                shardFiles = [try SafeTensorFile(path: (path as NSString).appendingPathComponent(files[0]))]
            }
        } else {
            directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
            shardFiles = [try SafeTensorFile(path: path)]
        }
        var refs: [String: TensorRef] = [:]
        var names: [String] = []
        for shard in shardFiles {
            let shardName = (shard.path as NSString).lastPathComponent
            for info in shard.tensors {
                if let weightMap {
                    // The index must list every tensor of every shard, in that shard.
                    guard let listed = weightMap[info.name] else {
                        throw SafeTensorsError(.invalidIndex, file: shard.path, tensor: info.name, "tensor is not listed in \(Checkpoint.indexName)")
                    }
                    guard listed == shardName else {
                        throw SafeTensorsError(.invalidIndex, file: shard.path, tensor: info.name, "index places this tensor in \(listed)")
                    }
                }
                guard refs[info.name] == nil else {
                    throw SafeTensorsError(.duplicateName, file: shard.path, tensor: info.name, "tensor appears in more than one shard")
                }
                refs[info.name] = TensorRef(info: info, file: shard)
                names.append(info.name)
            }
        }
        if let weightMap {
            for name in weightMap.keys.sorted() where refs[name] == nil {
                throw SafeTensorsError(.invalidIndex, file: path, tensor: name, "listed in the index but missing from its shard \(weightMap[name]!)")
            }
        }
        self.shards = shardFiles
        self.names = names
        self.refs = refs
        self.indexMetadata = meta
    }

    public subscript(name: String) -> TensorRef? { refs[name] }
    public var tensorCount: Int { names.count }
    public var totalBytes: Int { shards.reduce(0) { $0 + $1.mapping.size } }
    public var parameterCount: Int { names.reduce(0) { $0 + refs[$1]!.elementCount } }

    public func tensor(_ name: String) throws(SafeTensorsError) -> TensorRef {
        guard let r = refs[name] else { throw SafeTensorsError(.notFound, file: path, tensor: name, "no such tensor") }
        return r
    }
}

/// `model.safetensors.index.json`: {"metadata": {...}, "weight_map": {tensor: shard file}}.
public struct ShardIndex: Sendable {
    public let weightMap: [String: String]
    public let metadata: [String: String]
    /// Distinct shard names in first-appearance order.
    public let shardNames: [String]

    public static func load(path: String) throws(SafeTensorsError) -> ShardIndex {
        let m: MappedFile
        m = try MappedFile(path: path)
        guard m.size <= SafeTensorsHeader.maxHeaderSize else {
            throw SafeTensorsError(.invalidIndex, file: path, "index larger than 100 MB")
        }
        return try parse(m.bytes, file: path)
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(SafeTensorsError) -> ShardIndex {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch {
            throw SafeTensorsError(.invalidIndex, file: file, "index is not valid JSON: \(error)")
        }
        guard case let .object(top) = json else { throw SafeTensorsError(.invalidIndex, file: file, "index is not a JSON object") }
        var weightMap: [String: String]? = nil
        var metadata: [String: String] = [:]
        var order: [String] = []
        var seenShard = Set<String>()
        for (k, v) in top {
            switch k {
            case "weight_map":
                guard weightMap == nil else { throw SafeTensorsError(.invalidIndex, file: file, "duplicate weight_map") }
                guard case let .object(entries) = v else { throw SafeTensorsError(.invalidIndex, file: file, "weight_map is not an object") }
                var map: [String: String] = [:]
                for (tensor, shardV) in entries {
                    guard let shard = shardV.stringValue else {
                        throw SafeTensorsError(.invalidIndex, file: file, tensor: tensor, "shard name is not a string")
                    }
                    guard isPlainFileName(shard) else {
                        throw SafeTensorsError(.invalidIndex, file: file, tensor: tensor, "shard name '\(shard)' is not a plain file name")
                    }
                    guard map[tensor] == nil else {
                        throw SafeTensorsError(.invalidIndex, file: file, tensor: tensor, "tensor listed more than once")
                    }
                    map[tensor] = shard
                    if seenShard.insert(shard).inserted { order.append(shard) }
                }
                weightMap = map
            case "metadata":
                guard case let .object(entries) = v else { continue }
                // total_size is a number in HF indexes; keep scalars as text.
                for (mk, mv) in entries {
                    switch mv {
                    case let .string(s): metadata[mk] = s
                    case let .number(s): metadata[mk] = s
                    default: break
                    }
                }
            default:
                continue
            }
        }
        guard let weightMap else { throw SafeTensorsError(.invalidIndex, file: file, "no weight_map") }
        guard !weightMap.isEmpty else { throw SafeTensorsError(.invalidIndex, file: file, "weight_map is empty: the index lists no tensors") }
        return ShardIndex(weightMap: weightMap, metadata: metadata, shardNames: order)
    }

    /// No path separators, no "..", not empty, not hidden-relative tricks.
    public static func isPlainFileName(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && !s.contains("/") && !s.contains("\\") && !s.contains("..") && !s.contains("\0")
    }
}

extension TensorRef {
    /// NaN and ±inf entries of a floating tensor, from the raw bit patterns (exact for every
    /// float dtype: no conversion, so a large f64 is not mistaken for an overflow). Streams
    /// the data in pieces and drops the pages after use; 0, 0 for integer tensors.
    public func nonFiniteCounts() -> (nan: Int, inf: Int) {
        var nan = 0, inf = 0
        func scan<T: FixedWidthInteger>(_: T.Type, exponent: T, mantissa: T) {
            let piece = 1 << 20
            // Copied into an aligned buffer: a header need not leave the data aligned.
            var buf = [T](repeating: 0, count: min(piece, elementCount))
            var lo = 0
            while lo < elementCount {
                let n = min(piece, elementCount - lo)
                let src = rawBytes(from: lo, count: n)
                buf.withUnsafeMutableBytes { dst in dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: src.count) }
                // Most tensors are all finite: count exponent-all-ones entries first (vectorizes).
                var special = 0
                for x in buf[0..<n] where x & exponent == exponent { special += 1 }
                if special > 0 {
                    for x in buf[0..<n] where x & exponent == exponent { if x & mantissa != 0 { nan += 1 } else { inf += 1 } }
                }
                releaseElements(from: lo, count: n)
                lo += n
            }
        }
        switch dtype {
        case .f32: scan(UInt32.self, exponent: 0x7F80_0000, mantissa: 0x007F_FFFF)
        case .bf16: scan(UInt16.self, exponent: 0x7F80, mantissa: 0x007F)
        case .f16: scan(UInt16.self, exponent: 0x7C00, mantissa: 0x03FF)
        case .f64: scan(UInt64.self, exponent: 0x7FF0_0000_0000_0000, mantissa: 0x000F_FFFF_FFFF_FFFF)
        default: break
        }
        return (nan, inf)
    }
}
