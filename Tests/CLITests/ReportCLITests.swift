import Foundation
import Testing

/// `mergetune study report` end to end, on the reference ledger of StudyCLITests.
@Suite struct ReportCLI {
    @Test func reportWritesASelfContainedPage() throws {
        let reference = try uninterrupted.get()
        let dir = reference.dir
        let r = try MergeTuneBinary.run(["study", "report", "crash", "--ledger", "reference.sqlite", "-o", "crash-report.html"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("wrote crash-report.html ("))
        let html = try String(contentsOf: dir.appendingPathComponent("crash-report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for chart in ["regret-o1", "regret-o2", "regret-o3", "ror", "best-over-time", "timeline"] {
            #expect(html.contains("data-chart=\"\(chart)\""), "\(chart)")
        }
        #expect(!html.contains("data-scale=\"log\""))
        let log = try MergeTuneBinary.run(["study", "report", "crash", "--ledger", "reference.sqlite", "-o", "crash-log.html", "--log-scale"], in: dir)
        #expect(log.status == 0)
        #expect(try String(contentsOf: dir.appendingPathComponent("crash-log.html"), encoding: .utf8).contains("data-scale=\"log\""))
    }

    @Test func reportErrorsNameWhatIsWrong() throws {
        let reference = try uninterrupted.get()
        let dir = reference.dir
        #expect(try MergeTuneBinary.run(["study", "report", "crash", "--ledger", "reference.sqlite", "-o", "x.txt"], in: dir).status == 2)
        #expect(try MergeTuneBinary.run(["study", "report", "crash", "--ledger", "reference.sqlite"], in: dir).status == 2)
        let unknown = try MergeTuneBinary.run(["study", "report", "nope", "--ledger", "reference.sqlite", "-o", "n.html"], in: dir)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no study named 'nope'"))
        let absent = try MergeTuneBinary.run(["study", "report", "crash", "--ledger", "absent.sqlite", "-o", "a.html"], in: dir)
        #expect(absent.status == 1 && absent.stderr.contains("absent.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("absent.sqlite").path))
        let unwritable = try MergeTuneBinary.run(["study", "report", "crash", "--ledger", "reference.sqlite", "-o", "no/such/dir/r.html"], in: dir)
        #expect(unwritable.status == 1 && unwritable.stderr.contains("cannot write the report to no/such/dir/r.html"))
    }
}
