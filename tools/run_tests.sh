#!/usr/bin/env bash
# Runs every test of facemask, as CI does (.ci/run calls this):
#   1. the release build: unit tests, parity with the PyTorch goldens (both checkpoint families,
#      detector and classifier), CLI, Python tools, and the single header (fresh, warning-free
#      with g++ and clang++, scalar and SIMD, same faces as the main build);
#   2. the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. WebAssembly in headless Chromium (SIMD and scalar builds against the native faces);
#   4. Cortex-M7 and Cortex-M55 under QEMU against the native faces.
# On a fresh Debian 12 machine run it as root: it installs the missing packages first.
#   bash tools/run_tests.sh               # everything
#   FACEMASK_TESTS="release asan" bash tools/run_tests.sh   # a subset
# The public checkpoints and pictures are read from ../shared (FACEMASK_SHARED_DIR=... to change).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
need_packages $FACEMASK_TEST_PACKAGES
need_command node "Node.js 20 with npm is needed for the browser test"
export NODE_PATH=/usr/share/nodejs  # emscripten 3.1.6 needs Debian's node-acorn (docs: platform notes)
shared="${FACEMASK_SHARED_DIR:-$(cd .. && pwd)/shared}"
[ -d "$shared/weights" ] || { echo "facemask: no $shared/weights (set FACEMASK_SHARED_DIR)" >&2; exit 1; }
tests="${FACEMASK_TESTS:-release asan web mcu}"
jobs="$(nproc)"
started=$SECONDS
step() { printf '\n==== %s (%ds)\n' "$*" $((SECONDS - started)); }
wants() { [[ " $tests " == *" $1 "* ]]; }

if wants release; then
    step "release build and tests"
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACEMASK_SHARED_DIR="$shared" >/dev/null
    cmake --build build
    ctest --test-dir build --output-on-failure -j "$jobs"
fi
if wants asan; then
    step "AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
    # -O1 -g1 and no tools: the sanitized -O2 -g build of the detector's kernels took ~14 of CI's
    # minutes; this one checks the same tests in ~4.
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -g1" \
        -DFACEMASK_SANITIZE=ON -DFACEMASK_BUILD_TOOLS=OFF -DFACEMASK_SHARED_DIR="$shared" >/dev/null
    cmake --build build-asan
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir build-asan --output-on-failure -j "$jobs" -E 'single_header|python'
fi
if wants web; then
    step "WebAssembly in headless Chromium"
    [ -x build/example_annotate ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build; }
    tests/web/run.sh build
fi
if wants mcu; then
    step "Cortex-M7 and Cortex-M55 under QEMU"
    [ -x build/example_annotate ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build; }
    tests/mcu/run.sh build build/mcu
fi
step "all tests passed"
