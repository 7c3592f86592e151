import Foundation
import Testing
import TestSupport
@testable import Executors

/// The attempt-file protocol without processes: exit.json and result.json written by hand,
/// read back by AttemptFiles.outcome.
@Suite struct AttemptFilesTests {
    func directory(exit: AttemptFiles.Exit?, result: String?, stderr: String? = nil) throws -> String {
        let dir = Scratch.directory("attemptfiles").path
        if let exit { try AttemptFiles.writeExit(exit, directory: dir) }
        if let result { try Data(result.utf8).write(to: URL(fileURLWithPath: dir + "/result.json")) }
        if let stderr { try Data(stderr.utf8).write(to: URL(fileURLWithPath: dir + "/stderr.log")) }
        return dir
    }
    let ok = AttemptFiles.Exit(exitCode: 0, started: 100, finished: 102.5, host: "h1", pid: 42)

    @Test func doublesRoundTripBitForBit() throws {
        var rng = SystemRandomNumberGenerator()
        var values: [Double] = [0.1, -0.0, 1e308, -1e-308, 5e-324, .pi, 1 / 3, 123456789.123456789, 1e16, 2.5e-7]
        while values.count < 2000 {
            let x = Double(bitPattern: rng.next())
            if x.isFinite { values.append(x) }
        }
        for x in values {
            let data = AttemptFiles.encode(AttemptFiles.Result(value: x, extras: ["e": x]))
            let back = try AttemptFiles.decodeResult(data)
            #expect(back.value?.bitPattern == x.bitPattern, "\(x) came back as \(String(describing: back.value))")
            #expect(back.extras?["e"]?.bitPattern == x.bitPattern)
        }
    }

