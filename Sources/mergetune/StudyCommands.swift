import ArgumentParser

extension MergeTune {
    /// The study subcommands (owned by this file, so the root command needs no edits).
    static var studyCommands: [ParsableCommand.Type] { [] }
}
