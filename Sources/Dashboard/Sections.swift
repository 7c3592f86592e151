import Foundation
import Ledger
import StudyEngine

/// The report sections the dashboard shows for a study.
public enum DashboardSections {
    /// Until the Reports module is in: the summary's regret-over-random table.
    public static let standard: SectionBuilder = { ledger, name in
        let s = try StudyMetrics(ledger: ledger, studyName: name).summary()
        var rows = ""
        for r in s.overall {
            rows += "<tr><td>\(htmlEscape(r.optimizer))</td><td class=\"num\">\(r.objectives)</td><td class=\"num\">\(r.meanRoR.map { String(format: "%.3f", $0) } ?? "n/a")</td><td class=\"num\">\(r.medianRoR.map { String(format: "%.3f", $0) } ?? "n/a")</td></tr>"
        }
        return [DashboardSection(id: "overall", title: "Regret over random",
                                 html: "<table><thead><tr><th>optimizer</th><th class=\"num\">objectives</th><th class=\"num\">mean RoR</th><th class=\"num\">median RoR</th></tr></thead><tbody>\(rows)</tbody></table>")]
    }
}
