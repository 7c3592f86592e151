#!/usr/bin/env bash
# Merge benchmark: wall time and peak RSS of mergetune's merge (release build) for
# task_arithmetic, ties, dare_ties and frank on a generated bf16 triple, against the I/O
# floor (cold read of the three inputs + writing one output with fsync) and mergekit.
#
#   python3 Benchmarks/gen_triple.py --preset 1b --out /tmp/mt-bench     # ~6.6 GB, not committed
#   swift build -c release --product mergetune-bench
#   bash Benchmarks/fusion_bench.sh /tmp/mt-bench [runs] [mergekit-methods]
#
# Inputs are evicted from the page cache (posix_fadvise DONTNEED) before every run, so
# every run reads cold. Results: one JSON line per run in Benchmarks/results/, plus the
# `/usr/bin/time -v` peak RSS. mergekit (optional) runs from .venv with the same inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:?triple directory}"
RUNS="${2:-1}"
MK_METHODS="${3:-}"        # e.g. "task_arithmetic ties dare_ties" (slow: minutes each)
BENCH=.build/release/mergetune-bench
OUT="$DIR/out"
RES=Benchmarks/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl
mkdir -p Benchmarks/results
echo "# $(uname -srm), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RES"

timed() {  # label, command...: prints the command's JSON line with the peak RSS from time -v
    local label=$1; shift
    local tv; tv=$(mktemp)
    local line; line=$(/usr/bin/time -v "$@" 2>"$tv" | tail -1)
    local rss; rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
    local wall; wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tv")
    echo "{\"label\":\"$label\",\"time_v_max_rss_kb\":$rss,\"time_v_wall\":\"$wall\",\"result\":${line:-null}}" | tee -a "$RES"
    rm -f "$tv"
}

for run in $(seq 1 "$RUNS"); do
    timed floor $BENCH fusion --base "$DIR/base" --vlm "$DIR/vlm" --expert "$DIR/expert" --floor -o "$DIR/floor.bin"
    rm -f "$DIR/floor.bin"
    for m in task_arithmetic ties dare_ties frank; do
        timed "mergetune-$m" $BENCH fusion --base "$DIR/base" --vlm "$DIR/vlm" --expert "$DIR/expert" \
            --method-name "$m" --density 0.5 -o "$OUT"
        rm -rf "$OUT"
    done
done

for m in $MK_METHODS; do
    cfg=$(mktemp --suffix=.yml)
    dens=""
    [ "$m" != task_arithmetic ] && dens=", density: 0.5"
    cat > "$cfg" <<YML
merge_method: $m
base_model: $DIR/base
models:
  - model: $DIR/vlm
    parameters: {weight: 1.0$dens}
  - model: $DIR/expert
    parameters: {weight: 1.0$dens}
dtype: bfloat16
YML
    python3 - "$DIR" <<'PY'
import os, sys
for m in ("base", "vlm", "expert"):
    d = os.path.join(sys.argv[1], m)
    for f in os.listdir(d):
        fd = os.open(os.path.join(d, f), os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
PY
    tv=$(mktemp)
    start=$(date +%s.%N)
    /usr/bin/time -v .venv/bin/mergekit-yaml "$cfg" "$DIR/mk-out" --no-copy-tokenizer >/dev/null 2>"$tv" || true
    end=$(date +%s.%N)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
    echo "{\"label\":\"mergekit-$m\",\"wall_s\":$(echo "$end - $start" | bc),\"time_v_max_rss_kb\":${rss:-null}}" | tee -a "$RES"
    rm -rf "$DIR/mk-out" "$cfg" "$tv"
done
echo "results in $RES"
