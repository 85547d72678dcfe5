#!/usr/bin/env bash
# The concurrency test (and with it picture decoding) built with ThreadSanitizer at -O1 and run:
# any data race fails it. Then the same for FACEMASK_PTHREADS (the WebAssembly threads' team,
# tests/test_team.cpp): the team and the detector on 2 and 3 POSIX threads.
#   bash tests/concurrency/tsan.sh WEIGHTS_DIR PICTURE.jpg OUT_DIR
# (the pthreads test reads images/ex_img.jpg of the shared folder: PICTURE's folder's parent)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
weights="${1:?usage: tsan.sh WEIGHTS_DIR PICTURE.jpg OUT_DIR}" picture="${2:?}" out="${3:?}"
mkdir -p "$out"
source "$here/../../tools/deps.sh"
need_packages $FACEMASK_SANITIZER_PACKAGES
# No OpenMP: its runtime is not built with TSan (false reports); the threads here are std::thread.
clang++ -std=c++17 -O1 -g -fsanitize=thread -fno-exceptions -fno-rtti -Wall -Wextra -DFACEMASK_NO_OPENMP \
    -I"$here/../../include" -isystem /usr/include/stb -pthread "$here/test_concurrency.cpp" -o "$out/test_concurrency_tsan"
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/test_concurrency_tsan" "$weights" "$picture" 4 2

# FACEMASK_PTHREADS: the executor's own barrier and team, the Workspace starting and joining them.
shared="$(cd "$(dirname "$picture")/.." && pwd)"
tests="$here/.."
clang++ -std=c++17 -O1 -g -fsanitize=thread -fno-exceptions -fno-rtti -Wall -Wextra -DFACEMASK_PTHREADS \
    -DDOCTEST_CONFIG_NO_EXCEPTIONS_BUT_WITH_ALL_ASSERTS -DFACEMASK_TEST_HAVE_BLOBS=1 \
    -DFACEMASK_TEST_WEIGHTS_DIR="\"$(cd "$weights" && pwd)\"" -DFACEMASK_TEST_SHARED_DIR="\"$shared\"" \
    -DFACEMASK_TEST_GOLDEN_DIR="\"$tests/golden\"" -DFACEMASK_TEST_DATA_DIR="\"$tests/data\"" \
    -I"$here/../../include" -isystem /usr/include/stb -pthread "$tests/test_main.cpp" "$tests/test_team.cpp" \
    -o "$out/test_pthreads_tsan"
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/test_pthreads_tsan" --test-suite=pthreads --no-colors=true
