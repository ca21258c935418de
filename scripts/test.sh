#!/usr/bin/env bash
# Sets up and runs the whole test suite: a Release build with -Werror (its
# kernel-level tests also under each instruction-set cap), then the same suite
# under AddressSanitizer + UBSan.
#   bash scripts/test.sh            # both
#   bash scripts/test.sh --quick    # Release build only
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build-test -DDIGITNET_WERROR=ON -DDIGITNET_BUILD_BENCH=OFF

# The tests that train on real data read MNIST and Fashion-MNIST from the cache; fetch them once.
export DIGITNET_DATA="${DIGITNET_DATA:-$HOME/.cache/digitnet}"
build-test/digitnet fetch --quiet
build-test/digitnet fetch --quiet --dataset fashion-mnist

echo "== Release suite"
(cd build-test && ctest --output-on-failure -j2 --timeout 600)

# The AVX2 and plain paths of digitnet's own kernels, on any x86 machine: the
# kernel, layer, training and model tests again with the kernels capped.
for isa in avx2 scalar; do
  echo "== Kernel, layer, training and model tests with DIGITNET_MAX_ISA=$isa"
  for t in test_core test_layers test_train test_model; do
    DIGITNET_MAX_ISA=$isa build-test/tests/$t --gtest_brief=1
  done
done

if [ "${1:-}" != "--quick" ]; then
  echo "== AddressSanitizer + UBSan suite"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIGITNET_WERROR=ON -DDIGITNET_SANITIZE=ON \
    -DDIGITNET_BUILD_EXAMPLES=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    LSAN_OPTIONS="suppressions=$(pwd)/../tests/lsan.supp" \
    ctest --output-on-failure -j2 --timeout 1200)
fi
