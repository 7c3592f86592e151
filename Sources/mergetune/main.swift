import ArgumentParser
import Foundation
import Ledger
import MergetuneNumerics

/// Exit codes are part of the interface: 0 ok, 1 bad input or runtime failure, 2 usage error.
/// ArgumentParser's own default for usage errors is 64, so errors are mapped here.
struct MergeTune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mergetune",
        abstract: "Find the best coefficients for merging neural-network checkpoints.",
        version: Ledger.writerVersion,
        subcommands: fusionCommands + landscapeCommands + studyCommands + testbedCommands + trialCommands + serveCommands
    )
}

func runMergeTune() -> Int32 {
    do {
        // One BLAS thread (MERGETUNE_BLAS_THREADS overrides): the same numbers from every command.
        _ = try BLAS.pinThreads()
        var command = try MergeTune.parseAsRoot()
        try command.run()
        return 0
    } catch {
        return exitStatus(for: error)
    }
}

/// Help and version requests (which ArgumentParser may raise while parsing or from `run()`)
/// exit 0; usage errors exit 2 with ArgumentParser's message; an explicit ExitCode passes
/// through; anything else is a runtime failure: exit 1 with the error on stderr.
func exitStatus(for error: Error) -> Int32 {
    if let exit = error as? ExitCode { return exit.rawValue }
    let code = MergeTune.exitCode(for: error)
    if code == .success {
        let message = MergeTune.fullMessage(for: error)
        if !message.isEmpty { print(message) }
        return 0
    }
    if code == .validationFailure {
        FileHandle.standardError.write(Data((MergeTune.fullMessage(for: error) + "\n").utf8))
        return 2
    }
    FileHandle.standardError.write(Data("error: \(describe(error))\n".utf8))
    return 1
}

/// LocalizedError descriptions where a type gives one, else the value itself.
func describe(_ error: Error) -> String {
    if let localized = error as? LocalizedError, let text = localized.errorDescription { return text }
    return String(describing: error)
}

exit(runMergeTune())
