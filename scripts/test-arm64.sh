#!/usr/bin/env bash
# Cross-builds digitnet for arm64 (aarch64) and runs the quick suite (the
# kernel, layer, training and model tests) under qemu-user: the library's
# non-x86 paths, built by Debian's cross compiler against Debian's arm64
# packages (multiarch).
#   bash scripts/test-arm64.sh [BUILD_DIR]          # default build-arm64
#   ARM64_TEST_AREAS="core layers" bash scripts/test-arm64.sh
# Adds the arm64 architecture to dpkg and installs the cross toolchain, qemu-user
# and the arm64 -dev packages; refuses if apt would remove any package.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build-arm64}"
AREAS="${ARM64_TEST_AREAS:-core layers train model}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# libdnnl-dev:arm64 is not installed: it and libdnnl-dev:amd64 (which the x86
# build needs) both ship /usr/include/oneapi/dnnl/dnnl_config.h, different
# (the arm64 build has no OpenCL runtime), so dpkg refuses the pair. Its
# headers and CMake files are unpacked into the build directory instead, over
# the runtime library libdnnl2:arm64.
PACKAGES=(g++-aarch64-linux-gnu qemu-user cmake pkg-config pkgconf:arm64 nlohmann-json3-dev libcli11-dev
  libopenblas-dev:arm64 libdnnl2:arm64 libssl-dev:arm64 zlib1g-dev:arm64 libcpp-httplib-dev:arm64
  libcairo2-dev:arm64 libpng-dev:arm64 libturbojpeg0-dev:arm64 libxml2-dev:arm64
  libgtest-dev:arm64 libgmock-dev:arm64)

t0=$SECONDS
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-arm64: installing ${missing[*]}"
  $SUDO apt-get update -qq
  # Multiarch keeps an amd64 and an arm64 copy of a library at one version, so
  # apt may upgrade amd64 packages; it must not remove any.
  plan=$($SUDO apt-get install --dry-run --no-install-recommends "${missing[@]}")
  if grep -q '^Remv ' <<<"$plan"; then
    echo "test-arm64: apt would remove packages; not installing:" >&2
    grep '^Remv ' <<<"$plan" >&2
    exit 1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

DNNL="$PWD/$BUILD_DIR/dnnl-arm64"
DNNL_CMAKE="$DNNL/usr/lib/aarch64-linux-gnu/cmake/dnnl"
if [ ! -f "$DNNL_CMAKE/dnnl-config.cmake" ]; then
  version=$(dpkg-query -W -f='${Version}' libdnnl2:arm64)
  mkdir -p "$DNNL"
  (cd "$DNNL" && apt-get download -qq "libdnnl-dev:arm64=$version")
  dpkg-deb -x "$DNNL"/libdnnl-dev_*_arm64.deb "$DNNL"
  # The CMake files name the library beside them: point it at the installed one.
  ln -sf "$(readlink -f /usr/lib/aarch64-linux-gnu/libdnnl.so.2)" \
    "$DNNL/usr/lib/aarch64-linux-gnu/$(basename "$(readlink -f /usr/lib/aarch64-linux-gnu/libdnnl.so.2)")"
fi
echo "test-arm64: packages ready in $((SECONDS - t0)) s"

# test_model trains on real MNIST from the cache (scripts/test.sh fills it with
# the x86 CLI's `digitnet fetch`); without it that area is left out, said so.
export DIGITNET_DATA="${DIGITNET_DATA:-$HOME/.cache/digitnet}"
targets=()
for a in $AREAS; do
  if [ "$a" = model ] && [ ! -d "$DIGITNET_DATA/mnist" ]; then
    echo "test-arm64: no MNIST in $DIGITNET_DATA (run scripts/test.sh first): leaving out test_model"
    continue
  fi
  targets+=("test_$a")
done

t1=$SECONDS
toolchain=()  # (read at the first configure only: CMake warns when given again)
[ -f "$BUILD_DIR/CMakeCache.txt" ] || toolchain=(-DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake)
cmake -S . -B "$BUILD_DIR" "${toolchain[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DDIGITNET_WERROR=ON -DDIGITNET_BUILD_EXAMPLES=OFF \
  -DDIGITNET_BUILD_BENCH=OFF -Ddnnl_DIR="$DNNL_CMAKE" >/dev/null
cmake --build "$BUILD_DIR" -j"${ARM64_JOBS:-$(nproc)}" --target "${targets[@]}"
echo "test-arm64: built ${targets[*]} in $((SECONDS - t1)) s"

t2=$SECONDS
for t in "${targets[@]}"; do
  echo "== $t under qemu-aarch64"
  qemu-aarch64 "$BUILD_DIR/tests/$t" --gtest_brief=1
done
echo "test-arm64: ran ${targets[*]} under qemu in $((SECONDS - t2)) s"
