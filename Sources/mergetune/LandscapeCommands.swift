import ArgumentParser

extension MergeTune {
    /// The landscape subcommands (owned by this file, so the root command needs no edits).
    static var landscapeCommands: [ParsableCommand.Type] { [] }
}
