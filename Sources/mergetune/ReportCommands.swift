import ArgumentParser
import Foundation
import Reports

extension StudyCommand {
    /// `mergetune study report NAME -o FILE.html`: the study as one self-contained HTML page,
    /// from the ledger alone (opened read-only, so a running study is never slowed or locked).
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a study's report: one self-contained HTML file (inline SVG charts; opens from disk, no network).",
            discussion: "What each figure shows and how it is computed: docs/report.md.")

        @Argument(help: "The study's name.")
        var name: String
        @OptionGroup var ledger: LedgerOptions
        @Option(name: .shortAndLong, help: "The HTML file to write.")
        var output: String
        @Flag(name: .long, help: "Regret axes on a log scale.")
        var logScale = false
        @Option(name: .long, help: "Heatmap cells per axis of the landscapes.")
        var grid: Int = 48
        @Option(name: .long, help: "Trials drawn per optimizer on a landscape (spread over seeds; the caption says how many of how many).")
        var maxPoints: Int = 400

        func validate() throws {
            guard output.hasSuffix(".html") || output.hasSuffix(".htm") else {
                throw ValidationError("-o must name an .html file (got '\(output)')")
            }
            guard (4...400).contains(grid) else { throw ValidationError("--grid must be in 4...400 (got \(grid))") }
            guard maxPoints >= 1 else { throw ValidationError("--max-points must be at least 1 (got \(maxPoints))") }
        }

        func run() throws {
            var load = LoadOptions()
            load.gridResolution = grid
            load.maxPointsPerSeries = maxPoints
            let data = try StudyReportBuilder.load(ledger: try ledger.open(), study: name, options: load)
            let html = StudyReportBuilder.html(data, options: ReportOptions(logScale: logScale))
            do {
                try html.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("cannot write the report to \(output): \(error.localizedDescription)")
            }
            print("wrote \(output) (\(html.utf8.count / 1024) KiB, \(data.objectives.count) objectives)")
        }
    }
}
