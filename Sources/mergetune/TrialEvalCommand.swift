import ArgumentParser
import Foundation
import StudyEngine

/// `mergetune trial eval --dir DIR`: the worker a process executor runs for a built-in
/// objective (reads DIR/trial.json, writes DIR/result.json; docs/executors.md).
struct TrialEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate one attempt of a built-in objective in its attempt directory (run by executors).",
        shouldDisplay: false)
    @Option(name: .long, help: "The attempt directory (holds trial.json).")
    var dir: String

    func run() throws {
        try TrialWorker.run(directory: URL(fileURLWithPath: dir))
    }
}

