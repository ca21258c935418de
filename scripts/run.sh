#!/usr/bin/env bash
# The main job: set up, fetch MNIST, train the default CNN, evaluate it and
# write its report into out/.
#   bash scripts/run.sh [extra `digitnet train` flags, e.g. --epochs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
DN=build/digitnet
mkdir -p out
$DN fetch
$DN train --preset cnn -o out/cnn.dnm "$@"
$DN evaluate --model out/cnn.dnm -o out/cnn.evaluation.json | tee out/cnn.evaluation.txt
echo
echo "Report: $(pwd)/out/cnn.evaluation.txt (JSON: out/cnn.evaluation.json, history: out/cnn.history.csv, model: out/cnn.dnm)"
