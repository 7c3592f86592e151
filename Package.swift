// swift-tools-version:6.0
// mergetune: a Swift workbench for the hyperparameters of model merging.
// Module map and dependency direction: docs/architecture.md.
import PackageDescription

let package = Package(
    name: "mergetune",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mergetune", targets: ["mergetune"]),
        .executable(name: "mergetune-bench", targets: ["mergetune-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        // SHA-256 of the testbed's model files for landscape provenance.
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        // mergekit's YAML configs (`merge --config`, `study export --mergekit`).
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        // The report page's templates (mergetune study report).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", exact: "2.1.1"),
        // The live dashboard's HTTP server (`mergetune serve`).
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
    ],
    targets: [
        // GSL (+ OpenBLAS as its CBLAS) behind a C shim; only Numerics imports it.
        .systemLibrary(name: "CGSL", path: "Sources/CGSL"),
        // Module MergetuneNumerics (folder Sources/Numerics): Hummingbird's dependencies bring
        // apple/swift-numerics, whose `Numerics` target would clash (names are unique per graph).
        .target(name: "MergetuneNumerics", dependencies: ["CGSL"], path: "Sources/Numerics"),
        .target(name: "SafeTensors"),
        .target(name: "Fusion", dependencies: ["SafeTensors", "MergetuneNumerics"]),
        // mergekit YAML <-> MergeRecipe (docs/fusion.md "Recipes and mergekit YAML").
        .target(name: "Mergekit", dependencies: ["Fusion", "MergetuneNumerics", .product(name: "Yams", package: "Yams")]),
        .target(name: "Surrogate", dependencies: ["MergetuneNumerics"]),
        // The shipped model family (Testbed/ at the repository root holds its files; found at run time).
        .target(name: "Testbed", dependencies: [
            "MergetuneNumerics", "SafeTensors", "Fusion", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Optimizers", dependencies: ["MergetuneNumerics"]),
        .target(name: "Ledger", dependencies: [.product(name: "GRDB", package: "GRDB.swift")]),
        // Where trials run: in-process, local slots (GPUs), Slurm; the attempt-file protocol.
        .target(name: "Executors"),
        // A user's evaluator command: run it safely, read its score (stdout, JSON, lm-eval, lmms-eval).
        .target(name: "Evaluation", dependencies: ["Executors", "MergetuneNumerics"]),
        .target(name: "StudyEngine", dependencies: [
            "Optimizers", "Surrogate", "Ledger", "Fusion", "Mergekit", "SafeTensors", "Testbed", "Executors", "Evaluation",
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // SVG charts (scales, axes, lines, bands, boxes, heatmaps, contours); Foundation only.
        .target(name: "Charts"),
        // A study's report (HTML page and sections) from the ledger alone.
        .target(name: "Reports", dependencies: [
            "StudyEngine", "Ledger", "Charts", "Surrogate", "Optimizers", "Fusion", "Testbed",
            .product(name: "Mustache", package: "swift-mustache"),
        ]),
        // `mergetune serve`: the live dashboard over a ledger (read-only).
        .target(name: "Dashboard", dependencies: [
            "Ledger", "StudyEngine", "Reports", .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .executableTarget(name: "mergetune", dependencies: [
            "Dashboard", "Reports", "StudyEngine", "Surrogate", "Optimizers", "Fusion", "Mergekit", "SafeTensors", "Ledger", "Testbed", "Executors", "MergetuneNumerics",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "mergetune-bench", dependencies: [
            "Reports", "StudyEngine", "Surrogate", "Optimizers", "Fusion", "SafeTensors", "MergetuneNumerics", "Testbed", "Ledger", "Executors",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Scratch directories for the test targets, removed when the test process exits.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "NumericsTests", dependencies: ["MergetuneNumerics"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["TestSupport", "SafeTensors"], resources: [.copy("Fixtures")]),
        .testTarget(name: "FusionTests", dependencies: ["TestSupport", "Fusion", "SafeTensors", "MergetuneNumerics"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MergekitTests", dependencies: ["Mergekit", "Fusion", "SafeTensors", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SurrogateTests", dependencies: ["Surrogate"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TestbedTests", dependencies: ["Testbed", "Fusion", "Surrogate"]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "MergetuneNumerics"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LedgerTests", dependencies: ["TestSupport", "Ledger", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "StudyEngineTests", dependencies: ["TestSupport", "StudyEngine", "Testbed", "Fusion", "SafeTensors", "Evaluation", "Executors"]),
        .testTarget(name: "ChartsTests", dependencies: ["Charts"]),
        .testTarget(name: "ReportsTests", dependencies: ["TestSupport", "Reports", "Charts", "StudyEngine", "Ledger"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "mergetune", "Testbed", "Fusion", "SafeTensors"]),
        // The local executor's tests run the built mergetune binary's `trial supervise`.
        .testTarget(name: "ExecutorsTests", dependencies: ["TestSupport", "Executors", "mergetune"]),
        // The dashboard (`mergetune serve`): in-process answers, the served binary, headless Chromium.
        .testTarget(name: "DashboardTests", dependencies: [
            "TestSupport", "Dashboard", "Ledger", "StudyEngine", "mergetune", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // Fixture evaluators (bash scripts), one per failure reason and harness layout.
        .testTarget(name: "EvaluationTests", dependencies: ["TestSupport", "Evaluation", "Executors"], resources: [.copy("Fixtures")]),
        // The Slurm executor; its cluster tests need scripts/slurm-up.sh and the built supervisor.
        .testTarget(name: "SlurmTests", dependencies: ["TestSupport", "Executors", "mergetune"]),
    ]
)
