import Foundation
import XCTest
import SafeTensors
import TestSupport

/// End-to-end tests of the fusion subcommands: run the built binary, check output and exit code.
final class FusionCLITests: XCTestCase {
    /// The Fusion test fixtures, found from this source file (CLITests has no resources).
    func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FusionTests/Fixtures/mergekit/\(name)").path
    }

    func tmp(_ name: String) -> String { Scratch.path("mergetune-cli-\(name)") }

    @discardableResult
    func run(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        let r = try MergeTuneBinary.run(args)
        return (r.status, r.stdout, r.stderr)
    }

    var triple: [String] { ["--base", fixture("base"), "--vlm", fixture("vlm_wrapped"), "--expert", fixture("expert")] }

    func testInspectValidAndBroken() throws {
        let ok = try run(["inspect", fixture("vlm_wrapped")])
        XCTAssertEqual(ok.code, 0, ok.err)
        XCTAssertTrue(ok.out.contains("language_model.model.layers.1.mlp.down_proj.weight\tF32\t[16, 32]"), ok.out)
        XCTAssertTrue(ok.out.contains("2 shard(s)"), ok.out)
        let bad = tmp("bad.safetensors")
        var bytes = [UInt8](repeating: 0, count: 8)
        bytes[0] = 200  // header length 200 in a 10-byte file
        bytes += [0x7B, 0x7D]
        FileManager.default.createFile(atPath: bad, contents: Data(bytes))
        let r = try run(["inspect", bad])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains(bad) && r.err.contains("past the end"), r.err)
    }

    func testMergeWritesCheckpointAndInspectReadsIt() throws {
        let out = tmp("ta")
        let r = try run(["merge"] + triple + ["--method", "task_arithmetic", "--vl-weight", "0.7", "--exp-weight", "0.5", "-o", out])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("21 merged, 4 copied"), r.out)
        XCTAssertTrue(r.out.contains("wrote"), r.out)
        let i = try run(["inspect", out])
        XCTAssertEqual(i.code, 0, i.err)
        XCTAssertTrue(i.out.contains("mergetune.method = task_arithmetic"), i.out)
        // A second merge to the same output is refused (exit 1) unless --force.
        let again = try run(["merge"] + triple + ["--method", "task_arithmetic", "-o", out])
        XCTAssertEqual(again.code, 1)
        XCTAssertTrue(again.err.contains("already exists"), again.err)
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "ties", "--density", "0.5", "--force", "-o", out]).code, 0)
    }

    /// `merge --method subspace`: all gates 1 writes task arithmetic at (1, λ_R) (to float
    /// rounding), the factors go to --svd-cache (a second merge reads them), and a gate list of
    /// the wrong length is a usage error naming --gates.
    func testSubspaceMergeCachesItsFactorsAndAllGatesOneIsTaskArithmetic() throws {
        let cache = tmp("svd-cache"), out = tmp("subspace"), again = tmp("subspace2"), ta = tmp("ta-ref")
        let args = ["merge"] + triple + ["--method", "subspace", "--bands", "2,4", "--gates", "1,1,1", "--exp-weight", "0.5", "--svd-cache", cache]
        let r = try run(args + ["-o", out])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("computed and cached in \(cache)"), r.err)
        XCTAssertTrue(r.out.contains("bands [2, 4], gates [1, 1, 1]"), r.out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".safetensors") }.count, 1)
        let r2 = try run(args + ["-o", again])
        XCTAssertEqual(r2.code, 0, r2.err)
        XCTAssertTrue(r2.err.contains("read from the cache"), r2.err)
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "task_arithmetic", "--vl-weight", "1", "--exp-weight", "0.5", "-o", ta]).code, 0)
        let a = try Checkpoint(path: out), b = try Checkpoint(path: ta)
        XCTAssertEqual(a.names, b.names)
        for name in a.names {
            for (x, y) in zip(try a.tensor(name).floats(), try b.tensor(name).floats()) { XCTAssertEqual(x, y, accuracy: 1e-5 * (1 + abs(y)), name) }
        }
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "subspace", "--bands", "2,4", "--gates", "1,1", "-o", tmp("x")]).code, 2)
        let usage = try run(["merge"] + triple + ["--method", "subspace", "--bands", "2,4", "--gates", "1,1", "-o", tmp("x")])
        XCTAssertTrue(usage.err.contains("--gates"), usage.err)
    }

    func testDryRunWritesNothing() throws {
        let out = tmp("dry")
        let r = try run(["merge"] + triple + ["--method", "dare_ties", "--density", "0.3", "--seed", "3", "--dry-run", "-o", out])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("dry run"), r.out)
        XCTAssertTrue(r.out.contains("sparsification random"), r.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testUsageErrorsExit2() throws {
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "task_arithmetic"]).code, 2)  // no -o
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "bogus", "-o", tmp("x")]).code, 2)
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "ties", "--density", "1.5", "-o", tmp("x")]).code, 2)
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "layer_range", "-o", tmp("x")]).code, 2)
        XCTAssertEqual(try run(["weights"] + triple + ["--method", "ties"]).code, 2)
        XCTAssertEqual(try run(["weights"] + triple + ["--method", "frank", "--decay", "0.1", "--attention", "a.csv"]).code, 2)
    }

    func testBadInputExit1NamesFile() throws {
        let r = try run(["merge", "--base", "/nonexistent/base", "--vlm", fixture("vlm"), "--expert", fixture("expert"),
                         "--method", "task_arithmetic", "-o", tmp("x")])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("/nonexistent/base"), r.err)
        let lr = try run(["merge"] + triple + ["--method", "layer_range", "--layers", "1-5", "-o", tmp("x")])
        XCTAssertEqual(lr.code, 1)
        XCTAssertTrue(lr.err.contains("exceeds"), lr.err)
    }

    func testWeightsFormats() throws {
        let csv = try run(["weights"] + triple + ["--method", "frank", "--format", "csv"])
        XCTAssertEqual(csv.code, 0, csv.err)
        let lines = csv.out.split(separator: "\n")
        XCTAssertEqual(lines.first, "layer,lambda_v,lambda_r")
        XCTAssertEqual(lines.count, 4)  // header, 2 layers, other
        for line in lines.dropFirst() {
            let f = line.split(separator: ",")
            XCTAssertEqual(Double(f[1])! + Double(f[2])!, 1, accuracy: 1e-6)
        }
        let att = tmp("att.csv")
        try "0.4\n0.2\n".write(toFile: att, atomically: true, encoding: .utf8)
        let json = try run(["weights"] + triple + ["--method", "frank", "--attention", att, "--schedule", "max", "--format", "json"])
        XCTAssertEqual(json.code, 0, json.err)
        let obj = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["decay"] as! Double, log(2.0), accuracy: 1e-6)
        let layers = obj["layers"] as! [[String: Any]]
        // max schedule: w_V = e^(−α̂l) = 1/2 at layer 1 (α̂ = ln 2), so λ is the plain norm ratio there.
        XCTAssertEqual(layers[0]["prior_w_v"] as! Double, 0.5, accuracy: 1e-9)
        XCTAssertEqual(layers[0]["lambda_r"] as! Double, Double(lines[1].split(separator: ",")[2])!, accuracy: 1e-6)
        let wrong = tmp("att3.csv")
        try "0.4\n0.2\n0.1\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        let mismatch = try run(["weights"] + triple + ["--method", "frank", "--attention", wrong])
        XCTAssertEqual(mismatch.code, 1)
        XCTAssertTrue(mismatch.err.contains("3 shares") && mismatch.err.contains("2 decoder layers"), mismatch.err)
        for m in ["metagpt", "nan"] {
            let t = try run(["weights"] + triple + ["--method", m])
            XCTAssertEqual(t.code, 0, t.err)
            XCTAssertTrue(t.out.contains("granularity model"), t.out)
        }
    }

    func testDiagnose() throws {
        let r = try run(["diagnose"] + triple + ["--format", "csv"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n")
        XCTAssertEqual(lines.first, "layer,norm_tau_v,norm_tau_r,cos")
        XCTAssertEqual(lines.count, 5)  // header, 2 layers, other, total
        // Independent noise: task vectors nearly orthogonal; expert noise 1.5× the VLM's.
        let f = lines[1].split(separator: ",").map(String.init)
        XCTAssertEqual(Double(f[2])! / Double(f[1])!, 1.5, accuracy: 0.15)
        XCTAssertLessThan(abs(Double(f[3])!), 0.2)
        // JSON (Codable rows): the same rows and numbers as the CSV.
        let json = try run(["diagnose"] + triple + ["--format", "json"])
        XCTAssertEqual(json.code, 0, json.err)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["layer"] as? String }, ["0", "1", "other", "total"])
        for (row, line) in zip(rows, lines.dropFirst()) {
            let f = line.split(separator: ",").map { Double($0) }
            for (i, key) in ["norm_tau_v", "norm_tau_r", "cos"].enumerated() {
                XCTAssertEqual(try XCTUnwrap(row[key] as? Double), try XCTUnwrap(f[i + 1]), accuracy: 1e-8 * max(1, abs(f[i + 1]!)), key)
            }
        }
    }

    /// Copies of the fixture triple in a scratch folder (these tests try to destroy them).
    func scratchTriple(_ name: String) throws -> (root: String, base: String, vlm: String, expert: String) {
        let root = tmp(name)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for d in ["base", "vlm_wrapped", "expert"] { try FileManager.default.copyItem(atPath: fixture(d), toPath: root + "/" + d) }
        return (root, root + "/base", root + "/vlm_wrapped", root + "/expert")
    }

    func contents(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: dir) { out[f] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + f)) }
        return out
    }

    /// `--force -o` onto an input, a folder holding the inputs, or the current directory
    /// is refused (exit 1, no crash) and the inputs are intact byte for byte.
    func testForceNeverDestroysInputsOrTheCurrentDirectory() throws {
        let t = try scratchTriple("force")
        let before = try contents(t.vlm)
        let args = ["merge", "--base", t.base, "--vlm", t.vlm, "--expert", t.expert, "--method", "task_arithmetic", "--force"]
        let onInput = try run(args + ["-o", t.vlm])
        XCTAssertEqual(onInput.code, 1, onInput.err)
        XCTAssertTrue(onInput.err.contains("is the input checkpoint"), onInput.err)
        let onRoot = try run(args + ["-o", t.root])
        XCTAssertEqual(onRoot.code, 1, onRoot.err)
        XCTAssertTrue(onRoot.err.contains("contains the input checkpoint"), onRoot.err)
        let dot = try MergeTuneBinary.run(["merge", "--base", "../base", "--vlm", ".", "--expert", "../expert", "--method", "task_arithmetic",
                                           "--force", "-o", "."], in: URL(fileURLWithPath: t.vlm))
        XCTAssertEqual(dot.status, 1, dot.stderr)
        XCTAssertTrue(dot.stderr.contains("input checkpoint"), dot.stderr)
        // A current directory that is not an input is refused too.
        let work = t.root + "/work"
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "task_arithmetic", "-o", work]).code, 0)
        let cwd = try MergeTuneBinary.run(["merge"] + triple + ["--method", "task_arithmetic", "--force", "-o", "."], in: URL(fileURLWithPath: work))
        XCTAssertEqual(cwd.status, 1, cwd.stderr)
        XCTAssertTrue(cwd.stderr.contains("current directory"), cwd.stderr)
        XCTAssertEqual(try contents(t.vlm), before, "the VLM input is intact")
        // Unrelated files are listed, not deleted.
        try "my notes".write(toFile: work + "/NOTES.md", atomically: true, encoding: .utf8)
        let notes = try run(["merge"] + triple + ["--method", "task_arithmetic", "--force", "-o", work])
        XCTAssertEqual(notes.code, 1)
        XCTAssertTrue(notes.err.contains("NOTES.md"), notes.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/NOTES.md"))
    }

    /// An overflowing weight fails naming a tensor and writes nothing; inspect reports NaN/inf per tensor.
    func testNonFiniteMergeFailsAndInspectReportsNonFinite() throws {
        let out = tmp("inf")
        let r = try run(["merge"] + triple + ["--method", "task_arithmetic", "--vl-weight", "1e308", "-o", out])
        XCTAssertEqual(r.code, 1, r.out)
        XCTAssertTrue(r.err.contains("is not finite") && r.err.contains("merged tensor 'language_model."), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let nanFile = tmp("nan.safetensors")
        let bits: [UInt32] = [0x3F80_0000, 0x7FC0_0000, 0x7F80_0000, 0xFF80_0000]
        var data = [UInt8]()
        for b in bits { withUnsafeBytes(of: b.littleEndian) { data += $0 } }
        let header = #"{"bad":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"good":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}"#
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + data + [0, 0, 0x80, 0x3F]
        FileManager.default.createFile(atPath: nanFile, contents: Data(bytes))
        let i = try run(["inspect", nanFile])
        XCTAssertEqual(i.code, 1)
        XCTAssertTrue(i.out.contains("non-finite  bad: 1 NaN, 2 inf") && !i.out.contains("good:"), i.out)
        XCTAssertTrue(i.out.contains("INVALID") && i.err.contains("1 tensor(s) hold non-finite values"), i.out + i.err)
        XCTAssertEqual(try run(["inspect", "--header-only", nanFile]).code, 0)
    }

    /// The temporary folder of a killed merge is not a checkpoint.
    func testInspectRefusesAPartialOutput() throws {
        let dir = tmp("partial") + "/.m.partial-4194303-7"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture("base") + "/model.safetensors", toPath: dir + "/model.safetensors")
        let r = try run(["inspect", dir])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("unfinished or killed merge"), r.err)
    }

    func testLayerRangeNormalizeAndFrankPriorChecks() throws {
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "layer_range", "--layers", "0-1", "--normalize", "-o", tmp("lr")]).code, 2)
        let neg = try run(["weights"] + triple + ["--method", "frank", "--decay=-0.3"])
        XCTAssertEqual(neg.code, 0, neg.err)
        XCTAssertTrue(neg.err.contains("warning: FRANK prior: decay α̂ = -0.3"), neg.err)
        let bad = try run(["weights"] + triple + ["--method", "frank", "--decay=-0.3", "--schedule", "max"])
        XCTAssertEqual(bad.code, 1)
        XCTAssertTrue(bad.err.contains("w_R"), bad.err)
    }
}
