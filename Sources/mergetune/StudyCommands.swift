import ArgumentParser
import Foundation
import Ledger
import Mergekit
import StudyEngine

extension MergeTune {
    /// The study subcommands (owned by this file, so the root command needs no edits).
    static var studyCommands: [ParsableCommand.Type] { [StudyCommand.self] }
}

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Compare optimizers on objectives over seeds; every evaluation lands in a SQLite ledger.",
        subcommands: [Launch.self, Resume.self, Status.self, Stop.self, List.self, Show.self, Summary.self, Export.self, Report.self]
    )
}

/// `--ledger PATH`, shared by every study command.
struct LedgerOptions: ParsableArguments {
    @Option(name: .long, help: "The SQLite ledger.")
    var ledger: String = "mergetune.sqlite"

    /// An existing ledger, read-only: reading commands never create, migrate or write a ledger.
    func open() throws -> Ledger {
        try Ledger(path: ledger, readOnly: true)
    }
}

/// How trials run: overrides of the spec's `[executor]` table.
struct JobOptions: ParsableArguments {
    @Option(name: .long, help: "Slots of the in-process executor when the spec has no [executor] (runs' results are identical for any N).")
    var jobs: Int = 1
    @Option(name: .long, help: "Executor: inprocess, local or slurm (overrides the spec's [executor] kind).")
    var executor: String?
    @Option(name: .long, help: "Trials in flight at once over the study (overrides executor.slots).")
    var slots: Int?
    @Option(name: .long, help: "Trials in flight per run (default ⌈slots / runs⌉; fixed per run when it starts).")
    var batch: Int?
    @Flag(name: .long, help: "Tell results in ask order, so that trials depend on the spec alone (slower with several slots).")
    var deterministic = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        if let s = slots, s < 1 { throw ValidationError("--slots must be at least 1 (got \(s))") }
        if let b = batch, b < 1 { throw ValidationError("--batch must be at least 1 (got \(b))") }
        if let k = executor, !["inprocess", "local", "slurm"].contains(k) {
            throw ValidationError("--executor must be one of inprocess, local, slurm (got '\(k)')")
        }
    }

    /// Launch options with the signal handlers installed: SIGINT/SIGTERM cancel running
    /// attempts, SIGUSR1 (`study stop --wait`) lets them finish.
    func launchOptions() -> LaunchOptions {
        var o = LaunchOptions(jobs: jobs)
        o.executor = executor; o.slots = slots; o.batch = batch
        if deterministic { o.deterministic = true }
        o.reporter = ProgressReporter()
        SignalStop.install(o.stop)
        return o
    }
}

/// Exit status of a coordinator that a signal stopped: 128 + the signal (130 SIGINT, 143 SIGTERM).
func exitIfStopped(_ result: RunnerResult, _ stop: StopRequest) throws {
    guard result.stopped != nil else { return }
    FileHandle.standardError.write(Data("stopped: running attempts were \(result.stopped == .drain ? "finished" : "cancelled and recorded as such"); `mergetune study resume` continues\n".utf8))
    // SIGINT gives 130; SIGTERM, SIGUSR1 (`study stop --wait`) and `study stop` give 143.
    throw ExitCode(128 + (stop.signal == SIGINT ? SIGINT : SIGTERM))
}

