#!/usr/bin/env bash
# Validation-vs-test agreement of the measured landscapes (docs/results.md, as Skill-Injection
# Appendix H): re-measures each landscape's grid on the test split (400 examples per task) with
# the same ranges, then compares, per landscape, the validation-best grid point's test score
# with the best test grid point. Usage: bash scripts/validation-vs-test.sh [OUTDIR] (default /tmp/vt).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/tmp/vt}"
BIN="${BIN:-.build/release/mergetune}"
mkdir -p "$OUT"
grid() {  # name scenario method vl-range exp-range [objective] [metric]
  local f="$OUT/testbed-$1.csv"
  [ -s "$f" ] || "$BIN" testbed grid --split test --scenario "$2" --method "$3" --vl-range "$4" --exp-range "$5" \
      --objective "${6:-target}" --metric "${7:-mean_logprob}" -o "$f" > "$OUT/$1.log"
}
grid language-task_arithmetic language task_arithmetic 0:4 0:2
grid language-task_arithmetic-retention language task_arithmetic 0:4 0:2 retention
grid reasoning-task_arithmetic reasoning task_arithmetic 0:2 0:2
grid reasoning-task_arithmetic-retention reasoning task_arithmetic 0:2 0:2 retention
grid language-ties language ties 0:2 0:8
grid reasoning-ties reasoning ties 0:2 0:2
grid language-dare_ties language dare_ties 0:4 0:2
grid reasoning-dare_ties reasoning dare_ties 0:4 0:2
grid language-task_arithmetic-exact_match language task_arithmetic 0:4 0:2 target exact_match
python3 - "$OUT" <<'PY'
import csv, sys, math
out = sys.argv[1]
names = ["language-task_arithmetic", "language-task_arithmetic-retention", "reasoning-task_arithmetic",
         "reasoning-task_arithmetic-retention", "language-ties", "reasoning-ties", "language-dare_ties", "reasoning-dare_ties",
         "language-task_arithmetic-exact_match"]
def load(path):
    rows, refs = [], {}
    for line in open(path):
        if line.startswith("#@reference"):
            parts = line.split()
            refs[parts[1]] = float([p for p in parts if p.startswith("score=")][0][6:])
    rdr = csv.reader(l for l in open(path) if not l.startswith("#"))
    header = next(rdr)
    for r in rdr: rows.append((tuple(r[:-1]), float(r[-1])))
    return header[:-1], dict(rows), refs
def rank(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i]); r = [0]*len(xs)
    for k, i in enumerate(order): r[i] = k
    return r
print("| landscape | best on validation | its test score | best on test | test score | test regret of the validation pick (normalized) | Spearman ρ (val, test) over the grid | frank test | frank test rank among grid points |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for n in names:
    h, val, vref = load(f"Surrogates/testbed-{n}.csv")
    _, test, tref = load(f"{out}/testbed-{n}.csv")
    pv = max(val, key=val.get); pt = max(test, key=test.get)
    lo, hi = min(test.values()), max(test.values())
    keys = sorted(val)
    a, b = rank([val[k] for k in keys]), rank([test[k] for k in keys])
    m = len(keys); rho = 1 - 6*sum((x-y)**2 for x, y in zip(a, b))/(m*(m*m-1))
    fr = tref.get("frank"); better = sum(1 for v in test.values() if v > fr)
    fmt = lambda p: " ".join(f"{k}={v}" for k, v in zip(h, p))
    print(f"| {n} | {fmt(pv)} ({val[pv]:.3f}) | {test[pv]:.3f} | {fmt(pt)} | {test[pt]:.3f} | {(test[pt]-test[pv])/(hi-lo):.3f} | {rho:.3f} | {fr:.3f} | {better} of {m} grid points beat it |")
PY
