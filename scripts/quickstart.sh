#!/usr/bin/env bash
# The README's first command: install what is missing, build (release), run the default study,
# write its report (docs/report.md) and print where it is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product mergetune
BIN="$(swift build -c release --show-bin-path)/mergetune"
"$BIN" study launch Studies/quickstart.toml --ledger quickstart.sqlite "$@"
"$BIN" study report quickstart --ledger quickstart.sqlite -o quickstart-report.html
echo "report: $(pwd)/quickstart-report.html (open it in a browser; it needs no network)"
