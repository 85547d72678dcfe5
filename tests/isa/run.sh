#!/bin/sh
# tests/isa/run.sh OUT_DIR — the kernel tests on the instruction sets this machine cannot run
# natively, each build asserting which kernels it runs (test_dispatch.cpp,
# FACEMASK_TEST_EXPECT_SIMD):
#   aarch64 NEON   aarch64-linux-gnu-g++ -O2, static, under qemu-aarch64 (Debian g++-aarch64-linux-gnu,
#                  qemu-user; see docs: platform notes 9.3)
#   wasm SIMD128   em++ -msimd128 -msse4.1 (xsimd's SSE4.1 on emscripten's emulation), under node
# The x86-64 sets (AVX-512, AVX2+FMA, SSE4.1, SSE2, scalar) run in the release build's ctest
# (facemask.kernels.ISA). Exit status 0 when both pass.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
for tool in aarch64-linux-gnu-g++ qemu-aarch64 em++ node; do
    command -v $tool >/dev/null 2>&1 || { echo "tests/isa/run.sh: $tool is not installed" >&2; exit 2; }
done
# xsimd, doctest and stb for em++ (its sysroot does not search /usr/include)
INC=$OUT/include
mkdir -p "$INC"
for d in xsimd doctest stb; do [ -e "$INC/$d" ] || ln -s /usr/include/$d "$INC/$d"; done
SRC="$HERE/kernels_main.cpp $REPO/tests/test_kernels.cpp $REPO/tests/test_dispatch.cpp"
FLAGS="-std=c++17 -O2 -fno-exceptions -fno-rtti -Wall -Wextra -DDOCTEST_CONFIG_NO_EXCEPTIONS_BUT_WITH_ALL_ASSERTS -I$REPO/include"
export NODE_PATH=/usr/share/nodejs  # emscripten 3.1.6 needs Debian's acorn
start=$(date +%s)

echo "tests/isa/run.sh: building the kernel tests for aarch64 NEON and wasm SIMD128"
# shellcheck disable=SC2086  # the flag and source lists split on purpose
aarch64-linux-gnu-g++ $FLAGS -isystem "$INC" '-DFACEMASK_TEST_EXPECT_SIMD="arm64+neon"' -DFACEMASK_TEST_EXPECT_LANES=4 \
    $SRC -static -o "$OUT/kernels_neon" &
neon=$!
# shellcheck disable=SC2086
em++ $FLAGS -isystem "$INC" -msimd128 -msse4.1 '-DFACEMASK_TEST_EXPECT_SIMD="sse4.1"' -DFACEMASK_TEST_EXPECT_LANES=4 \
    $SRC -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=64MB -sEXIT_RUNTIME=1 -o "$OUT/kernels_wasm.js"
wait $neon
echo "tests/isa/run.sh: built in $(( $(date +%s) - start )) s"

rc=0
echo "==== aarch64 NEON (qemu-aarch64)"
qemu-aarch64 "$OUT/kernels_neon" --no-colors=true --test-suite=kernels,dispatch || rc=1
echo "==== wasm SIMD128 (node $(node --version))"
node --no-experimental-fetch "$OUT/kernels_wasm.js" --no-colors=true --test-suite=kernels,dispatch || rc=1
echo "tests/isa/run.sh: $(( $(date +%s) - start )) s in all, exit $rc"
exit $rc
