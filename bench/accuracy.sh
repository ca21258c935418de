#!/usr/bin/env bash
# Accuracy benchmark: trains the presets with the tutorial settings (Adam 1e-3,
# batch 128) on all 60,000 training images and reports test accuracy against
# the targets (mlp >= 97.5 %, cnn >= 99.2 %). Long: not part of the test suite.
#   bash bench/accuracy.sh [PRESET ...]      (default: mlp cnn)
#   SCHEDULE=constant bash bench/accuracy.sh cnn   (the tutorial's constant rate;
#                                                  default: cosine, digitnet's default)
#   DATASET=fashion-mnist bash bench/accuracy.sh cnn   (another named data set;
#                                                  the targets are MNIST's, so none there)
# Results: bench/results/accuracy-<data set>-<preset>.json (+ the models and histories).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build >/dev/null
DN=build/digitnet
DATASET="${DATASET:-mnist}"
$DN fetch --quiet --dataset "$DATASET"
mkdir -p bench/results
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(mlp cnn)
declare -A target=([mlp]=0.975 [cnn]=0.992 [lenet]=0.985)
[ "$DATASET" = mnist ] || target=()
declare -A epochs=([mlp]=10 [cnn]=12 [lenet]=12)
status=0
for p in "${presets[@]}"; do
  out=bench/results/$DATASET-$p
  start=$(date +%s)
  $DN train --preset "$p" --epochs "${epochs[$p]:-12}" --batch-size 128 --optimizer adam --lr 1e-3 \
    --schedule "${SCHEDULE:-cosine}" --seed 42 --dataset "$DATASET" -o "$out.dnm" --json > "$out.train.json"
  secs=$(( $(date +%s) - start ))
  acc=$(python3 -c "import json,sys; print(json.load(open('$out.train.json'))['test']['accuracy'])")
  ok=$(python3 -c "print('PASS' if $acc >= ${target[$p]:-0} else 'FAIL')")
  [ "$ok" = PASS ] || status=1
  printf '{"dataset":"%s","preset":"%s","schedule":"%s","epochs":%s,"test_accuracy":%s,"target":%s,"seconds":%s,"result":"%s"}\n' \
    "$DATASET" "$p" "${SCHEDULE:-cosine}" "${epochs[$p]:-12}" "$acc" "${target[$p]:-0}" "$secs" "$ok" | tee "bench/results/accuracy-$DATASET-$p.json"
done
exit $status
