#!/usr/bin/env bash
# In-process A/B of the Winograd kernels: REV's src/core/winograd.cpp (compiled
# into namespace `before`, with the library's flags) against the library in BUILD,
# taking turns call by call. Shapes: K's conv2d_1 (32 -> 64 channels, 26x26) and
# S's (64 -> 32), on 4 and 8 samples (one thread's share of a micro-batch on 2
# threads and on 1). Needs a Release build (scripts/setup.sh BUILD).
#
#   bash bench/ab/winograd_ab.sh [REV=HEAD~1] [BUILD=build-speed]
#
# REV must have the current kernel API (winograd_backward with a WinogradGradFold,
# since 425ee0b). An A/A run (REV=HEAD on a clean tree) shows the harness's own
# spread: within ±1 % on the Zen 4 machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=${1:-HEAD~1}
build=${2:-build-speed}
lib=$build/libdigitnet.a
[[ -f $lib ]] || { echo "winograd_ab: $lib not found: build it first (scripts/setup.sh $build)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git show "$rev:src/core/winograd.cpp" |
  sed 's/^namespace digitnet::kernels {/namespace before { using namespace digitnet::kernels;/' \
    >"$tmp/before.cpp"
# The flags CMakeLists.txt gives winograd.cpp in a Release build.
flags=(-O3 -DNDEBUG -march=x86-64-v2 -mtune=generic -ffp-contract=fast -std=c++20
       -Iinclude -Isrc)
g++ "${flags[@]}" -c "$tmp/before.cpp" -o "$tmp/before.o"
before_ut=()
if tr '\n' ' ' <"$tmp/before.cpp" | grep -q 'void winograd_conv3x3([^)]*const float\* Ut) {'; then
  before_ut=(-DDIGITNET_AB_BEFORE_UT)
fi
g++ -O2 -std=c++20 -Iinclude -Isrc "${before_ut[@]}" bench/ab/winograd_ab.cpp "$tmp/before.o" "$lib" \
  -lopenblas -ldnnl -lgomp -lpthread -o "$tmp/winograd_ab"
echo "before: $rev ($(git rev-parse --short "$rev")), after: $lib"
for shape in "32 64 26 4" "32 64 26 8" "64 32 26 4" "64 32 26 8"; do
  # shellcheck disable=SC2086
  "$tmp/winograd_ab" $shape
done
