#!/usr/bin/env bash
# Runs every test of facemask, as CI does (.ci/run calls this):
#   1. the release build: unit tests, parity with the PyTorch goldens (both checkpoint families,
#      detector and classifier), CLI, Python tools, and the single header (fresh, warning-free
#      with g++ and clang++, scalar and SIMD, same faces as the main build);
#   2. the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer (reports fatal);
#   fuzz: each libFuzzer harness of tests/fuzz for 10 s; tsan: the concurrency test and the
#      FACEMASK_PTHREADS test (tests/test_team.cpp) under TSan;
#      (1 also runs the kernel and parity tests once per x86-64 instruction set: FACEMASK_ISA)
#   isa: the kernel tests cross-built for aarch64 NEON (qemu-user) and wasm SIMD128 (node);
#   3. WebAssembly in headless Chromium (SIMD and scalar builds against the native faces; live
#      mode's tracker on a fake-camera clip; the page served by facemask_serve, server engine);
#   4. Cortex-M7 and Cortex-M55 under QEMU against the native faces;
#   5. serve: facemask_serve under load and bad clients, and two replicas behind nginx;
#   6. python: the pybind11 module (built, installed, tested against the CLI);
#   7. watch: facemask_watch and the tracker on rendered videos (also part of 1).
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
tests="${FACEMASK_TESTS:-release asan fuzz tsan isa web mcu serve python watch}"
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
if wants fuzz; then
    step "libFuzzer harnesses, 10 s each on the committed seeds (ASan + UBSan, every report fatal)"
    [ -f build/weights/retinaface_mnet025.fmb ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACEMASK_SHARED_DIR="$shared" >/dev/null; cmake --build build; }
    need_packages $FACEMASK_SANITIZER_PACKAGES
    bash tests/fuzz/build.sh build-fuzz
    rm -rf build-fuzz/work
    bash tests/fuzz/run.sh build build-fuzz 10 build-fuzz/work
fi
if wants tsan; then
    step "ThreadSanitizer: one Pipeline shared by 4 threads, pictures decoded in the threads; the FACEMASK_PTHREADS team"
    [ -f build/weights/retinaface_mnet025.fmb ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACEMASK_SHARED_DIR="$shared" >/dev/null; cmake --build build; }
    need_packages $FACEMASK_SANITIZER_PACKAGES
    bash tests/concurrency/tsan.sh build/weights "$shared/images/ex_img.jpg" build-tsan
fi
if wants isa; then
    step "kernel tests on aarch64 NEON (qemu-user) and wasm SIMD128 (node)"
    tests/isa/run.sh build-isa
fi
if wants web; then
    step "WebAssembly in headless Chromium (live mode with the fake camera; the page served by facemask_serve)"
    { [ -x build/example_annotate ] && [ -x build/facemask_serve ]; } || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build; }
    tests/web/run.sh build
fi
if wants mcu; then
    step "Cortex-M7 and Cortex-M55 under QEMU"
    [ -x build/example_annotate ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build; }
    # The linker scripts hold the real boards' budgets: 320x240 in 512 KiB of RAM, 160x120 in
    # 256 KiB, 2 MiB of flash (examples/mcu/README.md).
    FM_SIZE=160x120 FM_RAM=256K tests/mcu/run.sh build build/mcu-160x120
    FM_RAM=512K tests/mcu/run.sh build build/mcu
fi
if wants serve; then
    step "facemask_serve: load, bad clients, memory, replicas behind nginx"
    [ -x build/facemask_serve ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build; }
    FACEMASK_BUILD=build FACEMASK_PICTURE="$shared/images/ex_img.jpg" python3 -m unittest -v \
        tests/serve/test_serve.py tests/serve/test_replicas.py
fi
if wants watch; then
    step "facemask_watch and the tracker on rendered videos"
    [ -x build/facemask_watch ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACEMASK_SHARED_DIR="$shared" >/dev/null; cmake --build build; }
    ctest --test-dir build --output-on-failure -R 'facemask[.](watch|tracker)$'
fi
if wants python; then
    step "Python module (pybind11)"
    [ -x build/example_annotate ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build; }
    # Debian's python3 (its python3-numpy and python3-dev), whatever python3 is first on the PATH
    py=/usr/bin/python3
    cmake -S . -B build-python -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACEMASK_BUILD_TESTS=OFF \
        -DFACEMASK_BUILD_EXAMPLES=OFF -DFACEMASK_BUILD_TOOLS=OFF -DFACEMASK_BUILD_PYTHON=ON \
        -DPython3_EXECUTABLE=$py -DFACEMASK_SHARED_DIR="$shared" >/dev/null
    cmake --build build-python
    rm -rf build-python/install
    cmake --install build-python --prefix build-python/install >/dev/null
    site="build-python/install/$(grep '^FACEMASK_PYTHON_INSTALL_DIR:' build-python/CMakeCache.txt | cut -d= -f2)"
    (cd /tmp && PYTHONPATH="$OLDPWD/$site" $py -c "import facemask, sys; print('installed:', facemask.__file__)")
    PYTHONPATH="$site" FACEMASK_WEIGHTS=build/weights FACEMASK_CLI=build/example_annotate \
        FACEMASK_PICTURE="$shared/images/ex_img.jpg" $py -m unittest -v tests/python/test_module.py
fi
step "all tests passed"
