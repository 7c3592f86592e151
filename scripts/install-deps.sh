#!/usr/bin/env bash
# Installs the system libraries mergetune links (GSL, OpenBLAS as its CBLAS, SQLite) when missing.
set -euo pipefail
need=()
for pkg in libgsl-dev libsqlite3-dev libopenblas-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
