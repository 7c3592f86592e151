import ArgumentParser
import Foundation

/// Exit codes are part of the interface: 0 ok, 1 bad input or runtime failure, 2 usage error.
/// ArgumentParser's own default for usage errors is 64, so errors are mapped here.
struct MergeTune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mergetune",
        abstract: "Find the best coefficients for merging neural-network checkpoints.",
        subcommands: fusionCommands + landscapeCommands + studyCommands + testbedCommands
    )
}

func runMergeTune() -> Int32 {
    let command: ParsableCommand
    do {
        command = try MergeTune.parseAsRoot()
    } catch {
        let code = MergeTune.exitCode(for: error)
        let message = MergeTune.fullMessage(for: error)
        if code == .success {
            if !message.isEmpty { print(message) }
            return 0
        }
        FileHandle.standardError.write(Data((message + "\n").utf8))
        return 2
    }
    do {
        var runnable = command
        try runnable.run()
        return 0
    } catch let exit as ExitCode {
        return exit.rawValue
    } catch let error as ValidationError {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        return 2
    } catch let error as CleanExit {
        print(MergeTune.fullMessage(for: error))
        return 0
    } catch {
        FileHandle.standardError.write(Data("error: \(describe(error))\n".utf8))
        return 1
    }
}

/// LocalizedError descriptions where a type gives one, else the value itself.
func describe(_ error: Error) -> String {
    if let localized = error as? LocalizedError, let text = localized.errorDescription { return text }
    return String(describing: error)
}

exit(runMergeTune())
