#!/usr/bin/env bash
# Surrogate kinds (rbf, rbf_loo, gp) against the live testbed: the real score at each
# surrogate's maximizer and the optimizers' rank agreement (docs/surrogate.md, "Fidelity
# against the testbed"; results in docs/results.md). Run from the repository root.
#   bash Benchmarks/surrogate_fidelity.sh [SEEDS] [OUTDIR]
set -euo pipefail
seeds="${1:-5}"
out="${2:-Benchmarks/results}"
mkdir -p "$out"
swift build -c release --product mergetune-bench
/usr/bin/time -v .build/release/mergetune-bench surrogate-fidelity --seeds "$seeds" \
    --runs-csv "$out/surrogate-fidelity-runs.csv" \
    > "$out/surrogate-fidelity.txt" 2> "$out/surrogate-fidelity.log"
cat "$out/surrogate-fidelity.txt"
grep -E "Elapsed|User time|System time" "$out/surrogate-fidelity.log"
