#!/usr/bin/env bash
# CTest entry: train a tiny CNN, write its HTML report and open it in headless
# Chromium (check_report.mjs). The screenshot stays in BUILD_DIR/browser-test/.
#   tests/browser/run.sh DIGITNET_CLI BUILD_DIR
set -euo pipefail
CLI="$1"
OUT="$2/browser-test"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
  npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error
fi
"$CLI" train --preset lenet --epochs 2 --max-train 600 --threads 2 --quiet -o "$OUT/tiny.dnm" >/dev/null
"$CLI" report "$OUT/tiny.dnm" -o "$OUT/report.html"
node "$HERE/check_report.mjs" "$OUT/report.html" "$OUT/report-screenshot.png"
