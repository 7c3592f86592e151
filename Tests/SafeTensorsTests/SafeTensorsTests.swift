import Foundation
import XCTest
@testable import SafeTensors
import TestSupport

/// Builds a raw .safetensors file from a header string and a data section.
func rawFile(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
    var out = [UInt8]()
    let h = Array(header.utf8)
    withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
    out += h
    out += data
    return out
}

func tempDir() -> String {
    Scratch.directory("mergetune-st").path
}

func writeBytes(_ bytes: [UInt8], _ path: String) {
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

final class DTypeTests: XCTestCase {
    func testBF16RoundToNearestEven() {
        XCTAssertEqual(floatToBF16(1.0), 0x3F80)
        XCTAssertEqual(floatToBF16(-2.0), 0xC000)
        // 1 + 2^-8 lies exactly halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
        XCTAssertEqual(floatToBF16(Float(bitPattern: 0x3F80_8000)), 0x3F80)
        // 0x3F818000 is halfway between 0x3F81 and 0x3F82: ties to even (0x3F82).
        XCTAssertEqual(floatToBF16(Float(bitPattern: 0x3F81_8000)), 0x3F82)
        // Just above halfway rounds up.
        XCTAssertEqual(floatToBF16(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(floatToBF16(.infinity), 0x7F80)
        XCTAssertTrue(bf16ToFloat(floatToBF16(.nan)).isNaN)
        // Rounding up the largest finite float overflows to infinity, as IEEE rounding does.
        XCTAssertEqual(floatToBF16(.greatestFiniteMagnitude), 0x7F80)
        XCTAssertEqual(bf16ToFloat(0x4049), 3.140625)
    }

    func testHalfConversions() {
        XCTAssertEqual(floatToHalf(1.0), 0x3C00)
        XCTAssertEqual(floatToHalf(-2.0), 0xC000)
        XCTAssertEqual(floatToHalf(65504), 0x7BFF)
        XCTAssertEqual(floatToHalf(65520), 0x7C00)  // halfway to the next binade rounds to inf
        XCTAssertEqual(floatToHalf(0.1), 0x2E66)
        XCTAssertEqual(floatToHalf(Float(bitPattern: 0x3380_0000)), 0x0001)  // 2^-24, smallest subnormal
        XCTAssertEqual(floatToHalf(Float(bitPattern: 0x3300_0000)), 0x0000)  // 2^-25 ties to even: 0
        XCTAssertEqual(halfToFloat(0x0001), Float(bitPattern: 0x3380_0000))
        XCTAssertEqual(halfToFloat(0x3555), 0.333251953125)
        XCTAssertEqual(halfToFloat(0x7C00), .infinity)
        XCTAssertTrue(halfToFloat(0x7E00).isNaN)
        // Every finite half survives a round trip through Float.
        for h in UInt16(0)...UInt16(0xFFFF) where (h & 0x7C00) != 0x7C00 {
            XCTAssertEqual(floatToHalf(halfToFloat(h)), h, "half \(h)")
        }
    }

    func testRoundTripAllDTypes() throws {
        let dir = tempDir()
        let values: [Float] = [0, 1, -1, 2.5, -3.25, 100, 7]
        var tensors: [(spec: TensorSpec, values: [Float])] = []
        for d in DType.allCases {
            let v = d == .bool ? values.map { $0 == 0 ? 0 : 1 } : (["U8", "U16", "U32", "U64"].contains(d.rawValue) ? values.map { abs($0).rounded() } : values.map { d.isFloatingPoint ? $0 : $0.rounded() })
            tensors.append((TensorSpec(name: "t.\(d.rawValue)", dtype: d, shape: [7]), v))
        }
        let path = dir + "/all.safetensors"
        try writeSafeTensorsFile(path: path, tensors: tensors, metadata: ["format": "pt"])
        let f = try SafeTensorFile(path: path)
        XCTAssertEqual(f.metadata["format"], "pt")
        for (spec, v) in tensors {
            XCTAssertEqual(try f.floats(spec.name), v, spec.dtype.rawValue)
            XCTAssertEqual(f.info(spec.name)?.dtype, spec.dtype)
        }
    }
}

final class JSONTests: XCTestCase {
    func testParsesAndKeepsDuplicates() throws {
        let v = try JSONParser.parse(Array(#"{"a": [1, 2.5e3, -0], "a": "x\u00e9\ud83d\ude00", "b": {"c": null, "d": true}}"#.utf8))
        guard case let .object(m) = v else { return XCTFail() }
        XCTAssertEqual(m.count, 3)
        XCTAssertEqual(m[0].0, "a")
        XCTAssertEqual(m[1].1, .string("xé😀"))
        XCTAssertEqual(JSONValue.number("18446744073709551615").uint64, UInt64.max)
    }

    func testRejectsMalformed() {
        for bad in ["", "{", "{\"a\":}", "[1,]", "{\"a\":1}x", "\"\\ud800\"", "01", "{\"a\" 1}", "\"\u{01}\"", "nul", "-"] {
            XCTAssertThrowsError(try JSONParser.parse(Array(bad.utf8)), bad)
        }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        XCTAssertThrowsError(try JSONParser.parse(Array(deep.utf8)))
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xFF, 0x22]))  // invalid UTF-8 in a string
    }
}

final class HeaderValidationTests: XCTestCase {
    /// Writes a raw file, expects an error of `kind` whose message names the file (and tensor).
    func expectError(_ bytes: [UInt8], _ kind: SafeTensorsError.Kind, tensor: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let path = tempDir() + "/bad.safetensors"
        writeBytes(bytes, path)
        do {
            _ = try SafeTensorFile(path: path)
            XCTFail("accepted a bad file", file: file, line: line)
        } catch {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains(path), "message must name the file: \(error)", file: file, line: line)
            if let tensor {
                XCTAssertEqual(error.tensor, tensor, file: file, line: line)
                XCTAssertTrue(error.description.contains(tensor), file: file, line: line)
            }
        }
    }

    func entry(_ name: String, _ dtype: String = "F32", _ shape: String = "[2]", _ s: Int, _ e: Int) -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(s),\(e)]}"
    }

    func testValidFileIsAccepted() throws {
        let bytes = rawFile(header: "{\(entry("a", "F32", "[2]", 0, 8)),\(entry("b", "BF16", "[1,2]", 8, 12))}  ", data: [UInt8](repeating: 0, count: 12))
        let path = tempDir() + "/ok.safetensors"
        writeBytes(bytes, path)
        let f = try SafeTensorFile(path: path)
        XCTAssertEqual(f.tensors.map(\.name), ["a", "b"])
        XCTAssertEqual(f.info("b")?.shape, [1, 2])
    }

    func testRules() {
        expectError([1, 2, 3], .headerOutOfBounds)
        expectError(rawFile(header: "{}", headerLength: 100_000_001), .headerTooLarge)
        expectError(rawFile(header: "{}", headerLength: 50), .headerOutOfBounds)
        expectError(rawFile(header: "[1,2]"), .invalidHeader)
        expectError(rawFile(header: "{\"a\":"), .invalidHeader)
        expectError(rawFile(header: "{\(entry("w", "F33", "[2]", 0, 8))}", data: .init(repeating: 0, count: 8)), .invalidTensor, tensor: "w")
        expectError(rawFile(header: "{\(entry("w", "F32", "[3]", 0, 8))}", data: .init(repeating: 0, count: 8)), .invalidTensor, tensor: "w")
        expectError(rawFile(header: "{\(entry("w", "F32", "[2]", 8, 0))}", data: .init(repeating: 0, count: 8)), .invalidTensor, tensor: "w")
        expectError(rawFile(header: "{\(entry("w", "F32", "[-2]", 0, 8))}", data: .init(repeating: 0, count: 8)), .invalidTensor, tensor: "w")
        expectError(rawFile(header: "{\(entry("w", "F32", "[4294967296,4294967296,4294967296]", 0, 8))}", data: .init(repeating: 0, count: 8)), .invalidTensor, tensor: "w")
        // A gap before the first tensor, a gap between tensors, overlap, and trailing bytes.
        expectError(rawFile(header: "{\(entry("w", "F32", "[2]", 4, 12))}", data: .init(repeating: 0, count: 12)), .offsetsInvalid, tensor: "w")
        expectError(rawFile(header: "{\(entry("a", "F32", "[1]", 0, 4)),\(entry("b", "F32", "[1]", 8, 12))}", data: .init(repeating: 0, count: 12)), .offsetsInvalid, tensor: "b")
        expectError(rawFile(header: "{\(entry("a", "F32", "[2]", 0, 8)),\(entry("b", "F32", "[1]", 4, 8))}", data: .init(repeating: 0, count: 8)), .offsetsInvalid)
        expectError(rawFile(header: "{\(entry("w", "F32", "[2]", 0, 8))}", data: .init(repeating: 0, count: 9)), .sizeMismatch, tensor: "w")
        expectError(rawFile(header: "{\(entry("w", "F32", "[2]", 0, 8))}", data: .init(repeating: 0, count: 4)), .offsetsInvalid, tensor: "w")
        expectError(rawFile(header: "{\(entry("w", "F32", "[1]", 0, 4)),\(entry("w", "F32", "[1]", 4, 8))}", data: .init(repeating: 0, count: 8)), .duplicateName, tensor: "w")
        expectError(rawFile(header: "{\"__metadata__\":{\"a\":1}}"), .invalidHeader)
        expectError(rawFile(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", data: .init(repeating: 0, count: 4)), .invalidTensor, tensor: "w")
    }

    func testEmptyFileAndMissingFile() {
        expectError([], .headerOutOfBounds)
        XCTAssertThrowsError(try SafeTensorFile(path: "/nonexistent/x.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/x.safetensors"))
        }
    }
}

