#!/usr/bin/env bash
# Builds the libFuzzer harnesses with ASan + UBSan (every report fatal) into OUT_DIR.
#   bash tests/fuzz/build.sh OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUT_DIR}"
mkdir -p "$out"
source "$here/../../tools/deps.sh"
need_packages $FACEMASK_SANITIZER_PACKAGES
flags=(-std=c++17 -O1 -g -fno-exceptions -fno-rtti -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -fsanitize-ignorelist="$here/ubsan_ignore.txt" -fno-omit-frame-pointer -I"$here/../../include" -isystem /usr/include/stb -DFACEMASK_NO_OPENMP
       -DFACEMASK_DEFAULT_WEIGHTS_DIR='"weights"')
jobs=0
for h in blob image parse pipeline scale; do
    if [ ! -x "$out/fuzz_$h" ] || [ -n "$(find "$here" "$here/../../include" "$here/../../examples/example_annotate.cpp" -newer "$out/fuzz_$h" -name '*.?pp' | head -1)" ]; then
        [ $jobs -lt 2 ] || { wait -n; jobs=$((jobs - 1)); }  # two compilers at a time (2 cores, shared)
        clang++ "${flags[@]}" "$here/fuzz_$h.cpp" -o "$out/fuzz_$h" &
        jobs=$((jobs + 1))
    fi
done
while [ $jobs -gt 0 ]; do wait -n; jobs=$((jobs - 1)); done
