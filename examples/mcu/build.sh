#!/bin/sh
# build.sh — builds the facemask Cortex-M example for one board.
#
#   examples/mcu/build.sh NATIVE_BUILD OUT m7|m55
#
#   NATIVE_BUILD  a native CMake build of the project: its weights/retinaface_mnet025_f16.fmb is
#                 the detector (cmake -S . -B NATIVE_BUILD ... && cmake --build NATIVE_BUILD)
#   OUT           output folder: OUT/common (host tools, picture, generated sources, shared by
#                 the boards) and OUT/<board> (objects, facemask_<board>.elf, .map, sizes.txt)
#   m7            Cortex-M7, QEMU mps2-an500;  m55: Cortex-M55 (+MVE), QEMU mps3-an547
#
# Environment (all optional):
#   FM_WEIGHTS     f16 (default: the float16 blobs tools/blob_half.py makes in the build, half
#                  the flash) or f32 (the float32 blobs)
#   FM_CLASSIFIER  classifier blob (default: NATIVE_BUILD/weights/mask_classifier_f16.fmb, or
#                  for f32 NATIVE_BUILD/weights/mask_classifier.fmb, then the repository's)
#   FM_PICTURE     source picture (default: ../shared/images/ex_img.jpg next to the repository)
#   FM_SIZE        network input = picture size, WxH (default 320x240)
#   FM_TOP_K       detection candidates kept before NMS (default 100; sizes the face list)
#   FM_ACTIVATIONS f16 (default: activations stored as float16, FACEMASK_HALF_ACTIVATIONS, half
#                  the arena) or f32
#   FM_FRAME       rgb565 (default: the frame in RAM as a camera sensor writes it, 2 bytes a
#                  pixel; the PPM is packed as it is read) or rgb888
#   FM_OPT         optimisation flags (default -O2)
#   FM_STACK       stack bytes (default 16384)
#   FM_RAM, FM_FLASH  the memory a real board has, as linker sizes (default 512K and 2M): the
#                  linker scripts cut the regions to them, so a build that does not fit fails to link
#
# Run:  timeout 120 qemu-system-arm -machine mps2-an500 -nographic -monitor none -serial none \
#         -semihosting-config enable=on,target=native -kernel OUT/m7/facemask_m7.elf [-append PICTURE.ppm]
# Everything generated (picture, weights as assembler, arena header) stays in OUT: never commit it.
set -eu

if [ $# -ne 3 ]; then
    sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
NATIVE=$(cd "$1" && pwd)
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
BOARD=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

case "$BOARD" in
    # -mfp16-format=ieee: float16 weights are widened by the FPU's VCVTB (kernels/view.hpp).
    m7) CPU="-mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard -mfp16-format=ieee"; LDSCRIPT=mps2_an500.ld; NAME="Cortex-M7 (mps2-an500)" ;;
    m55) CPU="-mcpu=cortex-m55 -mfloat-abi=hard -mfp16-format=ieee"; LDSCRIPT=mps3_an547.ld; NAME="Cortex-M55 (mps3-an547)" ;;
    *) echo "build.sh: board must be m7 or m55, not '$BOARD'" >&2; exit 2 ;;
esac

SIZE=${FM_SIZE:-320x240}
TOP_K=${FM_TOP_K:-100}
OPT=${FM_OPT:--O2}
STACK=${FM_STACK:-16384}
to_bytes() { case "$1" in *K) echo $((${1%K} * 1024)) ;; *M) echo $((${1%M} * 1048576)) ;; *) echo "$1" ;; esac; }
RAM_SIZE=$(to_bytes "${FM_RAM:-512K}")
FLASH_SIZE=$(to_bytes "${FM_FLASH:-2M}")
case "${FM_WEIGHTS:-f16}" in
    f16) SUFFIX=_f16 ;;
    f32) SUFFIX= ;;
    *) echo "build.sh: FM_WEIGHTS must be f16 or f32, not '$FM_WEIGHTS'" >&2; exit 2 ;;
esac
DETECTOR="$NATIVE/weights/retinaface_mnet025$SUFFIX.fmb"
if [ -n "${FM_CLASSIFIER:-}" ]; then CLASSIFIER=$FM_CLASSIFIER
elif [ -f "$NATIVE/weights/mask_classifier$SUFFIX.fmb" ]; then CLASSIFIER="$NATIVE/weights/mask_classifier$SUFFIX.fmb"
elif [ -z "$SUFFIX" ] && [ -f "$ROOT/weights/mask_classifier.fmb" ]; then CLASSIFIER="$ROOT/weights/mask_classifier.fmb"
else
    echo "build.sh: no mask_classifier$SUFFIX.fmb in $NATIVE/weights (build the facemask_weights target)" >&2; exit 1