/// Prints how a launch or resume ended, and the summary once the study is complete.
func report(_ study: StudyRecord, _ result: RunnerResult, ledgerPath: String) throws {
    if result.staleTrialsRerun > 0 || result.trialsReplayed > 0 || result.trialsReattached > 0 {
        FileHandle.standardError.write(Data("resumed: \(result.trialsReplayed) trials replayed from the ledger, \(result.trialsReattached) running attempts reattached, \(result.staleTrialsRerun) interrupted attempts re-run\n".utf8))
    }
    if result.studyDone {
        let metrics = try StudyMetrics(ledger: try Ledger(path: ledgerPath, readOnly: true), studyName: study.name)
        print(try StudyReport.render(metrics.summary(), format: .table), terminator: "")
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
            let options = jobs.launchOptions()
            let (study, result) = try StudyEngine.launch(specURL: URL(fileURLWithPath: spec), ledgerPath: ledger.ledger, options: options)
            try exitIfStopped(result, options.stop)
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
            let options = jobs.launchOptions()
            let (study, result) = try StudyEngine.resume(name: name, ledgerPath: ledger.ledger, options: options)
            try exitIfStopped(result, options.stop)
            try report(study, result, ledgerPath: ledger.ledger)
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A study's coordinator and every running trial (executor, job id, host, slot, elapsed).")
        @Argument(help: "The study's name.")
        var name: String
        @OptionGroup var ledger: LedgerOptions

        func run() throws {
            print(try StudyControl.status(try ledger.open(), name: name), terminator: "")
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a running study: its running trials are cancelled (or, with --wait, finished) and recorded as such.")
        @Argument(help: "The study's name.")
        var name: String
        @OptionGroup var ledger: LedgerOptions
        @Flag(name: .long, help: "Let running trials finish; ask nothing new.")
        var wait = false
        @Option(name: .long, help: "Seconds to wait for the coordinator to exit.")
        var timeout: Double = 120

        func run() throws {
            print(try StudyControl.stop(ledgerPath: ledger.ledger, name: name, wait: wait, timeout: timeout), terminator: "")
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
        var format: OutputFormat = .table

        func run() throws {
            let metrics = try StudyMetrics(ledger: try ledger.open(), studyName: name)
            print(try StudyReport.render(metrics.summary(), format: format), terminator: "")
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
        @Option(name: .long, help: "CSV file for the Pareto fronts of multi-objective objectives (front trials, references, reference point).")
        var front: String?
        @Option(name: .long, help: "CSV file for the hypervolume per evaluation (mean and sd over seeds) of multi-objective objectives.")
        var hypervolume: String?
        @Option(name: .long, help: ArgumentHelp("Write this trial's merge as a mergekit config (-o FILE.yml): RUN:NUMBER (the trials export's run and number columns) or rRUN-tNUMBER.", valueName: "TRIAL"))
        var mergekit: String?
        @Flag(name: .long, help: "With -o: write the best complete trial's merge as a mergekit config.")
        var best = false
        @Option(name: .long, help: "With --best: the objective whose best trial is written.")
        var objective: String?
        @Option(name: [.short, .customLong("output")], help: "The mergekit YAML file to write (with --mergekit or --best).")
        var output: String?

        func validate() throws {
            guard curves != nil || trials != nil || front != nil || hypervolume != nil || mergekit != nil || best else {
                throw ValidationError("give --curves FILE.csv, --trials FILE.csv, --front FILE.csv and/or --hypervolume FILE.csv, or --mergekit TRIAL / --best with -o FILE.yml")
            }
            if mergekit != nil && best { throw ValidationError("give --mergekit TRIAL or --best, not both") }
            if (mergekit != nil || best) != (output != nil) { throw ValidationError("--mergekit TRIAL and --best write the YAML file given by -o FILE.yml") }
        }

        func run() throws {
            let metrics = try StudyMetrics(ledger: try ledger.open(), studyName: name)
            if let output {
                let (spec, trial) = try TrialRecipe.find(metrics, trial: mergekit, objective: objective)
                let recipe = try TrialRecipe.recipe(spec, trial: trial)
                let yaml = try MergekitConfig.render(recipe)
                try yaml.write(toFile: output, atomically: true, encoding: .utf8)
                print("wrote \(output): trial \(trial.number) of run \(trial.run) (objective \(spec.name), value \(trial.value.map { "\($0)" } ?? "none"))")
            }
            if let curves {
                try StudyReport.curvesCSV(metrics).write(toFile: curves, atomically: true, encoding: .utf8)
                print("wrote \(curves) (\(metrics.curves.reduce(0) { $0 + $1.points.count }) rows)")
            }
            if let trials {
                let text = StudyReport.trialsCSV(metrics)
                try text.write(toFile: trials, atomically: true, encoding: .utf8)
                print("wrote \(trials) (\(metrics.runs.reduce(0) { $0 + metrics.trials(ofRun: $1.id!).count }) rows)")
            }
            for (file, text) in [(front, StudyReport.frontCSV), (hypervolume, StudyReport.hypervolumeCSV)] {
                guard let file else { continue }
                let csv = text(metrics)
                guard csv.split(separator: "\n").count > 1 else {
                    throw ValidationError("study '\(name)' has no multi-objective objective (an objective with `metrics = [...]`)")
                }
                try csv.write(toFile: file, atomically: true, encoding: .utf8)
                print("wrote \(file) (\(csv.split(separator: "\n").count - 1) rows)")
            }
        }
    }
}
