#!/usr/bin/env bash
# The main job: set up, fetch MNIST, train the default CNN, evaluate it, draw
# its pictures and write one self-contained HTML report into $OUT/.
#   bash scripts/run.sh [extra `digitnet train` flags, e.g. --epochs 3]
# DIGITNET_BUILD_DIR (default build) and DIGITNET_OUT (default out) move the
# build and the outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${DIGITNET_BUILD_DIR:-build}"
OUT="${DIGITNET_OUT:-out}"
bash scripts/setup.sh "$BUILD"
DN="$BUILD/digitnet"
mkdir -p "$OUT"
"$DN" fetch
"$DN" show --split train --count 40 -o "$OUT/digits.png"
"$DN" train --preset cnn -o "$OUT/cnn.dnm" "$@"
"$DN" evaluate --model "$OUT/cnn.dnm" -o "$OUT/cnn.evaluation.json" | tee "$OUT/cnn.evaluation.txt"
"$DN" inspect --model "$OUT/cnn.dnm" --index 0
"$DN" report --model "$OUT/cnn.dnm" -o "$OUT/cnn.report.html" >/dev/null
echo
echo "Pictures: $OUT/digits.png, $OUT/cnn.history.png (.svg), $OUT/cnn.confusion.png, $OUT/cnn.mistakes.png, $OUT/cnn.filters.png, $OUT/cnn.features.png"
echo "Metrics: $OUT/cnn.evaluation.txt (JSON: $OUT/cnn.evaluation.json, history: $OUT/cnn.history.csv, model: $OUT/cnn.dnm)"
echo "Report: $(cd "$OUT" && pwd)/cnn.report.html"
