import ArgumentParser
import Foundation
import Ledger
import StudyEngine

extension MergeTune {
    /// The study subcommands (owned by this file, so the root command needs no edits).
    static var studyCommands: [ParsableCommand.Type] { [StudyCommand.self] }
}

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Compare optimizers on objectives over seeds; every evaluation lands in a SQLite ledger.",
        subcommands: [Launch.self, Resume.self, List.self, Show.self, Summary.self, Export.self]
    )
}

/// `--ledger PATH`, shared by every study command.
struct LedgerOptions: ParsableArguments {
    @Option(name: .long, help: "The SQLite ledger.")
    var ledger: String = "mergetune.sqlite"

    /// An existing ledger (reading commands must not create an empty one by accident).
    func open() throws -> Ledger {
        guard FileManager.default.fileExists(atPath: ledger) else {
            throw LedgerError.cannotOpen(path: ledger, reason: "no such file (launch a study first, or pass --ledger)")
        }
        return try Ledger(path: ledger)
    }
}

struct JobOptions: ParsableArguments {
    @Option(name: .long, help: "Runs evaluated in parallel (results are identical for any N).")
    var jobs: Int = 1

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
    }
}

/// Prints how a launch or resume ended, and the summary once the study is complete.
func report(_ study: StudyRecord, _ result: RunnerResult, ledgerPath: String) throws {
    if result.staleTrialsRerun > 0 || result.trialsReplayed > 0 {
        FileHandle.standardError.write(Data("resumed: \(result.trialsReplayed) trials replayed from the ledger, \(result.staleTrialsRerun) interrupted trials re-run\n".utf8))
    }
    if result.studyDone {
        let metrics = try StudyMetrics(ledger: try Ledger(path: ledgerPath), studyName: study.name)
        print(try StudyReport.render(metrics.summary(), format: .table), terminator: "")
    } else if result.runsHeldElsewhere > 0 {
        print("study \(study.name): \(result.progress.runsDone)/\(result.progress.runsTotal) runs done; \(result.runsHeldElsewhere) still running in another process")
    }
}

extension StudyCommand {
    struct Launch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a study from a TOML spec; continues it if the ledger already has it.")

        @Argument(help: "The study spec (TOML).")
        var spec: String
        @OptionGroup var ledger: LedgerOptions
        @OptionGroup var jobs: JobOptions

        func run() throws {
            let (study, result) = try StudyEngine.launch(specURL: URL(fileURLWithPath: spec), ledgerPath: ledger.ledger,
                                                        jobs: jobs.jobs, reporter: ProgressReporter())
            try report(study, result, ledgerPath: ledger.ledger)
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Continue a study of the ledger where it stopped (its spec is in the ledger).")

        @Argument(help: "The study's name.")
        var name: String
        @OptionGroup var ledger: LedgerOptions
        @OptionGroup var jobs: JobOptions

        func run() throws {
            _ = try ledger.open()
            let (study, result) = try StudyEngine.resume(name: name, ledgerPath: ledger.ledger, jobs: jobs.jobs,
                                                        reporter: ProgressReporter())
            try report(study, result, ledgerPath: ledger.ledger)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The studies of a ledger, with their progress.")
        @OptionGroup var ledger: LedgerOptions

        func run() throws {
            print(try StudyReport.list(try ledger.open()), terminator: "")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A study's spec, objectives and progress.")
        @Argument(help: "The study's name.")
        var name: String
        @OptionGroup var ledger: LedgerOptions

        func run() throws {
            print(try StudyReport.show(try ledger.open(), name: name), terminator: "")
        }
    }

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Final regret, RoR against random (mean and median across objectives), reference points and the sum-to-one analysis.")
        @Argument(help: "The study's name.")
        var name: String
        @OptionGroup var ledger: LedgerOptions
        @Option(name: .long, help: "table, csv or json.")
        var format: String = "table"

        func validate() throws {
            guard StudyReport.Format(rawValue: format) != nil else {
                throw ValidationError("--format must be one of table, csv, json (got '\(format)')")
            }
        }

        func run() throws {
            let metrics = try StudyMetrics(ledger: try ledger.open(), studyName: name)
            print(try StudyReport.render(metrics.summary(), format: StudyReport.Format(rawValue: format)!), terminator: "")
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write regret curves (one row per study, objective, optimizer, seed, n) and trials (one row per trial) as CSV.")
        @Argument(help: "The study's name.")
        var name: String
        @OptionGroup var ledger: LedgerOptions
        @Option(name: .long, help: "CSV file for the regret curves.")
        var curves: String?
        @Option(name: .long, help: "CSV file for the trials.")
        var trials: String?

        func validate() throws {
            guard curves != nil || trials != nil else { throw ValidationError("give --curves FILE.csv and/or --trials FILE.csv") }
        }

        func run() throws {
            let metrics = try StudyMetrics(ledger: try ledger.open(), studyName: name)
            if let curves {
                try StudyReport.curvesCSV(metrics).write(toFile: curves, atomically: true, encoding: .utf8)
                print("wrote \(curves) (\(metrics.curves.reduce(0) { $0 + $1.points.count }) rows)")
            }
            if let trials {
                let text = StudyReport.trialsCSV(metrics)
                try text.write(toFile: trials, atomically: true, encoding: .utf8)
                print("wrote \(trials) (\(metrics.runs.reduce(0) { $0 + metrics.trials(ofRun: $1.id!).count }) rows)")
            }
        }
    }
}
