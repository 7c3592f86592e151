import Foundation

// The dashboard's HTML pages: self-contained (no external scripts, styles or fonts: they work
// offline), refreshed by a few lines of plain JavaScript polling the JSON API.

/// Escapes text for HTML element content and attribute values.
public func htmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}

/// A study name in a URL path.
func pathComponent(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? s
}

enum Pages {
    static let style = """
    :root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --band: #f6f8fa; --accent: #0969da;
            --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
    * { box-sizing: border-box; }
    body { margin: 0; max-width: none; padding: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
    header.top { background: #24292f; color: #fff; padding: 10px 24px; margin: 0; border: 0; display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
    header.top a { color: #fff; text-decoration: none; font-weight: 600; }
    header.top .ledger { color: #c9d1d9; font-size: 13px; overflow-wrap: anywhere; }
    main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 48px; }
    h1 { font-size: 24px; margin: 8px 0 4px; }
    h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
    table.dash { border-collapse: collapse; width: 100%; font-size: 14px; }
    table.dash th, table.dash td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; white-space: nowrap; }
    table.dash th { background: var(--band); font-weight: 600; }
    table.dash td.num, table.dash th.num { text-align: right; font-variant-numeric: tabular-nums; }
    a { color: var(--accent); }
    .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
    .status-running { color: var(--accent); } .status-done { color: var(--ok); } .status-stopped { color: var(--warn); }
    .dead { color: var(--bad); }
    .bar { position: relative; width: 160px; height: 16px; background: var(--band); border: 1px solid var(--line); border-radius: 3px; display: inline-block; vertical-align: middle; }
    .bar > span { position: absolute; left: 0; top: 0; bottom: 0; background: #54aeff; border-radius: 2px; }
    .bar-label { margin-left: 8px; font-variant-numeric: tabular-nums; }
    .meta { color: var(--muted); font-size: 13px; }
    .summary-line { display: flex; gap: 28px; flex-wrap: wrap; margin: 8px 0 4px; }
    .summary-line > div { min-width: 180px; }
    .summary-line .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
    .empty { color: var(--muted); font-style: italic; padding: 8px 0; }
    .notice { border: 1px solid var(--line); border-left: 4px solid var(--warn); background: #fff8c5; padding: 12px 16px; border-radius: 4px; max-width: 820px; }
    .notice.error { border-left-color: var(--bad); background: #ffebe9; }
    .notice code, code { background: var(--band); padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
    #conn { font-size: 12px; color: #c9d1d9; }
    #conn.lost { color: #ffaba8; font-weight: 600; }
    section.report svg { max-width: 100%; height: auto; }
    """

    static func page(title: String, ledger: String, body: String, script: String = "", refresh: Int? = nil, extraStyle: String = "") -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        \(refresh.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? "")
        <title>\(htmlEscape(title)) · mergetune</title>
        \(extraStyle.isEmpty ? "" : "<style>\(extraStyle)</style>")
        <style>\(style)</style>
        </head>
        <body>
        <header class="top"><a href="/">mergetune dashboard</a><span class="ledger">ledger: \(htmlEscape(ledger))</span><span id="conn" class="meta"></span></header>
        <main>
        \(body)
        </main>
        \(script.isEmpty ? "" : "<script>\n\(script)\n</script>")
        </body>
        </html>