fi
PICTURE=${FM_PICTURE:-$ROOT/../shared/images/ex_img.jpg}
for f in "$DETECTOR" "$CLASSIFIER" "$PICTURE"; do
    [ -f "$f" ] || { echo "build.sh: missing $f" >&2; exit 1; }
done

COMMON="$OUT/common"
B="$OUT/$BOARD"
mkdir -p "$COMMON" "$B"
HOSTCXX=${CXX:-g++}
case "${FM_ACTIVATIONS:-f16}" in
    f16) ACT="-DFACEMASK_HALF_ACTIVATIONS" ;;
    f32) ACT="" ;;
    *) echo "build.sh: FM_ACTIVATIONS must be f16 or f32, not '$FM_ACTIVATIONS'" >&2; exit 2 ;;
esac
case "${FM_FRAME:-rgb565}" in
    rgb565) ACT="$ACT -DFM_MCU_RGB565" ;;
    rgb888) ;;
    *) echo "build.sh: FM_FRAME must be rgb565 or rgb888, not '$FM_FRAME'" >&2; exit 2 ;;
esac
# The host tools share the firmware's configuration (scalar, one thread, its activation type),
# except picture_host, which makes the picture in float32 so both activation types see the same bytes.
PICFLAGS="-std=gnu++17 -O2 -DFACEMASK_NO_SIMD -DFACEMASK_NO_OPENMP -fno-exceptions -fno-rtti -Wall -Wextra -I$ROOT/single_include"
HOSTFLAGS="$PICFLAGS $ACT"

# ---- native helpers (same header, same scalar configuration) ------------------------------------
newer() {  # newer TARGET SOURCES...: true if TARGET is missing or older than a source
    t=$1; shift
    [ -f "$t" ] || return 0
    for s in "$@"; do [ "$s" -nt "$t" ] && return 0; done
    return 1
}
# Rebuilt when the activation type changes (recorded in $COMMON/activations).
if [ "$(cat "$COMMON/activations" 2>/dev/null || true)" != "$ACT" ]; then
    rm -f "$COMMON/arena_size" "$COMMON/host"
    echo "$ACT" > "$COMMON/activations"
fi
if newer "$COMMON/arena_size" "$ROOT/tools/arena_size.cpp" "$ROOT/single_include/facemask.hpp"; then
    $HOSTCXX $HOSTFLAGS "$ROOT/tools/arena_size.cpp" -o "$COMMON/arena_size"
fi
if newer "$COMMON/host" "$HERE/host.cpp" "$HERE/app.hpp" "$ROOT/single_include/facemask.hpp"; then
    $HOSTCXX $HOSTFLAGS -isystem /usr/include/stb "$HERE/host.cpp" -o "$COMMON/host"
fi
if newer "$COMMON/picture_host" "$HERE/host.cpp" "$HERE/app.hpp" "$ROOT/single_include/facemask.hpp"; then
    $HOSTCXX $PICFLAGS -isystem /usr/include/stb "$HERE/host.cpp" -o "$COMMON/picture_host"
fi

# ---- generated inputs: the picture, the arena size, the weights as assembler ---------------------
PPM="$COMMON/picture_$SIZE.ppm"
if newer "$PPM" "$PICTURE" "$COMMON/picture_host"; then
    "$COMMON/picture_host" picture "$PICTURE" "$PPM" "$SIZE"
