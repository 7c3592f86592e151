import ArgumentParser
import Dashboard
import Foundation

extension MergeTune {
    static var serveCommands: [ParsableCommand.Type] { [Serve.self] }
}

/// `mergetune serve`: the live dashboard over a ledger (read-only; docs/dashboard.md).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live dashboard of every study in a ledger (read-only; never makes a coordinator wait).",
        discussion: "Prints the URL it serves on as its first line of output (with --port 0, the port it picked). Stop it with Ctrl-C.")

    @Option(name: .long, help: "The SQLite ledger (it need not exist yet: the pages say so until it does).")
    var ledger: String = "mergetune.sqlite"
    @Option(name: .long, help: "Address to bind (127.0.0.1: this machine only).")
    var host: String = "127.0.0.1"
    @Option(name: .long, help: "Port (0: pick a free one).")
    var port: Int = 8080

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535 (got \(port))") }
    }

    func run() throws {
        let path = URL(fileURLWithPath: ledger).standardizedFileURL.path
        let site = DashboardSite(data: DashboardData(source: LedgerSource(path: path), sections: DashboardSections.standard))
        let host = self.host
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        Task.detached {
            do {
                try await DashboardServer.run(site: site, host: host, port: port) { bound in
                    let shown = host.contains(":") ? "[\(host)]" : host
                    FileHandle.standardOutput.write(Data("http://\(shown):\(bound)/\n".utf8))
                    FileHandle.standardError.write(Data("serving the dashboard of \(path) (read-only); Ctrl-C stops it\n".utf8))
                    site.data.warm()
                }
            } catch {
                let text = String(describing: error)
                failure = text.contains("Address already in use") || text.contains("errno: 98")
                    ? ServeError(message: "cannot listen on \(host):\(port): the address is already in use (another `mergetune serve`?); pass another --port, or --port 0 for a free one")
                    : ServeError(message: "cannot serve on \(host):\(port): \(text)")
            }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
    }
}

struct ServeError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
