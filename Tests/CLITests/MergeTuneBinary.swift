import Foundation
import Testing
import TestSupport

/// Runs the built `mergetune` binary (it sits next to the test bundle in the products
/// directory) for the end-to-end tests of every command group.
enum MergeTuneBinary {
    static let url: URL = BuiltProducts.mergetune

    struct Output { let status: Int32; let stdout: String; let stderr: String }

    /// Runs to completion. Output goes through files, not pipes, so a chatty child can never
    /// block on a full pipe while the test waits for it.
    static func run(_ arguments: [String], in directory: URL? = nil) throws -> Output {
        let scratch = FileManager.default.temporaryDirectory
        let out = scratch.appendingPathComponent("mergetune-out-\(UUID().uuidString)")
        let err = scratch.appendingPathComponent("mergetune-err-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        let process = try spawn(arguments, in: directory, stdout: out, stderr: err)
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Starts the binary with stdout and stderr going to files (readable while it runs).
    static func spawn(_ arguments: [String], in directory: URL?, stdout: URL, stderr: URL,
                      environment: [String: String] = [:]) throws -> Process {
        FileManager.default.createFile(atPath: stdout.path, contents: nil)
        FileManager.default.createFile(atPath: stderr.path, contents: nil)
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = try FileHandle(forWritingTo: stderr)
        process.standardInput = FileHandle.nullDevice
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        try process.run()
        return process
    }
}

/// The root command's exit-code contract: help 0, usage error 2, runtime failure 1.
@Suite struct RootCommandCLI {
    @Test(arguments: [["--help"], ["study", "--help"], ["help", "study"], ["landscape", "fit", "--help"], ["merge", "--help"]])
    func helpExitsZero(_ arguments: [String]) throws {
        let r = try MergeTuneBinary.run(arguments)
        #expect(r.status == 0, "\(arguments): \(r.stderr)")
        #expect(r.stdout.contains("USAGE"), "\(arguments): \(r.stdout)")
    }

    @Test func usageErrorsExitTwo() throws {
        let unknown = try MergeTuneBinary.run(["no-such-command"])
        #expect(unknown.status == 2)
        let missing = try MergeTuneBinary.run(["landscape", "fit"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("Missing expected argument"))
    }

    @Test func numberOptionsTakeDecimalNumbersOnly() throws {
        // Swift's Double(String) reads hex floats, nan and inf; mergetune's options do not.
        for (command, option) in [(["merge", "--base", "b", "--vlm", "v", "--expert", "e", "-o", "o"], "--vl-weight"),
                                  (["merge", "--base", "b", "--vlm", "v", "--expert", "e", "-o", "o"], "--density"),
                                  (["weights", "--base", "b", "--vlm", "v", "--expert", "e"], "--decay")] {
            for bad in ["0x1p-1", "nan", "inf", "1e999"] {
                let r = try MergeTuneBinary.run(command + [option, bad])
                #expect(r.status == 2, "\(option) \(bad): \(r.stderr)")
                #expect(r.stderr.contains(bad), "\(r.stderr)")
            }
        }
        #expect(try MergeTuneBinary.run(["--version"]).stdout.hasPrefix("0."))
    }

    @Test func runtimeFailureExitsOneWithTheErrorOnStderr() throws {
        let r = try MergeTuneBinary.run(["inspect", "/nonexistent/model.safetensors"])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("error: "))
        #expect(r.stderr.contains("/nonexistent/model.safetensors"))
    }
}
