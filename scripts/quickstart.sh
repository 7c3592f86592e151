#!/usr/bin/env bash
# The README's first command: install what is missing, build (release), run the default study.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product mergetune
BIN="$(swift build -c release --show-bin-path)/mergetune"
"$BIN" study launch Studies/quickstart.toml --ledger quickstart.sqlite "$@"
