#!/bin/sh
# tests/isa/check.sh — what a build without ISA flags runs, as the README says (issue 11, defect
# 10): on x86-64 the compiler's baseline includes SSE2 and xsimd's SSE2 kernels are used
# (deliberately: config.hpp); on AArch64 NEON. FACEMASK_NO_SIMD gives the scalar kernels.
# Both builds must pass the detector blob's self-test, and the README must name the kernels
# the flagless build reports.
#   check.sh CXX SOURCE_DIR DETECTOR_BLOB WORKDIR
set -u
cxx=$1 src=$2 blob=$3 work=$4
rm -rf "$work" && mkdir -p "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
flags="-std=c++17 -O2 -Wall -Wextra -Werror -fno-exceptions -fno-rtti -I$src/include"
for variant in default scalar; do
    extra=""
    [ "$variant" = scalar ] && extra="-DFACEMASK_NO_SIMD"
    if $cxx $flags $extra "$src/tests/isa/isa_default.cpp" -o "$work/isa_$variant" 2>"$work/err.txt"; then
        name=$("$work/isa_$variant" "$blob" 2>"$work/err.txt") || fail "$variant build: self-test: $(cat "$work/err.txt")"
        echo "$variant build (no ISA flags $extra): $name kernels, self-test passed"
        eval "isa_$variant=\$name"
    else
        fail "$variant build does not compile: $(head -5 "$work/err.txt")"
    fi
done
[ "${isa_scalar:-}" = scalar ] || fail "FACEMASK_NO_SIMD build reports '${isa_scalar:-}', not scalar"
case "$(uname -m)" in
    x86_64) [ "${isa_default:-}" = sse2 ] || fail "flagless x86-64 build reports '${isa_default:-}', expected sse2" ;;
esac
# The README's sentence on builds without ISA flags names what they run.
line=$(grep -i "without ISA flags" "$src/README.md" | head -1)
echo "README: $line"
echo "$line" | grep -qi -- "${isa_default:-none}" || fail "the README's 'without ISA flags' sentence does not say '${isa_default:-}'"
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
