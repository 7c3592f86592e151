import Foundation
import XCTest
import TestSupport

/// `mergetune merge --config FILE.yml` (mergekit YAML) and the recipe every merge records.
final class MergeConfigCLITests: XCTestCase {
    func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FusionTests/Fixtures/mergekit/\(name)").path
    }

    func tmp(_ name: String) -> String { Scratch.path("mergetune-cfg-\(name)") }

    func run(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        let r = try MergeTuneBinary.run(args)
        return (r.status, r.stdout, r.stderr)
    }

    func files(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: dir) where f.hasSuffix(".safetensors") || f.hasSuffix(".json") || f.hasSuffix(".yml") {
            out[f] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + f))
        }
        return out
    }

    /// A config merge equals the same merge given by options, byte for byte (tensors and
    /// provenance); its mergekit_config.yml merges to the same bytes again.
    func testConfigMergeEqualsOptionsMergeAndRoundTrips() throws {
        let cfg = tmp("ties.yml")
        try """
        merge_method: ties
        base_model: \(fixture("base"))
        models:
          - model: \(fixture("vlm_wrapped"))
            parameters: {weight: 0.6, density: 0.4}
          - model: \(fixture("expert"))
            parameters: {weight: 0.8, density: 0.4}
        """.write(toFile: cfg, atomically: true, encoding: .utf8)
        let a = tmp("a"), b = tmp("b"), c = tmp("c")
        let ra = try run(["merge", "--config", cfg, "-o", a])
        XCTAssertEqual(ra.code, 0, ra.err)
        XCTAssertTrue(ra.out.contains("weights     vl 0.6  exp 0.8  density 0.4"), ra.out)
        XCTAssertTrue(ra.out.contains("recipe      mergekit_config.yml"), ra.out)
        let rb = try run(["merge", "--base", fixture("base"), "--vlm", fixture("vlm_wrapped"), "--expert", fixture("expert"),
                          "--method", "ties", "--vl-weight", "0.6", "--exp-weight", "0.8", "--density", "0.4", "-o", b])
        XCTAssertEqual(rb.code, 0, rb.err)
        let fa = try files(a)
        XCTAssertEqual(Set(fa.keys), ["model.safetensors", "config.json", "tokenizer_config.json", "generation_config.json", "mergekit_config.yml"])
        XCTAssertEqual(fa, try files(b))
        let yml = String(decoding: fa["mergekit_config.yml"]!, as: UTF8.self)
        XCTAssertTrue(yml.contains("merge_method: ties") && yml.contains("mergetune_role: vlm") && yml.contains("density: 0.4"), yml)
        let rc = try run(["merge", "--config", a + "/mergekit_config.yml", "-o", c])
        XCTAssertEqual(rc.code, 0, rc.err)
        XCTAssertEqual(try files(c), fa)
        let i = try run(["inspect", "--header-only", a])
        XCTAssertTrue(i.out.contains(#"mergetune.recipe = {"method":"ties""#), i.out)
        XCTAssertTrue(i.out.contains("mergetune.version = 0."), i.out)
    }

    func testConfigErrors() throws {
        let bad = tmp("slices.yml")
        try "merge_method: ties\nslices:\n  - sources: []\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try run(["merge", "--config", bad, "-o", tmp("x")])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("\(bad):2: key 'slices': not supported"), r.err)
        let missing = try run(["merge", "--config", "/nonexistent/c.yml", "-o", tmp("x")])
        XCTAssertEqual(missing.code, 1)
        XCTAssertTrue(missing.err.contains("/nonexistent/c.yml"), missing.err)
        // The config gives the method and parameters: options that would too are usage errors.
        let both = try run(["merge", "--config", bad, "--method", "ties", "--density", "0.5", "-o", tmp("x")])
        XCTAssertEqual(both.code, 2)
        XCTAssertTrue(both.err.contains("drop --method, --density"), both.err)
        // A linear config without base_model needs --base.
        let lin = tmp("linear.yml")
        try "merge_method: linear\nmodels:\n  - model: \(fixture("vlm"))\n    parameters: {weight: 0.3}\n  - model: \(fixture("expert"))\n    parameters: {weight: 0.7}\n"
            .write(toFile: lin, atomically: true, encoding: .utf8)
        let noBase = try run(["merge", "--config", lin, "-o", tmp("x")])
        XCTAssertEqual(noBase.code, 1)
        XCTAssertTrue(noBase.err.contains("give --base"), noBase.err)
        let withBase = try run(["merge", "--config", lin, "--base", fixture("base"), "--dry-run"])
        XCTAssertEqual(withBase.code, 0, withBase.err)
    }

    /// Options that do not apply to a method are usage errors now (they were ignored), and a
    /// merge mergekit cannot express says so instead of writing mergekit_config.yml.
    func testOptionsThroughTheRecipe() throws {
        let triple = ["--base", fixture("base"), "--vlm", fixture("vlm"), "--expert", fixture("expert")]
        let d = try run(["merge"] + triple + ["--method", "task_arithmetic", "--density", "0.5", "-o", tmp("x")])
        XCTAssertEqual(d.code, 2)
        XCTAssertTrue(d.err.contains("--density does not apply to task_arithmetic"), d.err)
        let s = try run(["merge"] + triple + ["--method", "ties", "--seed", "3", "-o", tmp("x")])
        XCTAssertEqual(s.code, 2)
        XCTAssertTrue(s.err.contains("--seed does not apply to ties"), s.err)
        // metagpt (one pair for the model) is written with its resolved coefficients; frank's
        // per-layer pairs differ from the embeddings' pair, which mergekit cannot express.
        let out = tmp("metagpt")
        let m = try run(["merge"] + triple + ["--method", "metagpt", "-o", out])
        XCTAssertEqual(m.code, 0, m.err)
        XCTAssertTrue(m.out.contains("no mergekit_config.yml: metagpt cannot be written as a mergekit config"), m.out)
        XCTAssertTrue(m.out.contains("mergekit_config.yml written with the resolved coefficients"), m.out)
        let yml = try String(contentsOfFile: out + "/mergekit_config.yml", encoding: .utf8)
        XCTAssertTrue(yml.hasPrefix("# metagpt resolved") && yml.contains("merge_method: task_arithmetic"), yml)
        let i = try run(["inspect", "--header-only", out])
        XCTAssertTrue(i.out.contains(#"mergetune.recipe = {"method":"metagpt""#), i.out)
        XCTAssertEqual(try run(["merge"] + triple + ["--method", "metagpt", "--force", "-o", out]).code, 0, "--force replaces it")
        let fout = tmp("frank")
        let f = try run(["merge"] + triple + ["--method", "frank", "-o", fout])
        XCTAssertEqual(f.code, 0, f.err)
        XCTAssertTrue(f.out.contains("no mergekit_config.yml with the resolved coefficients either"), f.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: fout + "/mergekit_config.yml"))
    }
}
