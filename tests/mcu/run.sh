#!/bin/sh
# tests/mcu/run.sh — the Cortex-M test: builds examples/mcu for the Cortex-M7 (mps2-an500) and
# the Cortex-M55 (mps3-an547), runs both under qemu-system-arm with semihosting, and checks that
# they print the same faces as native builds on the same pixels (FM_SIZE, default 320x240), in the
# RAM and flash the linker scripts are cut to (FM_RAM, FM_FLASH; see examples/mcu/build.sh):
#   1. the native reference: examples/mcu/host.cpp, the same app.hpp code and the same single
#      header in the same configuration (scalar kernels, one thread), compiled for x86-64;
#   2. the normal native build: example_annotate (include/, SIMD kernels, Pipeline::run) with
#      --scale native on the same PPM.
# Same face count, |d score| <= 1e-4, |d coordinate| <= 0.05 px, |d p(masked)| <= 1e-4.
# The firmware must also exit 0, report no allocation request, and finish within the timeout.
#
#   tests/mcu/run.sh [NATIVE_BUILD [OUT]]
#     NATIVE_BUILD  a native CMake build folder (default: $FM_NATIVE_BUILD, else /tmp/fmmcu-native);
#                   configured here if it does not exist, and its weights and example_annotate
#                   targets are brought up to date
#     OUT           work folder (default: /tmp/fmmcu-test)
#   Environment: FM_WEIGHTS and FM_ACTIVATIONS (f16 by default), FM_CLASSIFIER, FM_PICTURE, FM_SIZE,
#   FM_RAM, FM_FLASH (see examples/mcu/build.sh),
#   FM_QEMU_TIMEOUT (s, 300);
#   FM_MCU_EXACT=1 also builds the M7 firmware with -ffp-contract=off (no fused multiply-add) and
#   requires its results to be bit-identical to the native scalar reference (about +1 minute).
# Exit status 0 when every check passes, 1 otherwise.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NATIVE=${1:-${FM_NATIVE_BUILD:-/tmp/fmmcu-native}}
OUT=${2:-/tmp/fmmcu-test}
TIMEOUT=${FM_QEMU_TIMEOUT:-300}
mkdir -p "$OUT"
LOG="$OUT/log.txt"
: > "$LOG"
failures=0
summary=""
note() { summary="$summary$1
"; }
check() {  # check NAME COMMAND...: runs it, records ok/FAIL
    name=$1; shift
    if "$@" >> "$LOG" 2>&1; then note "ok    $name"; else note "FAIL  $name (see $LOG)"; failures=$((failures + 1)); fi
}
now() { date +%s.%N; }

# ---- native build: the detector blob and example_annotate -----------------------------------
if [ ! -f "$NATIVE/CMakeCache.txt" ]; then
    echo "configuring the native build in $NATIVE"
    cmake -S "$ROOT" -B "$NATIVE" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACEMASK_BUILD_TESTS=OFF >> "$LOG" 2>&1
fi
if ! cmake --build "$NATIVE" --target facemask_weights >> "$LOG" 2>&1; then
    echo "tests/mcu: the native build could not make the detector blob (see $LOG)"
    exit 1
fi
ANNOTATE_BUILT=1
if ! cmake --build "$NATIVE" --target example_annotate >> "$LOG" 2>&1; then
    ANNOTATE_BUILT=0  # never compare with a stale one
    note "SKIP  native build (example_annotate did not build; see $LOG)"
fi

# ---- firmware for both boards ----------------------------------------------------------------
for board in m7 m55; do
    check "build $board" "$ROOT/examples/mcu/build.sh" "$NATIVE" "$OUT" "$board"
done
PPM="$OUT/common/picture_${FM_SIZE:-320x240}.ppm"
CLASSIFIER=$(cat "$OUT/common/classifier_blob.path" 2>/dev/null || echo "")
DETECTOR=$(cat "$OUT/common/detector_blob.path" 2>/dev/null || echo "")
TOP_K=$(sed -n 's/^#define FM_MCU_TOP_K \([0-9]*\)$/\1/p' "$OUT/common/fm_mcu_arena.h" 2>/dev/null)
# float16 activations (the default, FM_ACTIVATIONS): the float32 native build is compared within
# the fp16 bounds; the scalar reference has the firmware's own arithmetic, so it keeps the tight ones.
FP16=""
[ "${FM_ACTIVATIONS:-f16}" = f16 ] && FP16=--fp16

# ---- references ----------------------------------------------------------------------------------
check "native reference (scalar, examples/mcu/host.cpp)" \
    sh -c "'$OUT/common/host' run '$DETECTOR' '$CLASSIFIER' '$PPM' --top-k '${TOP_K:-100}' > '$OUT/reference_scalar.txt'"
HAVE_ANNOTATE=0
if [ $ANNOTATE_BUILT = 1 ] && [ -x "$NATIVE/example_annotate" ]; then
    HAVE_ANNOTATE=1
    check "native build (example_annotate, $(sed -n 's/^FACEMASK_ARCH_FLAGS:STRING=//p' "$NATIVE/CMakeCache.txt"))" \
        "$NATIVE/example_annotate" --scale native --detector "$DETECTOR" --classifier "$CLASSIFIER" --no-draw \
        --quiet --json "$OUT/reference_native.jsonl" "$PPM"
fi

# ---- run under QEMU and compare ------------------------------------------------------------------
for board in m7 m55; do
    case $board in m7) machine=mps2-an500 ;; m55) machine=mps3-an547 ;; esac
    elf="$OUT/$board/facemask_$board.elf"
    [ -f "$elf" ] || { note "FAIL  run $board: not built"; failures=$((failures + 1)); continue; }
    t0=$(now)
    timeout "$TIMEOUT" qemu-system-arm -machine "$machine" -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -kernel "$elf" -append "$PPM" > "$OUT/$board.txt" 2>&1
    rc=$?
    t1=$(now)
    secs=$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')
    if [ "$rc" -ne 0 ] || ! grep -q 'library allocation requests 0$' "$OUT/$board.txt"; then
        note "FAIL  run $board on $machine: exit $rc after ${secs}s ($(grep -m1 'error\|fault' "$OUT/$board.txt" || echo "no result"))"
        failures=$((failures + 1))
        continue
    fi
    stack=$(sed -n 's/^# stack used \([0-9]*\) of.*/\1/p' "$OUT/$board.txt")
    note "ok    run $board on $machine: exit 0 in ${secs}s, stack high-water ${stack} bytes, no heap"
    if r=$(python3 "$HERE/compare.py" "$OUT/$board.txt" "$OUT/reference_scalar.txt" --name "$board vs native scalar"); then
        note "ok    $r"
    else
        note "FAIL  $r"; failures=$((failures + 1))
    fi
    if [ $HAVE_ANNOTATE = 1 ]; then
        if r=$(python3 "$HERE/compare.py" "$OUT/$board.txt" "$OUT/reference_native.jsonl" $FP16 --name "$board vs native build"); then
            note "ok    $r"
        else
            note "FAIL  $r"; failures=$((failures + 1))
        fi
    fi
