#!/usr/bin/env bash
# The concurrency test (and with it picture decoding) built with ThreadSanitizer at -O1 and run:
# any data race fails it.   bash tests/concurrency/tsan.sh WEIGHTS_DIR PICTURE.jpg OUT_DIR
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