final class IndexAndWriterTests: XCTestCase {
    func makeTensors(_ n: Int) -> [(spec: TensorSpec, values: [Float])] {
        (0..<n).map { i in (TensorSpec(name: "model.layers.\(i).w", dtype: .bf16, shape: [4, 8]), (0..<32).map { Float($0 + i) * 0.5 }) }
    }

    func testShardedWriterRoundTrip() throws {
        let dir = tempDir()
        let out = dir + "/ckpt"
        let tensors = makeTensors(5)
        // 64 bytes per tensor, 150-byte shards → 2 tensors per shard → 3 shards.
        let w = try CheckpointWriter(outputPath: out, tensors: tensors.map(\.spec), maxShardBytes: 150,
                                     metadata: ["mergetune.method": "test"])
        XCTAssertEqual(w.shardNames.count, 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing under the final name before finish")
        // Write in reverse order and in two pieces each, as worker threads may.
        for (spec, v) in tensors.reversed() {
            try v.withUnsafeBufferPointer { p in
                try w.write(spec.name, UnsafeBufferPointer(rebasing: p[16..<32]), elementOffset: 16)
                try w.write(spec.name, UnsafeBufferPointer(rebasing: p[0..<16]), elementOffset: 0)
            }
        }
        try w.finish()
        XCTAssertFalse(FileManager.default.fileExists(atPath: w.tempPath))
        let ck = try Checkpoint(path: out)
        XCTAssertEqual(ck.shards.count, 3)
        XCTAssertEqual(ck.names, tensors.map(\.spec.name))
        XCTAssertEqual(ck.shards[0].metadata["format"], "pt")
        XCTAssertEqual(ck.shards[0].metadata["mergetune.method"], "test")
        for (spec, v) in tensors { XCTAssertEqual(try ck.tensor(spec.name).floats(), v) }
        XCTAssertEqual(ck.indexMetadata["total_size"], "320")
    }

    func testUnfinishedWriteLeavesNothing() throws {
        let out = tempDir() + "/ckpt"
        let tensors = makeTensors(2)
        var w: CheckpointWriter? = try CheckpointWriter(outputPath: out, tensors: tensors.map(\.spec), maxShardBytes: 1000, metadata: [:])
        try tensors[0].values.withUnsafeBufferPointer { try w!.write(tensors[0].spec.name, $0) }
        XCTAssertThrowsError(try w!.finish()) { e in XCTAssertTrue("\(e)".contains(tensors[1].spec.name)) }
        let temp = w!.tempPath
        w = nil
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp))
    }

    func testRefusesExistingOutput() throws {
        let out = tempDir()
        XCTAssertThrowsError(try CheckpointWriter(outputPath: out, tensors: [], maxShardBytes: 10, metadata: [:]))
    }

    func writeSharded(_ dir: String, index: String) throws {
        try writeSafeTensorsFile(path: dir + "/a.safetensors", tensors: [(TensorSpec(name: "x", dtype: .f32, shape: [1]), [1])])
        try writeSafeTensorsFile(path: dir + "/b.safetensors", tensors: [(TensorSpec(name: "y", dtype: .f32, shape: [1]), [2])])
        try index.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
    }

    func testIndexValidation() throws {
        let ok = tempDir()
        try writeSharded(ok, index: #"{"metadata":{"total_size":8},"weight_map":{"x":"a.safetensors","y":"b.safetensors"}}"#)
        let ck = try Checkpoint(path: ok)
        XCTAssertEqual(try ck.tensor("y").floats(), [2])

        let cases: [(String, String)] = [
            (#"{"weight_map":{"x":"a.safetensors","y":"../b.safetensors"}}"#, "not a plain file name"),
            (#"{"weight_map":{"x":"a.safetensors","y":"sub/b.safetensors"}}"#, "not a plain file name"),
            (#"{"weight_map":{"x":"a.safetensors","x":"a.safetensors","y":"b.safetensors"}}"#, "more than once"),
            (#"{"weight_map":{"x":"a.safetensors","q":"b.safetensors"}}"#, "not listed"),
            (#"{"weight_map":{"x":"a.safetensors","y":"b.safetensors","z":"b.safetensors"}}"#, "missing"),
            (#"{"weight_map":{"x":"b.safetensors","y":"b.safetensors"}}"#, "missing from its shard"),
            (#"{"metadata":{}}"#, "no weight_map"),
            (#"[1]"#, "not a JSON object"),
        ]
        for (index, expected) in cases {
            let dir = tempDir()
            try writeSharded(dir, index: index)
            XCTAssertThrowsError(try Checkpoint(path: dir), index) { e in
                XCTAssertTrue("\(e)".contains(expected), "\(index): \(e)")
            }
        }
    }

    func testByteSizes() {
        XCTAssertEqual(parseByteSize("5GB"), 5_000_000_000)
        XCTAssertEqual(parseByteSize("500MB"), 500_000_000)
        XCTAssertEqual(parseByteSize("2GiB"), 2 << 30)
        XCTAssertEqual(parseByteSize("1024"), 1024)
        XCTAssertNil(parseByteSize("lots"))
        XCTAssertEqual(parseByteSize("1.5GB"), 1_500_000_000)
        // Decimal numbers only, and sizes that fit: no hex floats, no inf, no overflow trap.
        for bad in ["0x10GB", "0x1p4MB", "infGB", "nanMB", "1e30GB", "1e3GB", "-5GB", "GB", "1.2.3MB"] {
            XCTAssertNil(parseByteSize(bad), bad)
        }
    }
}

/// Replays hostile inputs (hand-made edge cases and anything `Fuzz/run.sh` found, copied
/// into Fixtures/fuzz): each must be rejected with an error naming the file, never crash,
/// hang or allocate in proportion to the sizes it claims.
final class FuzzRegressionTests: XCTestCase {
    func testHostileInputsAreRejected() throws {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/fuzz")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertGreaterThanOrEqual(files.count, 19)
        for name in files {
            let path = dir.appendingPathComponent(name).path
            if name.hasSuffix(".json") {
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
                XCTAssertThrowsError(try bytes.withUnsafeBytes { try ShardIndex.parse($0, file: path) }, name) { e in
                    XCTAssertTrue("\(e)".contains(path), "\(e)")
                }
            } else {
                XCTAssertThrowsError(try SafeTensorFile(path: path), name) { e in
                    XCTAssertTrue("\(e)".contains(path), "\(e)")
                }
            }
        }
    }
}

/// Output safety of `--force`, temporary folders of killed writers, and the index and
/// value checks added by the hardening issue.
final class OutputSafetyTests: XCTestCase {
    let spec = TensorSpec(name: "w", dtype: .f32, shape: [2])

    func write(_ out: String, overwrite: Bool = true, inputs: [String] = [], copy: String? = nil) throws {
        let w = try CheckpointWriter(outputPath: out, tensors: [spec], maxShardBytes: 1000, metadata: [:], overwrite: overwrite, inputs: inputs)
        try [Float(1), 2].withUnsafeBufferPointer { try w.write("w", $0) }
        if let copy { try w.copyFile(from: copy) }
        try w.finish()
    }

    func checkpoint(_ dir: String, extra: [String] = []) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeSafeTensorsFile(path: dir + "/model.safetensors", tensors: [(spec, [3, 4])])
        try "{}".write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        for f in extra { try "notes".write(toFile: dir + "/" + f, atomically: true, encoding: .utf8) }
    }

    /// --force never replaces an input, a folder holding one (also through a symlink), or
    /// a folder with unrelated files; the inputs are intact afterwards.
    func testForceRefusesInputsContainersSymlinksAndUnrelatedFiles() throws {
        let root = tempDir()
        let input = root + "/vlm"
        try checkpoint(input)
        let cases: [(String, String)] = [(input, "is the input"), (root, "contains the input"), (input + "/model.safetensors", "is the input")]
        for (out, expected) in cases {
            XCTAssertThrowsError(try write(out, inputs: [input, input + "/model.safetensors"])) { XCTAssertTrue("\($0)".contains(expected), "\(out): \($0)") }
        }
        let link = root + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: input)
        XCTAssertThrowsError(try write(link, inputs: [input])) { XCTAssertTrue("\($0)".contains("is the input"), "\($0)") }
        XCTAssertEqual(try Checkpoint(path: input).tensor("w").floats(), [3, 4], "input untouched")

        let notes = root + "/old"
        try checkpoint(notes, extra: ["README.md", "notes.txt"])
        XCTAssertThrowsError(try write(notes, inputs: [input])) { e in
            XCTAssertTrue("\(e)".contains("README.md") && "\(e)".contains("notes.txt") && !"\(e)".contains("config.json"), "\(e)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: notes + "/README.md"))
        // A folder without weights is not a checkpoint either; a file is not a folder.
        let cfgOnly = root + "/cfg"
        try FileManager.default.createDirectory(atPath: cfgOnly, withIntermediateDirectories: true)
        try "{}".write(toFile: cfgOnly + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try write(cfgOnly)) { XCTAssertTrue("\($0)".contains("no .safetensors"), "\($0)") }
        XCTAssertThrowsError(try write(input + "/config.json")) { XCTAssertTrue("\($0)".contains("is a file"), "\($0)") }
        // An empty folder and a plain checkpoint folder are replaced.
        let empty = root + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try write(empty)
        XCTAssertEqual(try Checkpoint(path: empty).tensor("w").floats(), [1, 2])
        let other = root + "/other"
        try checkpoint(other)
        try write(other, inputs: [input])
        XCTAssertEqual(try Checkpoint(path: other).tensor("w").floats(), [1, 2])
    }

    /// The current directory (or a folder holding it) is never replaced.
    func testForceRefusesTheCurrentDirectory() throws {
        let root = tempDir()
        let dir = root + "/work"
        try checkpoint(dir)
        let saved = FileManager.default.currentDirectoryPath
        defer { FileManager.default.changeCurrentDirectoryPath(saved) }
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir))
        for out in [".", dir, "..", "./"] {
            XCTAssertThrowsError(try write(out)) { XCTAssertTrue("\($0)".contains("current directory"), "\(out): \($0)") }
        }
        XCTAssertEqual(try Checkpoint(path: dir).tensor("w").floats(), [3, 4])
    }

    /// Files the writer copied (a README of the VLM) are listed in its manifest, so a later
    /// --force may replace its own output.
    func testManifestLetsForceReplaceOwnOutput() throws {
        let root = tempDir()
        let readme = root + "/README.md"
        try "model card".write(toFile: readme, atomically: true, encoding: .utf8)
        let out = root + "/out"
        try write(out, overwrite: false, copy: readme)
        let manifest = try String(contentsOfFile: out + "/" + OutputSafety.manifestName, encoding: .utf8)
        XCTAssertEqual(manifest, "model.safetensors\nREADME.md\n")
        XCTAssertEqual(OutputSafety.unrelatedFiles(in: out), [])
        try write(out, copy: readme)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/" + OutputSafety.partialMarker))
    }

    /// A writer's temporary folder is named after its pid and start time; a later writer
    /// removes those of writers that are gone (dead pid, or a pid reused with another start
    /// time) and keeps those of running ones.
    func testStalePartialsOfDeadWritersAreRemoved() throws {
        let root = tempDir()
        let me = getpid(), start = OutputSafety.processStartTime()
        XCTAssertGreaterThan(start, 0, "Linux: /proc/self/stat gives the start time")
        let dead = root + "/.x.partial-4194303-17"           // above Linux's pid_max: no such process
        let reused = root + "/.x.partial-\(me)-\(start + 1)"  // our pid, another start time
        let alive = root + "/.y.partial-\(me)-\(start)"
        let aliveOld = root + "/.y.partial-\(me)"             // no start time: kept while the pid runs
        let deadTrash = root + "/.z.partial-4194303-17.old"
        let unrelated = root + "/.x.partial-notes"
        let deadWithNotes = root + "/.w.partial-4194303"       // dead, but holds someone's notes: kept
        for d in [dead, reused, alive, aliveOld, deadTrash, unrelated, deadWithNotes] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try "mine".write(toFile: deadWithNotes + "/notes.txt", atomically: true, encoding: .utf8)
        try writeSafeTensorsFile(path: dead + "/model.safetensors", tensors: [(spec, [0, 0])])
        let w = try CheckpointWriter(outputPath: root + "/out", tensors: [spec], maxShardBytes: 1000, metadata: [:])
        XCTAssertEqual(Set(w.removedStalePartials), [dead, reused, deadTrash])
        for d in [alive, aliveOld, unrelated, deadWithNotes] { XCTAssertTrue(FileManager.default.fileExists(atPath: d), d) }
        XCTAssertTrue((w.tempPath as NSString).lastPathComponent.hasSuffix(".partial-\(me)-\(start)"), w.tempPath)
    }

    /// A killed writer's folder (full layout, unwritten zeros) is refused as a checkpoint:
    /// by its marker, also after a rename, and by its name.
    func testPartialFolderIsNotACheckpoint() throws {
        let root = tempDir()
        let w = try CheckpointWriter(outputPath: root + "/out", tensors: [spec], maxShardBytes: 1000, metadata: [:])
        try [Float(1), 2].withUnsafeBufferPointer { try w.write("w", $0) }
        for path in [w.tempPath, w.tempPath + "/model.safetensors"] {
            XCTAssertThrowsError(try Checkpoint(path: path)) { e in
                XCTAssertEqual((e as? SafeTensorsError)?.kind, .partial)
                XCTAssertTrue("\(e)".contains("unfinished or killed merge") && "\(e)".contains("pid \(getpid())"), "\(e)")
            }
        }
        let renamed = root + "/looks-fine"
        try FileManager.default.copyItem(atPath: w.tempPath, toPath: renamed)
        XCTAssertThrowsError(try Checkpoint(path: renamed)) { XCTAssertEqual(($0 as? SafeTensorsError)?.kind, .partial) }
        let byName = root + "/.old.partial-4194303-5"
        try FileManager.default.createDirectory(atPath: byName, withIntermediateDirectories: true)
        try writeSafeTensorsFile(path: byName + "/model.safetensors", tensors: [(spec, [0, 0])])
        XCTAssertThrowsError(try Checkpoint(path: byName)) { XCTAssertEqual(($0 as? SafeTensorsError)?.kind, .partial) }
        try w.finish()
        XCTAssertEqual(try Checkpoint(path: root + "/out").tensor("w").floats(), [1, 2])
    }

    func testEmptyWeightMapIsRejected() throws {
        let dir = tempDir()
        try writeSafeTensorsFile(path: dir + "/a.safetensors", tensors: [(spec, [1, 2])])
        try #"{"metadata":{"total_size":0},"weight_map":{}}"#.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Checkpoint(path: dir)) { e in
            XCTAssertEqual((e as? SafeTensorsError)?.kind, .invalidIndex)
            XCTAssertTrue("\(e)".contains("weight_map is empty"), "\(e)")
        }
    }

    /// NaN and inf are counted per tensor from the bit patterns of every float dtype; a
    /// large f64 is finite.
    func testNonFiniteCounts() throws {
        let dir = tempDir()
        let values: [Float] = [1, .nan, .infinity, -.infinity, 0, -0.0, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
        for dtype in [DType.f32, .bf16, .f16, .f64] {
            let p = dir + "/\(dtype.rawValue).safetensors"
            try writeSafeTensorsFile(path: p, tensors: [(TensorSpec(name: "t", dtype: dtype, shape: [8]), values),
                                                        (TensorSpec(name: "ok", dtype: dtype, shape: [2]), [1, 2])])
            let ck = try Checkpoint(path: p)
            let c = try ck.tensor("t").nonFiniteCounts()
            // bf16 and f16 round Float's largest finite value to inf when written.
            XCTAssertEqual(c.nan, 1, dtype.rawValue)
            XCTAssertEqual(c.inf, dtype == .f16 || dtype == .bf16 ? 3 : 2, dtype.rawValue)
            XCTAssertEqual(try ck.tensor("ok").nonFiniteCounts().nan + ck.tensor("ok").nonFiniteCounts().inf, 0)
        }
    }
}
