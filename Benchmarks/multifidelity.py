#!/usr/bin/env python3
"""Final regret at full fidelity per cost budget, from a study's curves export.

Reads the CSV of `mergetune study export NAME --curves FILE` (with the fidelity and cost columns
a study with fidelities has) and prints, per objective, optimizer and cost budget C (in
full-fidelity evaluations), the mean, sd, median and count over seeds of the regret after the
trials whose cumulative cost is at most C (regret is at full fidelity only: docs/studies.md,
"Fidelities"). Also writes the per-run rows to --runs-csv. Standard library only.

    python3 Benchmarks/multifidelity.py curves.csv --budgets 5,10,20 --runs-csv runs.csv
"""
import argparse, csv, math, statistics
from collections import defaultdict

p = argparse.ArgumentParser()
p.add_argument("curves")
p.add_argument("--budgets", default="5,10,20")
p.add_argument("--runs-csv")
a = p.parse_args()
budgets = [float(b) for b in a.budgets.split(",")]

runs = defaultdict(list)  # (objective, optimizer, seed) -> [(cost, regret)]
for row in csv.DictReader(open(a.curves)):
    cost = float(row["cost"]) if row.get("cost") else float(row["n"])
    runs[(row["objective"], row["optimizer"], int(row["seed"]))].append((cost, float(row["regret"])))

def regret_at(points, c):
    r = 1.0
    for cost, regret in points:
        if cost <= c + 1e-9:
            r = regret
    return r

rows = []
for (obj, opt, seed), points in sorted(runs.items()):
    points.sort()
    for c in budgets:
        if points[-1][0] < c - 1e-9:
            continue  # the run did not spend this much (unfinished)
        rows.append((obj, opt, seed, c, regret_at(points, c), len([x for x in points if x[0] <= c + 1e-9])))

if a.runs_csv:
    with open(a.runs_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["objective", "optimizer", "seed", "cost_budget", "regret", "trials"])
        for r in rows:
            w.writerow([r[0], r[1], r[2], f"{r[3]:g}", repr(r[4]), r[5]])

groups = defaultdict(list)
trials = defaultdict(list)
for obj, opt, seed, c, r, n in rows:
    groups[(obj, opt, c)].append(r)
    trials[(obj, opt, c)].append(n)
print("| objective | optimizer | cost budget | seeds | mean regret | sd | median | mean trials |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for (obj, opt, c), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
    sd = statistics.stdev(rs) if len(rs) > 1 else float("nan")
    print(f"| {obj} | {opt} | {c:g} | {len(rs)} | {statistics.mean(rs):.4f} | {sd:.4f} | {statistics.median(rs):.4f} | {statistics.mean(trials[(obj, opt, c)]):.1f} |")
