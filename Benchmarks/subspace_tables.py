#!/usr/bin/env python3
"""Tables of Studies/testbed-subspace.toml (docs/results.md, "Subspace gates (FRISM)") from its ledger.

    python3 Benchmarks/subspace_tables.py /tmp/subspace.sqlite > Benchmarks/results/subspace/tables.md

Per (objective, optimizer): the best value after 10, 20 and 40 evaluations, mean ± sample sd
over the seeds. Per frism run: the merge its best trial chose (gates, KL, spectral) and that
merge's target and perception scores, which the trial recorded but did not optimize, against
the best task-arithmetic trial's and FRANK's (the references of the ta-target objective).
Standard library only.
"""
import json
import sqlite3
import statistics
import sys


def mean_sd(xs):
    if not xs:
        return "n/a"
    m = statistics.fmean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{m:.4f} ± {sd:.4f}"


def main(path):
    db = sqlite3.connect(path)
    objectives = {oid: name for oid, name in db.execute("select id, name from objectives")}
    runs = db.execute("select id, objective, optimizer, seed from runs order by objective, optimizer, seed").fetchall()
    trials = {}
    for run, number, value, params, extras, state in db.execute(
            "select run, number, value, params, extras, state from trials order by run, number"):
        trials.setdefault(run, []).append((number, value, json.loads(params), json.loads(extras or "{}"), state))

    print("| objective | optimizer | seeds | best@10 | best@20 | best@40 |")
    print("| --- | --- | --- | --- | --- | --- |")
    groups = {}
    for rid, oid, opt, seed in runs:
        groups.setdefault((objectives[oid], opt), []).append(rid)
    for (obj, opt), rids in groups.items():
        cells = []
        for n in (10, 20, 40):
            bests = []
            for r in rids:
                vals = [v for (k, v, _, _, s) in trials.get(r, []) if k <= n and s == "COMPLETE" and v is not None]
                if vals:
                    bests.append(max(vals))
            cells.append(mean_sd(bests))
        print(f"| {obj} | {opt} | {len(rids)} | " + " | ".join(cells) + " |")

    # The best target-scored trial of each target objective, over all its runs.
    print()
    print("| merge | target (mean log-prob) | perception | −KL | spectral |")
    print("| --- | --- | --- | --- | --- |")
    for oid, name in objectives.items():
        for method, value, extras in db.execute(
                'select method, value, extras from "references" where objective = ?', (oid,)):
            if name == "ta-target":
                x = json.loads(extras or "{}")
                print(f"| reference {method} | {x.get('target', float('nan')):.4f} | {x.get('perception', float('nan')):.4f} | "
                      f"{x.get('neg_kl', float('nan')):.4f} | – |")
    for target_obj in ("ta-target", "subspace-target"):
        best = None
        for rid, oid, opt, seed in runs:
            if objectives[oid] != target_obj:
                continue
            for (k, v, p, x, s) in trials.get(rid, []):
                if s == "COMPLETE" and v is not None and (best is None or v > best[0]):
                    best = (v, p, x, opt, seed, k)
        if best:
            v, p, x, opt, seed, k = best
            params = ", ".join(f"{a} = {b:.3f}" for a, b in sorted(p.items()))
            sp = f"{x['spectral']:.4f}" if "spectral" in x else "–"
            print(f"| best {target_obj} ({opt}, seed {seed}, trial {k}: {params}) | {x['target']:.4f} | {x['perception']:.4f} | "
                  f"{x['neg_kl']:.4f} | {sp} |")

    print()
    print("| frism objective | optimizer | seed | frism score | gates (0, 1, 2, res) | −KL | spectral | target | perception |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    summary = {}
    for rid, oid, opt, seed in runs:
        name = objectives[oid]
        if "frism" not in name:
            continue
        done = [t for t in trials.get(rid, []) if t[4] == "COMPLETE" and t[1] is not None]
        if not done:
            continue
        k, v, p, x, _ = max(done, key=lambda t: t[1])
        gates = ", ".join(f"{p[g]:.2f}" for g in ("gate_0", "gate_1", "gate_2", "gate_res"))
        print(f"| {name} | {opt} | {seed} | {v:.4f} | {gates} | {x['neg_kl']:.4f} | {x['spectral']:.4f} | "
              f"{x['target']:.4f} | {x['perception']:.4f} |")
        summary.setdefault((name, opt), []).append((x["target"], x["perception"]))
    print()
    print("| frism objective | optimizer | chosen merges' target | chosen merges' perception |")
    print("| --- | --- | --- | --- |")
    for (name, opt), xs in summary.items():
        print(f"| {name} | {opt} | {mean_sd([a for a, _ in xs])} | {mean_sd([b for _, b in xs])} |")


if __name__ == "__main__":
    main(sys.argv[1])
