import ArgumentParser

extension MergeTune {
    /// The fusion subcommands (owned by this file, so the root command needs no edits).
    static var fusionCommands: [ParsableCommand.Type] { [] }
}