done

# ---- optional: without FMA contraction the M7 must match the x86-64 scalar build bit for bit -----
if [ "${FM_MCU_EXACT:-0}" = 1 ]; then
    r=""
    if FM_OPT="-O2 -ffp-contract=off" "$ROOT/examples/mcu/build.sh" "$NATIVE" "$OUT/exact" m7 >> "$LOG" 2>&1 &&
        timeout "$TIMEOUT" qemu-system-arm -machine mps2-an500 -nographic -monitor none -serial none \
            -semihosting-config enable=on,target=native -kernel "$OUT/exact/m7/facemask_m7.elf" -append "$PPM" \
            > "$OUT/m7_exact.txt" 2>&1 &&
        r=$(python3 "$HERE/compare.py" "$OUT/m7_exact.txt" "$OUT/reference_scalar.txt" --name "m7 -ffp-contract=off vs native scalar") &&
        case "$r" in *"; bit-identical") true ;; *) false ;; esac; then
        note "ok    $r"
    else
        note "FAIL  m7 -ffp-contract=off vs native scalar: ${r:-build or run failed} (expected bit-identical)"
        failures=$((failures + 1))
    fi
fi

echo "tests/mcu: picture $PPM, classifier $CLASSIFIER"
for board in m7 m55; do
    [ -f "$OUT/$board.txt" ] && sed -n '/^face /p' "$OUT/$board.txt" | sed "s/^/  $board: /"
done
printf "%s" "$summary"
if [ "$failures" -eq 0 ]; then
    echo "tests/mcu: PASS"
    exit 0
fi
echo "tests/mcu: FAIL ($failures failed checks)"
exit 1
