#!/usr/bin/env python3
"""Markdown tables for docs/results.md ("Multi-objective") from
`mergetune study summary testbed-pareto --format json`.
Usage: python3 scripts/pareto-tables.py SUMMARY.json"""
import json, sys

s = json.load(open(sys.argv[1]))
f = lambda x, d=4: "–" if x is None else f"{x:.{d}f}"
objs = [o for o in s["objectives"] if o.get("multiObjective")]

print("\n#### Final hypervolume (mean ± sd over seeds; in parentheses: share of the study front's hypervolume; front size)\n")
opts = [x["optimizer"] for x in objs[0]["multiObjective"]["optimizers"]]
print("| objective | budget | reference point (target, perception) | study front HV | " + " | ".join(opts) + " |")
print("| --- | --- | --- | --- |" + " --- |" * len(opts))
for o in objs:
    m = o["multiObjective"]
    hv = m["studyHypervolume"]
    cells = []
    for x in m["optimizers"]:
        share = None if x["finalHypervolumeMean"] is None or hv == 0 else x["finalHypervolumeMean"] / hv
        cells.append(f"{f(x['finalHypervolumeMean'])} ± {f(x['finalHypervolumeSD'])} ({f(share, 2)}; {f(x['frontSizeMean'], 1)}) n={x['runs']}")
    rp = ", ".join(f(v, 3) for v in m["referencePoint"])
    print(f"| {o['name']} | {o['budget']} | ({rp}) | {f(hv)} ({len(m['front'])} trials) | " + " | ".join(cells) + " |")

print("\n#### The closed forms and parents against the study front (ε: gain needed in both metrics to reach the front)\n")
refs = [r["method"] for r in objs[0]["multiObjective"]["references"]]
print("| objective | " + " | ".join(refs) + " |")
print("| --- |" + " --- |" * len(refs))
for o in objs:
    by = {r["method"]: r for r in o["multiObjective"]["references"]}
    cells = []
    for n in refs:
        r = by.get(n)
        if not r or r["metrics"] is None: cells.append("–"); continue
        t, p = r["metrics"][:2]
        cells.append(f"({t:.3f}, {p:.3f}) {'dominated' if r['dominated'] else '**on/beyond**'}, ε {r['epsilon']:.3f}")
    print(f"| {o['name']} | " + " | ".join(cells) + " |")

print("\n#### The study fronts (target, perception; coefficients), thinned to at most 6 points\n")
for o in objs:
    fr = o["multiObjective"]["front"]
    step = max(1, (len(fr) + 5) // 6)
    pts = fr[::step] + ([fr[-1]] if (len(fr) - 1) % step else [])
    cells = []
    for p in pts:
        coef = ", ".join(f"{k} {v:.2f}" for k, v in sorted(p["params"].items()))
        cells.append(f"({p['metrics'][0]:.3f}, {p['metrics'][1]:.3f}) at {coef} [{p['optimizer']}]")
    print(f"- **{o['name']}** ({len(fr)} trials): " + "; ".join(cells))
