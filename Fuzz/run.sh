#!/usr/bin/env bash
# Build and run the libFuzzer harness for the safetensors header/index parsers.
# Usage: bash Fuzz/run.sh [seconds]   (default 300)
# Crashers land in Fuzz/crashers/; copy each into Tests/SafeTensorsTests/Fixtures/fuzz/
# and the regression test SafeTensorsTests.FuzzRegressionTests replays them.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-300}"
OUT=.build/fuzz
mkdir -p "$OUT" Fuzz/crashers "$OUT/corpus"
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name SafeTensorsFuzz \
    Sources/SafeTensors/*.swift Fuzz/SafeTensorsFuzz.swift -o "$OUT/safetensors-fuzz"
# Seeds: the committed fixtures (valid single files, shards, indexes) and the fuzz regressions.
find Tests/FusionTests/Fixtures Tests/SafeTensorsTests/Fixtures -type f \( -name '*.safetensors' -o -name '*.json' -o -name '*.bin' \) \
    -size -64k -exec cp {} "$OUT/corpus/" \; 2>/dev/null || true
# -malloc_limit_mb: any single allocation above 64 MB is a failure (inputs are ≤ 64 kB,
# so the parser must never allocate in proportion to sizes claimed by the header).
"$OUT/safetensors-fuzz" "$OUT/corpus" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 \
    -malloc_limit_mb=64 -rss_limit_mb=2048 -timeout=10 -artifact_prefix=Fuzz/crashers/ -print_final_stats=1