    /// Strict JSON (no NaN tokens): non-finite numbers are null; the file a previous version
    /// wrote by hand (explicit nulls, spaces) still reads back.
    @Test func filesAreStrictJSONAndOldFilesRead() throws {
        let data = AttemptFiles.encode(AttemptFiles.Result(value: .nan, extras: ["a": .infinity, "b": 0.5], error: "x\"y"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["value"] is NSNull)
        #expect((object["extras"] as? [String: Any])?["a"] is NSNull)
        let back = try AttemptFiles.decodeResult(data)
        #expect(back.value == nil && back.extras == ["b": 0.5] && back.error == "x\"y")
        let exit = AttemptFiles.Exit(exitCode: 0, started: 1.5, finished: 2)
        let exitObject = try #require(try JSONSerialization.jsonObject(with: AttemptFiles.encode(exit)) as? [String: Any])
        #expect(exitObject["signal"] is NSNull && exitObject["host"] is NSNull && exitObject["error"] == nil)
        let dir = try directory(exit: nil, result: #"{"value": 0.25, "extras": {"acc": 0.5, "nan": null}, "exit_code": 0}"#)
        try Data(#"{"exit_code": 0, "signal": null, "timed_out": false, "cancelled": false, "started": 1.5, "finished": 2.0, "host": null, "pid": null}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/exit.json"))
        #expect(try AttemptFiles.readExit(directory: dir) == exit)
        let o = try #require(AttemptFiles.outcome(directory: dir))
        #expect(o.value == 0.25 && o.extras == ["acc": 0.5])
    }

    @Test func exitRecordRoundTrips() throws {
        let exit = AttemptFiles.Exit(exitCode: nil, signal: 9, timedOut: true, cancelled: false, started: 1796166620.2178233,
                                     finished: 1796166622.5, host: "node \"7\"\n", pid: 12, error: "tab\there")
        let dir = try directory(exit: exit, result: nil)
        #expect(try AttemptFiles.readExit(directory: dir) == exit)
        // Nothing but the two files: the temporary names were renamed away.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["exit.json"])
    }

    @Test func valueOnlyWhenExitedZeroWithAFiniteNumber() throws {
        let o = try #require(AttemptFiles.outcome(directory: directory(exit: ok, result: #"{"value": 0.75, "extras": {"acc": 0.5, "gone": null}}"#)))
        #expect(o.value == 0.75)
        #expect(o.extras == ["acc": 0.5])
        #expect(o.failure == nil)
        #expect(o.exitCode == 0 && o.host == "h1" && o.seconds == 2.5)
    }

    @Test func noExitRecordMeansStillRunning() throws {
        #expect(AttemptFiles.outcome(directory: try directory(exit: nil, result: #"{"value": 1}"#)) == nil)
    }

    @Test func failureReasons() throws {
        var e = ok
        func reason(_ exit: AttemptFiles.Exit, _ result: String?) throws -> AttemptOutcome {
            try #require(AttemptFiles.outcome(directory: directory(exit: exit, result: result, stderr: "line 1\nTraceback: boom\n")))
        }
        let value = #"{"value": 1.5}"#
        e = ok; e.exitCode = 3
        let code = try reason(e, value)
        #expect(code.failure == .exitCode && code.exitCode == 3 && code.value == nil)
        #expect(code.detail?.contains("Traceback: boom") == true, "stderr tail in detail: \(code.detail ?? "")")
        e = ok; e.timedOut = true
        #expect(try reason(e, value).failure == .timeout)
        e = ok; e.exitCode = nil; e.signal = 11
        let sig = try reason(e, value)
        #expect(sig.failure == .signal && sig.signal == 11 && sig.detail?.contains("SIGSEGV") == true)
        e = ok; e.exitCode = nil; e.signal = 15; e.cancelled = true
        #expect(try reason(e, value).failure == .cancelled)
        #expect(try reason(ok, nil).failure == .missingFile)
        #expect(try reason(ok, "{\"value\": 1").failure == .badJSON)
        #expect(try reason(ok, #"{"value": "1.5"}"#).failure == .badJSON)
        #expect(try reason(ok, "[1.5]").failure == .badJSON)
        #expect(try reason(ok, #"{"value": NaN}"#).failure == .nonFinite)
        #expect(try reason(ok, #"{"value": -Infinity}"#).failure == .nonFinite)
        #expect(try reason(ok, #"{"value": null}"#).failure == .nonFinite)
        let objective = try reason(ok, #"{"value": null, "error": "CUDA out of memory"}"#)
        #expect(objective.failure == .objectiveError && objective.detail?.hasPrefix("CUDA out of memory") == true)
        e = ok; e.exitCode = 127; e.error = "cannot start /no/such: No such file or directory"
        let start = try reason(e, nil)
        #expect(start.failure == .exitCode && start.detail?.contains("/no/such") == true)
    }

    @Test func invalidUTF8IsBadJSON() throws {
        let dir = try directory(exit: ok, result: nil)
        try Data([0x7b, 0x22, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x22, 0x3a, 0x31, 0x2c, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])
            .write(to: URL(fileURLWithPath: dir + "/result.json"))
        let o = try #require(AttemptFiles.outcome(directory: dir))
        #expect(o.failure == .badJSON && o.detail?.contains("UTF-8") == true)
    }

    @Test func corruptExitRecordIsBadJSON() throws {
        let dir = try directory(exit: nil, result: #"{"value": 1}"#)
        try Data("{\"exit_code\": ".utf8).write(to: URL(fileURLWithPath: dir + "/exit.json"))
        #expect(AttemptFiles.outcome(directory: dir)?.failure == .badJSON)
    }

    @Test func stderrTailIsBounded() throws {
        var e = ok; e.exitCode = 1
        let big = String(repeating: "x", count: 200_000) + "THE END"
        let o = try #require(AttemptFiles.outcome(directory: directory(exit: e, result: nil, stderr: big)))
        let detail = try #require(o.detail)
        #expect(detail.hasSuffix("THE END"))
        #expect(detail.utf8.count < AttemptFiles.stderrTailBytes + 200)
        #expect(detail.utf8.count > AttemptFiles.stderrTailBytes - 10)
    }
}
