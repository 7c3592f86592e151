import Foundation
import Ledger
import Reports

/// The report sections the dashboard shows for a study: the Reports module's, the same as
/// `mergetune study report` writes (docs/report.md).
public enum DashboardSections {
    public static let standard: SectionBuilder = { ledger, name in
        let data = try StudyReportBuilder.load(ledger: ledger, study: name)
        let sections = StudyReportBuilder.sections(data)
        ReportStyle.learn(from: data)
        return sections.map { DashboardSection(id: $0.id, title: $0.title, html: $0.html) }
    }
}

/// The report page's stylesheet (its figures, number tables and seed switches), which the
/// dashboard's study page includes so the sections look as they do in the written report.
/// Reports keeps it internal, so it is read once from a rendered page's <style>.
enum ReportStyle {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var css: String?

    static var current: String { lock.withLock { css ?? "" } }

    static func learn(from data: StudyReportData) {
        guard lock.withLock({ css == nil }) else { return }
        let page = StudyReportBuilder.html(data)
        guard let open = page.range(of: "<style>"), let close = page.range(of: "</style>", range: open.upperBound..<page.endIndex) else { return }
        let text = String(page[open.upperBound..<close.lowerBound])
        lock.withLock { css = text }
    }
}
