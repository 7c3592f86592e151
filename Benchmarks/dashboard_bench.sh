#!/usr/bin/env bash
# Times every page and API route of `mergetune serve` on a 100,000-trial ledger
# (Benchmarks/dashboard.md). Usage: bash Benchmarks/dashboard_bench.sh [LEDGER] [REPEATS]
# Without LEDGER it makes one with `mergetune-bench report` (the report's benchmark ledger: a
# quickstart-shaped study, 6 optimizers x 4 landscapes x 10 seeds, filled with 100,000 trials).
set -euo pipefail
cd "$(dirname "$0")/.."
ledger="${1:-}"
repeats="${2:-10}"
bin=.build/release/mergetune
[ -x "$bin" ] || swift build -c release --product mergetune
work="$(mktemp -d)"
serve_pid=""
trap 'kill "$serve_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -z "$ledger" ]; then
    [ -x .build/release/mergetune-bench ] || swift build -c release --product mergetune-bench
    ledger="$work/large.sqlite"
    .build/release/mergetune-bench report --trials 100000 --ledger "$ledger" --repeats 1 >&2
fi
study="$("$bin" study list --ledger "$ledger" | awk 'NR == 3 { print $1 }')"
"$bin" study list --ledger "$ledger" >&2
"$bin" serve --ledger "$ledger" --port 0 > "$work/url" 2> "$work/serve.err" &
serve_pid=$!
for _ in $(seq 1 200); do [ -s "$work/url" ] && break; sleep 0.05; done
url="$(head -1 "$work/url")"
echo "study $study at $url; $repeats requests per route (first one separate: cold cache)" >&2
printf '| route | first (s) | median of %s (s) | max (s) | bytes |\n|---|---|---|---|---|\n' "$repeats"
for route in "" "studies/$study" "api/studies" "api/studies/$study" "api/studies/$study/summary" \
             "api/studies/$study/running" "api/studies/$study/sections"; do
    first=$(curl -s -o /dev/null -w '%{time_total}' "$url$route")
    times=()
    for _ in $(seq 1 "$repeats"); do times+=("$(curl -s -o "$work/body" -w '%{time_total}' "$url$route")"); done
    sorted=$(printf '%s\n' "${times[@]}" | sort -g)
    median=$(printf '%s\n' "$sorted" | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
    max=$(printf '%s\n' "$sorted" | tail -1)
    printf '| /%s | %s | %s | %s | %s |\n' "$route" "$first" "$median" "$max" "$(wc -c < "$work/body")"
done
# The same routes with the cache defeated: every request recomputes (as while a study runs).
echo >&2
echo "uncached (the ledger changes between requests: touch of the WAL):" >&2
printf '\n| route, ledger changed before each request | median of %s (s) | max (s) |\n|---|---|---|\n' "$repeats"
for route in "studies/$study" "api/studies/$study/summary" "api/studies/$study/sections"; do
    times=()
    for _ in $(seq 1 "$repeats"); do
        touch "$ledger"
        times+=("$(curl -s -o /dev/null -w '%{time_total}' "$url$route")")
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -g)
    median=$(printf '%s\n' "$sorted" | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
    printf '| /%s | %s | %s |\n' "$route" "$median" "$(printf '%s\n' "$sorted" | tail -1)"
done
