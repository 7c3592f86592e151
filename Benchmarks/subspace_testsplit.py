#!/usr/bin/env python3
"""The chosen merges of Studies/testbed-subspace.toml on the test split (docs/results.md, "Subspace gates (FRISM)").

Each gp run's best trial is merged to an f32 checkpoint with the built `mergetune merge` (f32: the
weights equal the in-memory merge's, so the validation column reproduces the ledger) and scored
by `mergetune testbed eval --checkpoint` on both splits, beside FRANK.

    OPENBLAS_NUM_THREADS=1 python3 Benchmarks/subspace_testsplit.py > Benchmarks/results/subspace/test-split.md
"""
import csv, json, subprocess, sys
B = ".build/debug/mergetune"
M = "Testbed/models"
triple = ["--base", f"{M}/base", "--vlm", f"{M}/vlm", "--expert", f"{M}/expert-language"]
# The best trial of every gp run of Benchmarks/results/subspace/trials.csv (ta-target and the subspace objectives).
rows_csv = list(csv.DictReader(open("Benchmarks/results/subspace/trials.csv")))
best = {}
for r in rows_csv:
    if r["state"] != "COMPLETE" or r["optimizer"] != "gp":
        continue
    key = (r["objective"], r["seed"])
    if key not in best or float(r["value"]) > float(best[key]["value"]):
        best[key] = r
points = [{"objective": o, "seed": s, "params": json.loads(r["params"])} for (o, s), r in sorted(best.items())]
def score(ck, split):
    out = subprocess.run([B, "testbed", "eval", "--scenario", "language", "--split", split, "--checkpoint", ck],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return json.loads(out)
rows = []
def run(label, merge_args):
    ck = f"/tmp/mergetune-subspace-bench/ck-{len(rows)}"
    subprocess.run(["rm", "-rf", ck], check=True)
    subprocess.run([B, "merge"] + triple + merge_args + ["--dtype", "f32", "--svd-cache", "/tmp/mergetune-subspace-bench/svd", "-o", ck],
                   capture_output=True, text=True, check=True)
    v, t = score(ck, "validation"), score(ck, "test")
    rows.append((label, v, t))
    print(f"| {label} | {v['target']:.4f} | {t['target']:.4f} | {v['perception']:.4f} | {t['perception']:.4f} | {t['target_exact']:.4f} | {t['perception_exact']:.4f} |", flush=True)
print("| merge | target (val) | target (test) | perception (val) | perception (test) | target exact (test) | perception exact (test) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
run("FRANK", ["--method", "frank"])
ta = [p for p in points if p["objective"] == "ta-target"]
for p in ta:
    run(f"TA gp seed {p['seed']} (λ_V {p['params']['vl_weight']:.3f}, λ_R {p['params']['exp_weight']:.3f})",
        ["--method", "task_arithmetic", "--vl-weight", repr(p["params"]["vl_weight"]), "--exp-weight", repr(p["params"]["exp_weight"])])
for p in points:
    g = p["params"]
    if "gate_0" not in g:
        continue
    gates = ",".join(repr(g[k]) for k in ("gate_0", "gate_1", "gate_2", "gate_res"))
    lam = g.get("exp_weight", 1.0)
    run(f"{p['objective']} gp seed {p['seed']} (gates {', '.join(f'{g[k]:.2f}' for k in ('gate_0','gate_1','gate_2','gate_res'))}; λ_R {lam:.3f})",
        ["--method", "subspace", "--bands", "2,8,24", "--gates", gates, "--exp-weight", repr(lam)])
