#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Dashboard
import Foundation
import Ledger
import StudyEngine
import TestSupport

/// Small studies for the dashboard's tests, and ways to reach the dashboard.
enum Fixture {
    /// An analytic study: `optimizers` × 2 seeds × 2 objectives, `budget` evaluations per run.
    static func spec(name: String, optimizers: [String] = ["random", "sobol", "cmaes"], budget: Int = 8,
                     delayMs: Int = 0, executor: String? = nil) -> String {
        """
        name = "\(name)"
        seeds = 2
        budget = \(budget)
        \(optimizers.map { "[[optimizers]]\nkind = \"\($0)\"\n" }.joined(separator: "\n"))
        [[objectives]]
        kind = "analytic"
        function = "branin"
        delay_ms = \(delayMs)

        [[objectives.references]]
        name = "centre"
        params = { x1 = 2.5, x2 = 7.5 }

        [[objectives]]
        kind = "analytic"
        function = "six_hump_camel"
        delay_ms = \(delayMs)
        \(executor ?? "")
        """
    }

    /// A ledger with a finished study, run in-process.
    static func finishedLedger(_ name: String = "small", optimizers: [String] = ["random", "sobol", "cmaes"], budget: Int = 8) throws -> (dir: URL, ledger: String) {
        let dir = Scratch.directory("dashboard")
        let specURL = dir.appendingPathComponent("\(name).toml")
        try spec(name: name, optimizers: optimizers, budget: budget).write(to: specURL, atomically: true, encoding: .utf8)
        let ledger = dir.appendingPathComponent("ledger.sqlite").path
        _ = try StudyEngine.launch(specURL: specURL, ledgerPath: ledger)
        return (dir, ledger)
    }

    static func site(_ ledger: String, busyTimeout: TimeInterval = 0.3) -> DashboardSite {
        DashboardSite(data: DashboardData(source: LedgerSource(path: ledger, busyTimeout: busyTimeout), sections: DashboardSections.standard))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ reply: Reply) throws -> T {
        try JSONDecoder().decode(type, from: Data(reply.body.utf8))
    }
}

/// `mergetune serve` as a child process on a free port.
final class ServeProcess {
    let process: Process
    let url: String
    let stderrFile: URL

    init(ledger: String, extra: [String] = []) throws {
        let dir = Scratch.directory("serve")
        let out = dir.appendingPathComponent("stdout"), err = dir.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        stderrFile = err
        process = Process()
        process.executableURL = BuiltProducts.mergetune
        process.arguments = ["serve", "--ledger", ledger, "--port", "0"] + extra
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The first line of stdout is the URL.
        let deadline = Date().addingTimeInterval(60)
        var line = ""
        while Date() < deadline {
            let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
            if let nl = text.firstIndex(of: "\n") { line = String(text[..<nl]); break }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard line.hasPrefix("http://") else {
            process.terminate()
            throw Chromium.Failure(description: "mergetune serve printed no URL: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        }
        url = line
    }

    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// SIGTERM, then the exit status.
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        return process.terminationStatus
    }

    deinit { _ = stop() }
}

/// A blocking GET (status, body) with a timeout.
func httpGet(_ url: String, timeout: TimeInterval = 30) -> (status: Int, body: String, contentType: String) {
    let box = ResultBox()
    var request = URLRequest(url: URL(string: url)!)
    request.timeoutInterval = timeout
    let done = DispatchSemaphore(value: 0)
    URLSession.shared.dataTask(with: request) { data, response, error in
        let http = response as? HTTPURLResponse
        box.set((http?.statusCode ?? -1, data.map { String(decoding: $0, as: UTF8.self) } ?? "\(error.map { "\($0)" } ?? "")",
                 http?.value(forHTTPHeaderField: "Content-Type") ?? ""))
        done.signal()
    }.resume()
    done.wait()
    return box.value
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var v: (Int, String, String) = (-1, "", "")
    func set(_ x: (Int, String, String)) { lock.withLock { v = x } }
    var value: (status: Int, body: String, contentType: String) { lock.withLock { (v.0, v.1, v.2) } }
}
