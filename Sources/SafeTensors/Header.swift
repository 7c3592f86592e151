// Header parsing and validation, following the rules of the format's reference
// implementation (huggingface/safetensors): 8-byte little-endian header length,
// header ≤ 100 MB and inside the file, a JSON object, known dtypes, byte ranges that
// match shape × item size, are in order, contiguous from 0, and end exactly at the
// end of the file; plus: no duplicate tensor names.

/// Every failure names the file and, where one is involved, the tensor.
public struct SafeTensorsError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case io, headerTooLarge, headerOutOfBounds, invalidHeader, invalidTensor, duplicateName,
             offsetsInvalid, sizeMismatch, notFound, invalidIndex, write, shapeMismatch,
             /// The temporary folder of an unfinished (or killed) merge, not a checkpoint.
             partial
    }
    public let kind: Kind
    public let file: String
    public let tensor: String?
    public let reason: String

    public init(_ kind: Kind, file: String, tensor: String? = nil, _ reason: String) {
        self.kind = kind
        self.file = file
        self.tensor = tensor
        self.reason = reason
    }

    public var description: String {
        if let tensor { return "\(file): tensor '\(tensor)': \(reason)" }
        return "\(file): \(reason)"
    }
}


/// One tensor entry of a header; `dataStart`/`dataEnd` are relative to the data section.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let dataStart: Int
    public let dataEnd: Int

    public init(name: String, dtype: DType, shape: [Int], dataStart: Int, dataEnd: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataStart = dataStart
        self.dataEnd = dataEnd
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { dataEnd - dataStart }
}

public struct SafeTensorsHeader: Sendable {
    /// Tensors in the order of their data offsets.
    public let tensors: [TensorInfo]
    public let metadata: [String: String]
    /// Byte offset of the data section in the file: 8 + header length.
    public let dataOffset: Int

    /// Largest header the reference implementation accepts.
    public static let maxHeaderSize = 100_000_000

