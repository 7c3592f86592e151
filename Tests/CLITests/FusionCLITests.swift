import Foundation
import XCTest
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
        XCTAssertEqual(layers[0]["prior_w_v"] as! Double, 1, accuracy: 1e-9)
        XCTAssertEqual(layers[0]["lambda_r"] as! Double, 0, accuracy: 1e-9)  // max schedule: w_R = 0 at layer 1
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
    }
}