        """
    }

    // Shared by both pages' scripts: fetch JSON, progress bars, escaping, the connection line.
    static let commonScript = """
    function esc(s) { return String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c])); }
    function bar(done, total) {
      const pct = total > 0 ? Math.min(100, 100 * done / total) : 0;
      return '<span class="bar"><span style="width:' + pct.toFixed(1) + '%"></span></span><span class="bar-label">' + done + ' / ' + total + '</span>';
    }
    // Trials against the budget; with fidelities the budget is in cost (full-fidelity evaluations).
    function trialsBar(s) {
      if (s.costDone == null) return bar(s.trialsDone, s.trialsTotal);
      const c = Math.round(s.costDone * 100) / 100;
      const pct = s.trialsTotal > 0 ? Math.min(100, 100 * c / s.trialsTotal) : 0;
      return '<span class="bar"><span style="width:' + pct.toFixed(1) + '%"></span></span><span class="bar-label">cost ' + c + ' / ' + s.trialsTotal + ' (' + s.trialsDone + ' trials)</span>';
    }
    function dur(s) {
      if (s < 60) return s.toFixed(1) + ' s';
      const t = Math.round(s);
      if (t < 3600) return Math.floor(t / 60) + ' min ' + String(t % 60).padStart(2, '0') + ' s';
      return Math.floor(t / 3600) + ' h ' + String(Math.floor((t % 3600) / 60)).padStart(2, '0') + ' min';
    }
    function setConn(ok, text) {
      const c = document.getElementById('conn');
      c.className = ok ? 'meta' : 'lost';
      c.textContent = text;
    }
    async function getJSON(url) {
      const r = await fetch(url, {cache: 'no-store'});
      const body = await r.json();
      if (!r.ok) throw new Error(body.message || ('HTTP ' + r.status));
      return body;
    }
    """

    static func bar(_ done: Int, _ total: Int) -> String {
        let pct = total > 0 ? min(100, 100 * Double(done) / Double(total)) : 0
        return "<span class=\"bar\"><span style=\"width:\(String(format: "%.1f", pct))%\"></span></span><span class=\"bar-label\">\(done) / \(total)</span>"
    }

    /// Trials against the budget; with fidelities the budget is in cost (full-fidelity evaluations).
    static func trialsBar(_ s: StudyEntry) -> String {
        guard let c = s.costDone else { return bar(s.trialsDone, s.trialsTotal) }
        let pct = s.trialsTotal > 0 ? min(100, 100 * c / Double(s.trialsTotal)) : 0
        return "<span class=\"bar\"><span style=\"width:\(String(format: "%.1f", pct))%\"></span></span><span class=\"bar-label\">cost \(shortCost(c)) / \(s.trialsTotal) (\(s.trialsDone) trials)</span>"
    }

    /// A cost as the page's script writes it (rounded to 0.01, no trailing zeros).
    static func shortCost(_ c: Double) -> String {
        let r = (c * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    static func duration(_ s: Double) -> String {
        if s < 60 { return String(format: "%.1f s", s) }
        let t = Int(s.rounded())
        if t < 3600 { return "\(t / 60) min \(String(format: "%02d", t % 60)) s" }
        return "\(t / 3600) h \(String(format: "%02d", (t % 3600) / 60)) min"
    }

    static func coordinatorCell(_ c: StudyEntry.Coordinator?) -> String {
        guard let c else { return "<span class=\"meta\">none</span>" }
        let age = c.heartbeatAgeSeconds.map { ", heartbeat \(duration($0)) ago" } ?? ""
        return c.alive ? "pid \(c.pid) on \(htmlEscape(c.host))<span class=\"meta\">\(age)</span>"
            : "<span class=\"dead\">pid \(c.pid) on \(htmlEscape(c.host)) (not running)</span>"
    }

    static func studyRow(_ s: StudyEntry) -> String {
        """
        <tr data-study="\(htmlEscape(s.name))"><td><a href="/studies/\(pathComponent(s.name))">\(htmlEscape(s.name))</a></td>\
        <td><span class="badge status-\(htmlEscape(s.status))">\(htmlEscape(s.status))</span></td>\
        <td>\(bar(s.runsDone, s.runsTotal))</td><td>\(trialsBar(s))</td>\
        <td class="num">\(s.running)</td><td class="num">\(s.failed)</td><td>\(coordinatorCell(s.coordinator))</td></tr>
        """
    }

    static let studyListHeader = "<tr><th>study</th><th>status</th><th>runs done</th><th>trials done</th><th class=\"num\">running</th><th class=\"num\">failed</th><th>coordinator</th></tr>"

    // MARK: The study list (/)

    static func index(_ list: StudyList) -> String {
        let rows = list.studies.map(studyRow).joined(separator: "\n")
        let body = """
        <h1>Studies</h1>
        <p class="meta">Every study in the ledger; the table refreshes every 2 s.</p>
        <table class="dash" id="studies"><thead>\(studyListHeader)</thead>
        <tbody>\(rows)</tbody></table>
        <p id="no-studies" class="empty"\(list.studies.isEmpty ? "" : " hidden")>No studies in this ledger yet: launch one with <code>mergetune study launch SPEC --ledger \(htmlEscape(list.ledger))</code>.</p>
        """
        let script = commonScript + """

        function coord(c) {
          if (!c) return '<span class="meta">none</span>';
          const age = c.heartbeatAgeSeconds != null ? ', heartbeat ' + dur(c.heartbeatAgeSeconds) + ' ago' : '';
          return c.alive ? 'pid ' + c.pid + ' on ' + esc(c.host) + '<span class="meta">' + age + '</span>'
                         : '<span class="dead">pid ' + c.pid + ' on ' + esc(c.host) + ' (not running)</span>';
        }
        async function refresh() {
          try {
            const list = await getJSON('/api/studies');
            document.querySelector('#studies tbody').innerHTML = list.studies.map(s =>
              '<tr data-study="' + esc(s.name) + '"><td><a href="/studies/' + encodeURIComponent(s.name) + '">' + esc(s.name) + '</a></td>' +
              '<td><span class="badge status-' + esc(s.status) + '">' + esc(s.status) + '</span></td>' +
              '<td>' + bar(s.runsDone, s.runsTotal) + '</td><td>' + trialsBar(s) + '</td>' +
              '<td class="num">' + s.running + '</td><td class="num">' + s.failed + '</td><td>' + coord(s.coordinator) + '</td></tr>').join('');
            document.getElementById('no-studies').hidden = list.studies.length > 0;
            setConn(true, 'updated ' + new Date().toLocaleTimeString());
          } catch (e) { setConn(false, 'not updated: ' + e.message); }
        }
        setInterval(refresh, 2000);
        refresh();
        """
        return page(title: "Studies", ledger: list.ledger, body: body, script: script)
    }

    // MARK: A study's live report (/studies/NAME)

    static func runningRows(_ r: RunningTrials) -> String {
        r.running.map { t in
            """
            <tr data-trial="\(t.trialId)"><td class="num">\(t.run)</td><td>\(htmlEscape(t.objective))</td><td>\(htmlEscape(t.optimizer))</td>\
            <td class="num">\(t.seed)</td><td class="num">\(t.trial)</td><td class="num">\(t.attempt)</td><td>\(htmlEscape(t.executor))</td>\
            <td class="num">\(t.slot.map(String.init) ?? "–")</td><td>\(htmlEscape(t.host ?? "–"))</td><td>\(htmlEscape(t.job ?? "–"))</td>\
            <td class="num elapsed" data-elapsed="\(t.elapsedSeconds)">\(duration(t.elapsedSeconds))</td></tr>
            """
        }.joined(separator: "\n")
    }

    static func headline(_ s: StudyEntry) -> String {
        """
        <div class="summary-line" id="headline">
        <div><div class="k">status</div><span class="badge status-\(htmlEscape(s.status))" id="status">\(htmlEscape(s.status))</span></div>
        <div><div class="k">runs done</div><span id="runs">\(bar(s.runsDone, s.runsTotal))</span></div>
        <div><div class="k">trials done</div><span id="trials">\(trialsBar(s))</span></div>
        <div><div class="k">running · waiting · failed</div><span id="counts">\(s.running) · \(s.waiting) · \(s.failed)</span></div>
        <div><div class="k">coordinator</div><span id="coordinator">\(coordinatorCell(s.coordinator))</span></div>
        </div>
        """
    }

    static func sectionHTML(_ s: DashboardSection) -> String {
        "<section class=\"report\" id=\"section-\(htmlEscape(s.id))\" data-section=\"\(htmlEscape(s.id))\"><h2>\(htmlEscape(s.title))</h2><div class=\"section-body\">\(s.html)</div></section>"
    }

    static func study(_ entry: StudyEntry, running: RunningTrials, sections: SectionList, ledger: String, reportStyle: String = "") -> String {
        let name = entry.name
        let body = """
        <p class="meta"><a href="/">all studies</a></p>
        <h1 id="study-name">\(htmlEscape(name))</h1>
        \(headline(entry))
        <h2>Running trials</h2>
        <table class="dash" id="running"><thead><tr><th class="num">run</th><th>objective</th><th>optimizer</th><th class="num">seed</th>\
        <th class="num">trial</th><th class="num">attempt</th><th>executor</th><th class="num">slot</th><th>host</th><th>job</th><th class="num">elapsed</th></tr></thead>
        <tbody>\(runningRows(running))</tbody></table>
        <p id="no-running" class="empty"\(running.running.isEmpty ? "" : " hidden")>No trial is running.</p>
        <div id="sections" data-version="\(htmlEscape(sections.version))">
        \(sections.sections.map(sectionHTML).joined(separator: "\n"))
        </div>
        """
        let api = "/api/studies/" + pathComponent(name)
        let script = commonScript + """

        const api = \(jsString(api));
        let version = document.getElementById('sections').dataset.version;
        let fetchedAt = Date.now();
        function coord(c) {
          if (!c) return '<span class="meta">none</span>';
          const age = c.heartbeatAgeSeconds != null ? ', heartbeat ' + dur(c.heartbeatAgeSeconds) + ' ago' : '';
          return c.alive ? 'pid ' + c.pid + ' on ' + esc(c.host) + '<span class="meta">' + age + '</span>'
                         : '<span class="dead">pid ' + c.pid + ' on ' + esc(c.host) + ' (not running)</span>';
        }
        function tick() {
          const dt = (Date.now() - fetchedAt) / 1000;
          for (const td of document.querySelectorAll('#running td.elapsed')) td.textContent = dur(Number(td.dataset.elapsed) + dt);
        }
        let sectionsAt = Date.now();
        async function refreshSections() {
          sectionsAt = Date.now();
          const list = await getJSON(api + '/sections');
          const box = document.getElementById('sections');
          // Keep what the reader chose (e.g. a landscape's seed) across the refresh.
          const checked = Array.from(box.querySelectorAll('input:checked')).map(i => i.id).filter(Boolean);
          for (const s of list.sections) {
            let el = document.getElementById('section-' + s.id);
            if (!el) {
              el = document.createElement('section');
              el.className = 'report'; el.id = 'section-' + s.id; el.dataset.section = s.id;
              el.innerHTML = '<h2></h2><div class="section-body"></div>';
              box.appendChild(el);
            }
            el.querySelector('h2').textContent = s.title;
            el.querySelector('.section-body').innerHTML = s.html;
          }
          for (const id of checked) { const i = document.getElementById(id); if (i) i.checked = true; }
          version = list.version;
          box.dataset.version = version;
          // An answer from an older ledger state (a newer one is being computed): ask again soon.
          if (list.stale) setTimeout(() => refreshSections().catch(() => {}), 2000);
        }
        async function refresh() {
          try {
            const [s, r] = await Promise.all([getJSON(api), getJSON(api + '/running')]);
            const st = document.getElementById('status');
            st.textContent = s.status; st.className = 'badge status-' + s.status;
            document.getElementById('runs').innerHTML = bar(s.runsDone, s.runsTotal);
            document.getElementById('trials').innerHTML = trialsBar(s);
            document.getElementById('counts').textContent = s.running + ' · ' + s.waiting + ' · ' + s.failed;
            document.getElementById('coordinator').innerHTML = coord(s.coordinator);
            document.querySelector('#running tbody').innerHTML = r.running.map(t =>
              '<tr data-trial="' + t.trialId + '"><td class="num">' + t.run + '</td><td>' + esc(t.objective) + '</td><td>' + esc(t.optimizer) + '</td>' +
              '<td class="num">' + t.seed + '</td><td class="num">' + t.trial + '</td><td class="num">' + t.attempt + '</td><td>' + esc(t.executor) + '</td>' +
              '<td class="num">' + (t.slot == null ? '–' : t.slot) + '</td><td>' + esc(t.host || '–') + '</td><td>' + esc(t.job || '–') + '</td>' +
              '<td class="num elapsed" data-elapsed="' + t.elapsedSeconds + '">' + dur(t.elapsedSeconds) + '</td></tr>').join('');
            document.getElementById('no-running').hidden = r.running.length > 0;
            fetchedAt = Date.now();
            // The report only changes with the ledger: fetch it again when the progress moved.
            // At most every 5 s while trials finish (a large report is megabytes), at once when the status changes.
            const key = s.status + '/' + s.trialsDone + '/' + s.runsDone;
            const old = document.body.dataset.progress;
            if (key !== old && (Date.now() - sectionsAt > 5000 || old.split('/')[0] !== s.status)) {
              await refreshSections();
              document.body.dataset.progress = key;
            }
            setConn(true, 'updated ' + new Date().toLocaleTimeString());
          } catch (e) { setConn(false, 'not updated: ' + e.message); }
        }
        document.body.dataset.progress = \(jsString("\(entry.status)/\(entry.trialsDone)/\(entry.runsDone)"));
        setInterval(refresh, 2000);
        setInterval(tick, 1000);
        refresh();
        """
        return page(title: name, ledger: ledger, body: body, script: script, extraStyle: reportStyle)
    }

    // MARK: Failures

    static func failure(_ f: DashboardFailure, ledger: String) -> String {
        let body = """
        <h1>\(htmlEscape(f.title))</h1>
        <div class="notice\(f.transient ? "" : " error")" id="failure" data-kind="\(f.kind)">
        <p>\(htmlEscape(f.description))</p>
        <p class="meta">Ledger: <code>\(htmlEscape(ledger))</code> · HTTP \(f.status)</p>
        </div>
        """
        return page(title: f.title, ledger: ledger, body: body, refresh: f.transient ? 5 : nil)
    }

    static func notFound(_ path: String, ledger: String) -> String {
        page(title: "Not found", ledger: ledger, body: """
        <h1>Not found</h1><div class="notice error" id="failure" data-kind="not_found"><p>Nothing at <code>\(htmlEscape(path))</code>. \
        The study list is at <a href="/">/</a>; the JSON API is described in docs/dashboard.md.</p></div>
        """)
    }

    /// A JavaScript string literal (JSON is a subset), safe inside a <script> element.
    static func jsString(_ s: String) -> String {
        let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "</", with: "<\\/")
    }
}
