#!/usr/bin/env bash
# Per-trial overhead of a `command` objective around the evaluator, on the shipped testbed
# family (Benchmarks/command-objective.md). Four studies of N random trials each, one slot,
# in-process executor (no worker process: what is measured is the objective's own path):
#   memory  : the in-memory `testbed` objective (merge in memory + score)      — the baseline
#   disk    : `command` + merge to disk + `mergetune testbed eval --checkpoint` — the real thing
#   merge   : `command` + merge to disk + a trivial evaluator (/bin/echo 0.5)   — merge + spawn + parse + ledger
#   spawn   : `command` without merge, trivial evaluator                        — spawn + parse + ledger
# Reports the median of the trials' recorded seconds and the wall time per trial (launch wall
# minus nothing: references included, so that is printed separately).
# Usage: Benchmarks/command_overhead.sh [N=20] [BINARY=.build/release/mergetune]
set -euo pipefail
N=${1:-20}
BIN=$(realpath "${2:-.build/release/mergetune}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
M="$ROOT/Testbed/models"
common="seeds = 1
budget = $N
[[optimizers]]
kind = \"random\"
"
merge="[objectives.merge]
base = \"$M/base\"
vlm = \"$M/vlm\"
expert = \"$M/expert-language\"
method = \"task_arithmetic\"
references = [\"vlm\"]
"
cat > "$WORK/memory.toml" <<T
name = "memory"
$common
[[objectives]]
kind = "testbed"
scenario = "language"
directory = "$ROOT/Testbed"
T
cat > "$WORK/disk.toml" <<T
name = "disk"
$common
[[objectives]]
kind = "command"
command = ["$BIN", "testbed", "eval", "--checkpoint", "{checkpoint}", "--scenario", "language", "--testbed", "$ROOT/Testbed"]
score = "stdout"
bounds = { vl_weight = [0, 2], exp_weight = [0, 2] }
$merge
T
cat > "$WORK/merge.toml" <<T
name = "merge"
$common
[[objectives]]
kind = "command"
command = ["/bin/echo", "0.5"]
score = "stdout"
bounds = { vl_weight = [0, 2], exp_weight = [0, 2] }
$merge
T
cat > "$WORK/spawn.toml" <<T
name = "spawn"
$common
[[objectives]]
kind = "command"
command = ["/bin/echo", "0.5"]
score = "stdout"
bounds = { vl_weight = [0, 2], exp_weight = [0, 2] }
T
printf "%-7s %6s %14s %14s %12s\n" study trials "median s/trial" "wall s/trial" "wall s"
for s in memory disk merge spawn; do
  start=$(date +%s.%N)
  "$BIN" study launch "$WORK/$s.toml" --ledger "$WORK/$s.sqlite" > "$WORK/$s.out" 2> "$WORK/$s.err"
  end=$(date +%s.%N)
  "$BIN" study export "$s" --ledger "$WORK/$s.sqlite" --trials "$WORK/$s.csv" > /dev/null
  python3 - "$WORK/$s.csv" "$s" "$start" "$end" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert all(r["state"] == "COMPLETE" for r in rows), [r["error"] for r in rows]
secs = [float(r["seconds"]) for r in rows]
wall = float(sys.argv[4]) - float(sys.argv[3])
print(f"{sys.argv[2]:<7} {len(rows):6d} {statistics.median(secs):14.4f} {wall / len(rows):14.4f} {wall:12.2f}")
PY
done
