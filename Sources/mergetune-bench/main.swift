import ArgumentParser

/// Benchmarks: every speed or memory claim of mergetune comes from one of these subcommands.
struct MergeTuneBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mergetune-bench",
        abstract: "Benchmarks for mergetune (run with -c release).",
        subcommands: [FusionBench.self, SurrogateBench.self, SurrogateFidelityBench.self, OptimizersBenchmark.self, GPAskBenchmark.self, BatchGPBench.self, StudyBench.self, MultiFidelityBench.self, CoordinatorBench.self, TestbedBench.self, ReportBench.self, SpacesBench.self, SampleEfficiencyBench.self]
    )
}
MergeTuneBench.main()
