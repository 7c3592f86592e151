#!/usr/bin/env python3
"""Markdown tables for docs/results.md from `mergetune study summary NAME --format json`.
Usage: python3 scripts/results-tables.py SUMMARY.json"""
import json, statistics, sys

s = json.load(open(sys.argv[1]))
objs = s["objectives"]
opts = [o["optimizer"] for o in objs[0]["optimizers"]]
f = lambda x, d=3: "–" if x is None else f"{x:.{d}f}"

def ror_table(objectives, title):
    print(f"\n#### {title}\n")
    print("| landscape | " + " | ".join(opts) + " |")
    print("| --- |" + " --- |" * len(opts))
    per = {o: [] for o in opts}
    for o in objectives:
        r = {x["optimizer"]: x for x in o["optimizers"]}
        cells = []
        for n in opts:
            cells.append(f"{f(r[n]['ror'], 2)} ({f(r[n]['meanFinalRegret'])})")
            if r[n]["ror"] is not None: per[n].append(r[n]["ror"])
        print(f"| {o['name']} | " + " | ".join(cells) + " |")
    print("| **mean RoR** | " + " | ".join(f"**{f(statistics.mean(per[n]), 2)}**" for n in opts) + " |")
    print("| **median RoR** | " + " | ".join(f"**{f(statistics.median(per[n]), 2)}**" for n in opts) + " |")

surr = [o for o in objs if o["kind"] == "surrogate"]
live = [o for o in objs if o["kind"] == "testbed"]
ror_table(surr, "RoR per landscape (mean final regret in parentheses), surrogate objectives, 10 seeds")

print("\n#### Closed forms: regret and median evaluations to beat them (surrogate objectives)\n")
refs = ["frank", "frank_prior_paper", "frank_prior_max", "metagpt", "nan", "vlm", "expert"]
print("| landscape | f_max (best of surrogate) | " + " | ".join(refs) + " |")
print("| --- | --- |" + " --- |" * len(refs))
for o in surr:
    r = {x["method"]: x for x in o["references"]}
    print(f"| {o['name']} | {f(o['fMax'])} | " + " | ".join(f"{f(r[m]['value'])} ({f(r[m]['regret'])})" if m in r else "–" for m in refs) + " |")

print("\n#### Median evaluations each optimizer needs to beat FRANK (surrogate objectives; never = more than half the seeds never did)\n")
print("| landscape | budget | " + " | ".join(opts) + " |")
print("| --- | --- |" + " --- |" * len(opts))
for o in surr + live:
    fr = next(x for x in o["references"] if x["method"] == "frank")
    e = fr["evaluationsToBeat"]
    print(f"| {o['name']}{' (live)' if o['kind']=='testbed' else ''} | {o['budget']} | " + " | ".join("never" if e.get(n) is None else str(e[n]) for n in opts) + " |")

print("\n#### Sum-to-one (λ_V + λ_R = 1 and the ±0.1 band) against the whole box\n")
print("| landscape | global best | best on the line | relative regret % | normalized | best in band | relative regret % | normalized | line point |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for o in surr:
    a = o.get("sumToOne")
    if not a: continue
    lp = " ".join(f"{k}={v:.2f}" for k, v in sorted(a["lineParams"].items()))
    print(f"| {o['name']} | {f(a['globalBest'])} | {f(a['lineBest'])} | {f(a['lineRelativeRegretPercent'],1)} | {f(a['lineNormalizedRegret'])} | {f(a['bandBest'])} | {f(a['bandRelativeRegretPercent'],1)} | {f(a['bandNormalizedRegret'])} | {lp} |")

if live:
    name = live[0]["name"].replace("live-", "")
    pair = [o for o in surr if o["name"] == name] + live
    print(f"\n#### Live vs surrogate on {name}\n")
    print("| objective | kind | seeds | f_min | f_max | " + " | ".join(f"{n} r(N) / RoR" for n in opts) + " |")
    print("| --- | --- | --- | --- | --- |" + " --- |" * len(opts))
    for o in pair:
        r = {x["optimizer"]: x for x in o["optimizers"]}
        print(f"| {o['name']} | {o['kind']} | {r[opts[0]]['runs']} | {f(o['fMin'])} | {f(o['fMax'])} | " + " | ".join(f"{f(r[n]['meanFinalRegret'])} / {f(r[n]['ror'],2)}" for n in opts) + " |")
    for o in live:
        print(f"\nlive references ({o['name']}): " + ", ".join(f"{x['method']} {f(x['value'])}" for x in o["references"]))
