#!/usr/bin/env bash
# The single header: fresh (regenerated == committed), warning-free with g++ and clang++ at
# -Wall -Wextra -fno-exceptions -fno-rtti, with scalar kernels (FACEMASK_NO_SIMD) and with
# xsimd (-march=native), and giving the main build's faces in every variant; float16 activation
# storage (scalar, FACEMASK_HALF_ACTIVATIONS) within the issue's fp16 bounds: same faces,
# |d score| and |d mask| <= 1e-2, coordinates within 1 px.
#   tests/single_header/check.sh BUILD_DIR SHARED_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "$1" && pwd)"
shared="$(cd "$2" && pwd)"
work="$build/single_header"
mkdir -p "$work"

python3 "$root/tools/amalgamate.py" --check

weights="$build/weights"
status=0
variants="g++:scalar g++:simd clang++:scalar clang++:simd g++:half"

# Build the four variants in parallel; each must compile without a single warning.
compile() {
    local cxx=$1 variant=$2 flags="-DFACEMASK_NO_SIMD"
    [ "$variant" = simd ] && flags="-march=native"
    [ "$variant" = half ] && flags="-DFACEMASK_NO_SIMD -DFACEMASK_HALF_ACTIVATIONS"
    $cxx -std=c++17 -O2 -fno-exceptions -fno-rtti -Wall -Wextra $flags -I"$root/single_include" \
        "$here/detect_faces.cpp" -o "$work/detect_faces_${cxx}_${variant}" 2>"$work/${cxx}_${variant}.log"
}
pids=()
for v in $variants; do compile "${v%%:*}" "${v##*:}" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || status=1; done
for v in $variants; do
    if [ -s "$work/${v%%:*}_${v##*:}.log" ]; then
        echo "FAIL ${v%%:*} ${v##*:}: the single header does not compile cleanly:"; cat "$work/${v%%:*}_${v##*:}.log"; status=1
    fi
done
[ $status -eq 0 ] || exit 1

for picture in images/ex_img.jpg images/toon_masked.png; do
    scale=long=640
    "$build/example_annotate" "$shared/$picture" --scale "$scale" --no-draw --quiet --json "$work/main.jsonl"
    for v in $variants; do
        name="${v%%:*}_${v##*:}"
        "$work/detect_faces_$name" "$weights/retinaface_mnet025.fmb" "$weights/mask_classifier.fmb" \
            "$shared/$picture" "$scale" >"$work/$name.jsonl"
        bounds=""
        [ "${v##*:}" = half ] && bounds="--score 1e-2 --mask 1e-2 --coord 1"
        if python3 "$here/compare.py" $bounds "$work/main.jsonl" "$work/$name.jsonl"; then
            echo "ok   ${v/:/ } $picture"
        else
            echo "FAIL ${v/:/ } $picture"; status=1
        fi
    done
done
exit $status
