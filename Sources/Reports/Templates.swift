import Foundation
import Mustache

/// The report's Mustache templates ({{x}} escapes HTML, {{{x}}} inserts markup built and
/// escaped by the Charts module or by another template). Parsed once; a template that does not
/// parse is a programming error that every report test would show.
enum Templates {
    static func make(_ text: String) -> MustacheTemplate {
        do { return try MustacheTemplate(string: text) } catch { fatalError("report template does not parse: \(error)\n\(text)") }
    }

    static let page = make("""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="mergetune study report">
        <title>{{title}}</title>
        <style>{{{css}}}</style>
        </head>
        <body>
        <header>
        <h1>Study {{study}}</h1>
        {{#description}}<p class="description">{{description}}</p>{{/description}}
        <p class="meta">{{status}} · {{runsDone}} / {{runsTotal}} runs done · ledger <code>{{ledger}}</code> · written {{generated}} by <code>mergetune study report</code></p>
        <nav>{{#sections}}<a href="#{{id}}">{{title}}</a> {{/sections}}</nav>
        </header>
        <main>
        {{#sections}}
        <section id="{{id}}" data-section="{{id}}">
        <h2>{{title}}</h2>
        {{{html}}}
        </section>
        {{/sections}}
        </main>
        </body>
        </html>

        """)

    static let figure = make("""
        <figure class="chart-figure"{{{attributes}}}>{{{svg}}}<figcaption>{{caption}}</figcaption></figure>
        """)

    static let overview = make("""
        <p class="lead">{{objectives}} objectives, {{optimizers}} optimizers, {{trials}} finished trials.{{#hasBaseline}} RoR divides by <strong>{{baseline}}</strong>.{{/hasBaseline}}</p>
        <table class="numbers" data-table="overall">
        <thead><tr><th>optimizer</th><th>objectives</th><th>mean RoR</th><th>median RoR</th></tr></thead>
        <tbody>
        {{#rows}}<tr data-optimizer="{{optimizer}}"{{#baseline}} class="baseline"{{/baseline}}><td>{{optimizer}}</td><td>{{objectives}}</td><td>{{mean}}</td><td>{{median}}</td></tr>
        {{/rows}}
        </tbody>
        </table>
        {{#hasNotes}}<h3>Notes</h3>{{/hasNotes}}
        <ul class="notes">{{#notes}}<li>{{.}}</li>{{/notes}}</ul>
        """)

    static let referenceTable = make("""
        <details class="numbers"><summary>{{objective}}: final regret and evaluations to beat each reference</summary>
        <table class="numbers" data-table="finals" data-objective="{{objective}}">
        <thead><tr><th>optimizer</th><th>runs</th><th>mean final regret</th><th>median final regret</th><th>RoR</th></tr></thead>
        <tbody>{{#finals}}<tr><td>{{optimizer}}</td><td>{{runs}}</td><td>{{mean}}</td><td>{{median}}</td><td>{{ror}}</td></tr>
        {{/finals}}</tbody></table>
        <table class="numbers" data-table="references" data-objective="{{objective}}">
        <thead><tr><th>reference</th><th>score</th><th>regret</th>{{#optimizers}}<th>{{name}}</th>{{/optimizers}}</tr></thead>
        <tbody>{{#rows}}<tr><td>{{method}}</td><td>{{value}}</td><td>{{regret}}</td>{{#cells}}<td>{{text}}</td>{{/cells}}</tr>
        {{/rows}}</tbody></table>
        <p class="note">Evaluations to beat: the median over seeds of the first n whose best score exceeds the reference's ("never": more than half of the seeds did not within the budget).{{#byCost}} This objective has fidelities: "cost c" is the median over seeds of the cost spent, in full-fidelity evaluations, up to the first full-fidelity trial that beats it (the budget is in cost, not trials).{{/byCost}}</p>
        </details>
        """)

    static let failures = make("""
        <h3>Failures</h3>
        {{^any}}<p class="note">No failed attempts.</p>{{/any}}
        {{#any}}
        <table class="numbers" data-table="failure-counts"><thead><tr><th>reason</th><th>failed attempts</th></tr></thead>
        <tbody>{{#counts}}<tr><td>{{reason}}</td><td>{{count}}</td></tr>{{/counts}}</tbody></table>
        <table class="numbers failures" data-table="failures">
        <thead><tr><th>objective</th><th>optimizer</th><th>seed</th><th>n</th><th>attempt</th><th>reason</th><th>trial</th><th>detail</th></tr></thead>
        <tbody>{{#rows}}<tr><td>{{objective}}</td><td>{{optimizer}}</td><td>{{seed}}</td><td>{{n}}</td><td>{{attempt}}</td><td>{{reason}}</td><td>{{final}}</td><td class="detail">{{detail}}</td></tr>
        {{/rows}}</tbody></table>
        {{#more}}<p class="note">{{more}}</p>{{/more}}
        {{/any}}
        """)

    static let layerTable = make("""
        <table class="numbers" data-table="layers">
        <thead><tr><th>method (λ_V / λ_R)</th>{{#layers}}<th>layer {{l}}</th>{{/layers}}<th>other tensors</th></tr></thead>
        <tbody>{{#rows}}<tr><td>{{method}}</td>{{#cells}}<td>{{text}}</td>{{/cells}}<td>{{other}}</td></tr>
        {{/rows}}</tbody></table>
        """)
}

/// The page's stylesheet: readable on screen, figures kept whole on paper.
let pageCSS = """
    :root { color-scheme: light; }
    body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1180px; padding: 0 20px 40px; color: #222; line-height: 1.45; }
    header { border-bottom: 1px solid #ddd; margin-bottom: 8px; }
    h1 { font-size: 1.6em; margin: 18px 0 4px; }
    h2 { font-size: 1.25em; border-bottom: 1px solid #eee; padding-bottom: 3px; margin-top: 32px; }
    h3 { font-size: 1.05em; }
    nav a { margin-right: 12px; }
    .meta, .note, figcaption { color: #555; font-size: 0.9em; }
    .lead { max-width: 62em; }
    figure.chart-figure { margin: 14px 0 18px; display: block; }
    figure.chart-figure svg { max-width: 100%; height: auto; margin-right: 8px; vertical-align: top; }
    table.numbers { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.9em; font-variant-numeric: tabular-nums; }
    table.numbers th, table.numbers td { border-bottom: 1px solid #e5e5e5; padding: 3px 10px; text-align: right; }
    table.numbers th:first-child, table.numbers td:first-child { text-align: left; }
    tr.baseline td { color: #666; }
    td.detail { text-align: left; max-width: 34em; overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: 0.85em; }
    details.numbers { margin: 0 0 18px; }
    .seed-switch { margin-top: 10px; }
    .seed-switch > span { color: #555; margin-right: 6px; font-size: 0.9em; }
    .seed-switch > input { position: absolute; opacity: 0; width: 1px; height: 1px; }
    .seed-switch > label { display: inline-block; border: 1px solid #bbb; border-radius: 3px; padding: 0 6px; margin: 0 2px 4px 0; cursor: pointer; font-size: 0.85em; }
    .seed-switch > input:checked + label { background: #333; color: #fff; border-color: #333; }
    .seed-switch > input:focus-visible + label { outline: 2px solid #0072B2; }
    @media print {
      body { max-width: none; padding: 0; }
      nav, .seed-switch > input, .seed-switch > label, .seed-switch > span { display: none; }
      figure.chart-figure, table.numbers { break-inside: avoid; }
      details.numbers > * { display: block; }
      h2 { break-after: avoid; }
    }

    """
