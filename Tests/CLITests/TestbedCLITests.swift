import Foundation
import Testing

/// End-to-end tests of `mergetune testbed`: run the built binary on the shipped family.
@Suite struct TestbedCLITests {
    static var repository: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// Runs from $TMPDIR, so `--testbed` must be honoured rather than found from the cwd.
    func run(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        let r = try MergeTuneBinary.run(args, in: FileManager.default.temporaryDirectory)
        return (r.status, r.stdout, r.stderr)
    }

    var testbed: [String] { ["--testbed", Self.repository.appendingPathComponent("Testbed").path] }

    @Test func evalPrintsTargetPerceptionAndSkill() throws {
        let r = try run(["testbed", "eval", "--scenario", "language", "--vl-weight", "1", "--exp-weight", "0"] + testbed)
        #expect(r.code == 0, "\(r.err)")
        // vl=1, exp=0 is the VLM: the reference's see_w log-prob is −9.84 and perception is perfect.
        #expect(r.out.contains("target see_w: exact 0.000, log-prob -9.84"), "\(r.out)")
        #expect(r.out.contains("perception see: exact 1.000"), "\(r.out)")
        #expect(r.out.contains("skill copy_w:"), "\(r.out)")
    }

    @Test func probeWritesAnAttentionFile() throws {
        let out = NSTemporaryDirectory() + "testbed-cli-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try run(["testbed", "probe", "-o", out] + testbed)
        #expect(r.code == 0, "\(r.err)")
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.hasPrefix("layer,share\n"))
        #expect(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.count == 5)
    }

    @Test func badInputsExitWithUsageOrRuntimeCodes() throws {
        let usage = try run(["testbed", "eval", "--scenario", "vision"] + testbed)
        #expect(usage.code == 2, "\(usage.err)")
        let missing = try run(["testbed", "eval", "--scenario", "language", "--testbed", "/nonexistent"])
        #expect(missing.code == 1)
        #expect(missing.err.contains("not a testbed directory"), "\(missing.err)")
        // An out-of-range option is a usage error, as for `merge` (the recipe checks it before any input is read).
        let density = try run(["testbed", "eval", "--scenario", "language", "--method", "ties", "--density", "0"] + testbed)
        #expect(density.code == 2)
        #expect(density.err.contains("density"), "\(density.err)")
    }
}