fi
W=${SIZE%x*}
H=${SIZE#*x}
"$COMMON/arena_size" "$DETECTOR" "$CLASSIFIER" --header "$COMMON/fm_mcu_arena.h.new" "$SIZE" --top-k "$TOP_K" >/dev/null
if cmp -s "$COMMON/fm_mcu_arena.h.new" "$COMMON/fm_mcu_arena.h"; then rm "$COMMON/fm_mcu_arena.h.new"
else mv "$COMMON/fm_mcu_arena.h.new" "$COMMON/fm_mcu_arena.h"; fi
# The blobs may change path between builds (f16 / f32): regenerate when the path or the file changes.
if [ "$(cat "$COMMON/detector_blob.path" 2>/dev/null || true)" != "$DETECTOR" ] ||
    newer "$COMMON/detector_blob.S" "$DETECTOR" "$ROOT/tools/blob_to_c.py"; then
    python3 "$ROOT/tools/blob_to_c.py" "$DETECTOR" fm_detector_blob "$COMMON/detector_blob.S"
    echo "$DETECTOR" > "$COMMON/detector_blob.path"
fi
if [ "$(cat "$COMMON/classifier_blob.path" 2>/dev/null || true)" != "$CLASSIFIER" ] ||
    newer "$COMMON/classifier_blob.S" "$CLASSIFIER" "$ROOT/tools/blob_to_c.py"; then
    python3 "$ROOT/tools/blob_to_c.py" "$CLASSIFIER" fm_classifier_blob "$COMMON/classifier_blob.S"
    echo "$CLASSIFIER" > "$COMMON/classifier_blob.path"
fi

# ---- cross build ------------------------------------------------------------------------------------
CC=arm-none-eabi-gcc
CXX_ARM=arm-none-eabi-g++
F="$CPU -mthumb $OPT -g -ffunction-sections -fdata-sections"
$CC $F -Wall -Wextra -c "$HERE/startup.c" -o "$B/startup.o"
$CC $CPU -mthumb -c "$COMMON/detector_blob.S" -o "$B/detector_blob.o"
$CC $CPU -mthumb -c "$COMMON/classifier_blob.S" -o "$B/classifier_blob.o"
$CXX_ARM $F -std=gnu++17 -fno-exceptions -fno-rtti -fno-threadsafe-statics -fno-use-cxa-atexit \
    -Wall -Wextra \
    -I"$ROOT/single_include" -I"$COMMON" \
    $ACT -DFM_MCU_BOARD="\"$NAME\"" -DFM_MCU_PICTURE="\"$PPM\"" \
    -c "$HERE/main.cpp" -o "$B/main.o"
WRAP=""
for s in malloc calloc realloc free _malloc_r _calloc_r _realloc_r _free_r _sbrk _sbrk_r; do
    WRAP="$WRAP -Wl,--wrap=$s"
done
ELF="$B/facemask_$BOARD.elf"
$CXX_ARM $CPU -mthumb -nostartfiles -L"$HERE" -T "$LDSCRIPT" -Wl,--defsym=STACK_SIZE="$STACK" \
    -Wl,--defsym=RAM_SIZE="$RAM_SIZE" -Wl,--defsym=FLASH_SIZE="$FLASH_SIZE" \
    --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections -Wl,-Map="$B/facemask_$BOARD.map" -Wl,--print-memory-usage $WRAP \
    "$B/startup.o" "$B/main.o" "$B/detector_blob.o" "$B/classifier_blob.o" -lm -o "$ELF" > "$B/memory_usage.txt"

# ---- sizes ------------------------------------------------------------------------------------------
{
    echo "board: $NAME  input: $SIZE  top-k: $TOP_K  flags: $OPT"
    echo "detector blob: $DETECTOR"
    echo "classifier blob: $CLASSIFIER"
    sed -n '2,$p' "$B/memory_usage.txt"
    arm-none-eabi-size -A -d "$ELF" | grep -E '^\.(text|weights|rodata|init_array|fini_array|preinit_array|ARM|data|arena|bss|stack) '
    arm-none-eabi-size -A -d "$ELF" | awk '
        /^\.text |^\.rodata |^\.ARM|^\.init_array |^\.fini_array |^\.preinit_array / { code += $2 }
        /^\.weights / { wt = $2 } /^\.data / { data = $2 } /^\.bss / { bss = $2 }
        /^\.arena / { arena = $2 } /^\.stack / { stack = $2 }
        END {
            printf "flash: code+constants %d + weights %d + .data image %d = %d bytes (%.2f MiB)\n", code, wt, data, code + wt + data, (code + wt + data) / 1048576
            printf "ram:   .data %d + .bss %d + arena %d + stack %d = %d bytes (%.2f MiB)\n", data, bss, arena, stack, data + bss + arena + stack, (data + bss + arena + stack) / 1048576
        }'
    echo "heap symbols linked (expect only the __wrap_ traps):"
    arm-none-eabi-nm "$ELF" | grep -E ' (__wrap_)?(_?malloc|_?calloc|_?realloc|_?free|_malloc_r|_calloc_r|_realloc_r|_free_r|_sbrk|_sbrk_r)$' | sed 's/^/  /' || true
} > "$B/sizes.txt"
cat "$B/sizes.txt"
echo "built $ELF"