    /// Parses and validates a header given the first bytes of the file and the file size.
    /// `prefix` must hold at least min(fileSize, 8 + header length) bytes (the whole file is fine).
    public static func parse(_ bytes: UnsafeRawBufferPointer, fileSize: Int, file: String) throws(SafeTensorsError) -> SafeTensorsHeader {
        guard fileSize >= 8, bytes.count >= 8 else {
            throw SafeTensorsError(.headerOutOfBounds, file: file, "file is \(fileSize) bytes, too small for the 8-byte header length")
        }
        let n64 = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard n64 <= UInt64(maxHeaderSize) else {
            throw SafeTensorsError(.headerTooLarge, file: file, "header length \(n64) exceeds the 100 MB limit")
        }
        let n = Int(n64)
        guard 8 + n <= fileSize else {
            throw SafeTensorsError(.headerOutOfBounds, file: file, "header length \(n) reaches past the end of the file (\(fileSize) bytes)")
        }
        guard bytes.count >= 8 + n else {
            throw SafeTensorsError(.headerOutOfBounds, file: file, "header truncated")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)])
        guard n > 0, headerBytes[0] == UInt8(ascii: "{") else {
            throw SafeTensorsError(.invalidHeader, file: file, "header does not start with '{'")
        }
        let json: JSONValue
        do { json = try JSONParser.parse(headerBytes) } catch {
            throw SafeTensorsError(.invalidHeader, file: file, "header is not valid JSON: \(error)")
        }
        guard case let .object(members) = json else {
            throw SafeTensorsError(.invalidHeader, file: file, "header is not a JSON object")
        }
        let dataSize = fileSize - 8 - n
        var metadata: [String: String] = [:]
        var infos: [TensorInfo] = []
        var seen = Set<String>()
        var sawMetadata = false
        for (name, value) in members {
            if name == "__metadata__" {
                guard !sawMetadata else { throw SafeTensorsError(.duplicateName, file: file, "duplicate __metadata__") }
                sawMetadata = true
                guard case let .object(kv) = value else {
                    throw SafeTensorsError(.invalidHeader, file: file, "__metadata__ is not an object of strings")
                }
                for (k, v) in kv {
                    guard case let .string(s) = v else {
                        throw SafeTensorsError(.invalidHeader, file: file, "__metadata__ value for '\(k)' is not a string")
                    }
                    guard metadata[k] == nil else {
                        throw SafeTensorsError(.duplicateName, file: file, "duplicate __metadata__ key '\(k)'")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard seen.insert(name).inserted else {
                throw SafeTensorsError(.duplicateName, file: file, tensor: name, "duplicate tensor name")
            }
            infos.append(try parseEntry(name: name, value: value, file: file))
        }
        // Ranges must tile the data section: sorted by start, the first starts at 0,
        // each starts where the previous ends, the last ends at the end of the file.
        infos.sort { ($0.dataStart, $0.dataEnd, $0.name) < ($1.dataStart, $1.dataEnd, $1.name) }
        var expected = 0
        for info in infos {
            guard info.dataStart == expected else {
                throw SafeTensorsError(.offsetsInvalid, file: file, tensor: info.name,
                                       "data_offsets start at \(info.dataStart), expected \(expected) (ranges must be in order and contiguous)")
            }
            guard info.dataEnd <= dataSize else {
                throw SafeTensorsError(.offsetsInvalid, file: file, tensor: info.name,
                                       "data_offsets end \(info.dataEnd) beyond the data section (\(dataSize) bytes)")
            }
            expected = info.dataEnd
        }
        guard expected == dataSize else {
            throw SafeTensorsError(.sizeMismatch, file: file, tensor: infos.last?.name,
                                   "tensor data ends at \(expected) but the data section has \(dataSize) bytes")
        }
        return SafeTensorsHeader(tensors: infos, metadata: metadata, dataOffset: 8 + n)
    }

    private static func parseEntry(name: String, value: JSONValue, file: String) throws(SafeTensorsError) -> TensorInfo {
        func bad(_ reason: String) -> SafeTensorsError { SafeTensorsError(.invalidTensor, file: file, tensor: name, reason) }
        guard case let .object(fields) = value else { throw bad("entry is not an object") }
        var dtypeV: JSONValue?, shapeV: JSONValue?, offsetsV: JSONValue?
        for (k, v) in fields {
            switch k {
            case "dtype": guard dtypeV == nil else { throw bad("duplicate key dtype") }; dtypeV = v
            case "shape": guard shapeV == nil else { throw bad("duplicate key shape") }; shapeV = v
            case "data_offsets": guard offsetsV == nil else { throw bad("duplicate key data_offsets") }; offsetsV = v
            default: throw bad("unknown key '\(k)'")
            }
        }
        guard let ds = dtypeV?.stringValue else { throw bad("missing or non-string dtype") }
        guard let dtype = DType(rawValue: ds) else { throw bad("unknown dtype '\(ds)'") }
        guard case let .array(dims)? = shapeV else { throw bad("missing or non-array shape") }
        // Element count with overflow checks: a hostile shape must not wrap around.
        var shape: [Int] = []
        var count: UInt64 = 1
        for d in dims {
            guard let u = d.uint64, u <= UInt64(Int.max) else { throw bad("shape entry is not a non-negative integer") }
            shape.append(Int(u))
            let (m, o) = count.multipliedReportingOverflow(by: u)
            guard !o else { throw bad("shape \(dims.count)-d element count overflows") }
            count = m
        }
        guard case let .array(offs)? = offsetsV, offs.count == 2, let s = offs[0].uint64, let e = offs[1].uint64 else {
            throw bad("data_offsets must be [begin, end] non-negative integers")
        }
        guard s <= e else { throw bad("data_offsets begin \(s) > end \(e)") }
        let (bytes, o) = count.multipliedReportingOverflow(by: UInt64(dtype.itemSize))
        guard !o, bytes == e - s else {
            throw bad("shape \(shape) × \(dtype.itemSize) bytes ≠ data_offsets length \(e - s)")
        }
        guard e <= UInt64(Int.max / 2) else { throw bad("data_offsets too large") }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataStart: Int(s), dataEnd: Int(e))
    }
}
