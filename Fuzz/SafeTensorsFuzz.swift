// libFuzzer harness for the safetensors header and index parsers.
// Compiled together with Sources/SafeTensors/*.swift by Fuzz/run.sh (one module, so no import).
// Every input is tried as a whole .safetensors file and as a model.safetensors.index.json.
// A header that validates must be safe to read: every tensor is converted to Float, so an
// out-of-bounds range would be caught by AddressSanitizer.

@_cdecl("LLVMFuzzerTestOneInput")
public func safeTensorsFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let header = try? SafeTensorsHeader.parse(bytes, fileSize: size, file: "fuzz.safetensors") {
        var scratch = [Float](repeating: 0, count: 256)
        for t in header.tensors {
            precondition(header.dataOffset + t.dataEnd <= size, "validated range outside the input")
            let n = min(t.elementCount, 256)
            scratch.withUnsafeMutableBufferPointer { dst in
                convertToFloat(data + header.dataOffset + t.dataStart, dtype: t.dtype, count: n, into: dst.baseAddress!)
            }
        }
    }
    _ = try? ShardIndex.parse(bytes, file: "fuzz.index.json")
    return 0
}
