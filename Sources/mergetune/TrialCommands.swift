import ArgumentParser
import Executors
import Foundation

extension MergeTune {
    /// The worker-side subcommands that executors run (owned by this file).
    static var trialCommands: [ParsableCommand.Type] { [TrialCommand.self] }
}

/// `mergetune trial …`: what runs on the worker side of an attempt (docs/executors.md).
struct TrialCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trial",
        abstract: "Worker-side commands of one trial attempt (started by the executors).",
        subcommands: [TrialSupervise.self])
}

/// The supervisor of one attempt. Exits 0 once `exit.json` is written: that file, not this
/// exit code, says how the worker ended.
struct TrialSupervise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervise",
        abstract: "Run a worker in its own process group, enforce its timeout, write exit.json.",
        shouldDisplay: false)

    @Option(name: .customLong("dir"), help: "The attempt directory (exists; gets stdout.log, stderr.log, exit.json).")
    var directory: String
    @Option(help: "Seconds the worker may run (SIGTERM to its group, then SIGKILL after --grace).")
    var timeout: Double?
    @Option(help: "Seconds between SIGTERM and SIGKILL.")
    var grace: Double = Supervisor.defaultGrace
    @Argument(parsing: .postTerminator, help: "The worker's argument list, after --.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("no worker command: give it after --, e.g. -- python3 eval.py") }
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be > 0, got \(timeout)") }
        if !(grace >= 0) { throw ValidationError("--grace must be >= 0, got \(grace)") }
    }

    func run() throws {
        try Supervisor(directory: directory, command: command, timeout: timeout, grace: grace).run()
    }
}
