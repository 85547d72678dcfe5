#!/bin/sh
# Builds the facemask web demo with emscripten: two WebAssembly builds of facemask_wasm.cpp
# (SIMD128 and scalar), the page, and the weight blobs, into one folder that any static HTTP
# server can serve (e.g. `node examples/web/serve.mjs OUT_DIR`).
#
#   examples/web/build.sh NATIVE_BUILD_DIR OUT_DIR [--classifier FILE]
#
# NATIVE_BUILD_DIR is the CMake build folder: its weights/ holds retinaface_mnet025.fmb (made
# from the public checkpoints) and, once trained, mask_classifier.fmb. The classifier blob is,
# in order: --classifier FILE, $FACEMASK_CLASSIFIER, NATIVE_BUILD_DIR/weights/mask_classifier.fmb,
# <repo>/weights/mask_classifier.fmb; none found: the page detects faces only.
#
# OUT_DIR receives: index.html app.js style.css facemask.js serve.mjs
#   facemask_simd.js/.wasm    -msimd128 -msse4.1: xsimd's SSE4.1 kernels on wasm SIMD128
#   facemask_scalar.js/.wasm  no SIMD flags: the library's scalar kernels (browsers without SIMD)
#   facemask_mt.js/.wasm/.worker.js   SIMD128 + threads (-pthread, FACEMASK_PTHREADS): for pages
#                             that are cross-origin isolated (COOP/COEP headers: serve.mjs and
#                             facemask_serve send them); elsewhere the page loads facemask_simd
#   weights/retinaface_mnet025.fmb weights/mask_classifier.fmb
# It is a build product: never commit it.
set -eu

usage() { echo "usage: $0 NATIVE_BUILD_DIR OUT_DIR [--classifier FILE]" >&2; exit 2; }
[ $# -ge 2 ] || usage
NATIVE=$1
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
shift 2
CLASSIFIER=${FACEMASK_CLASSIFIER:-}
while [ $# -gt 0 ]; do
  case $1 in
    --classifier) [ $# -ge 2 ] || usage; CLASSIFIER=$2; shift 2 ;;
    *) usage ;;
  esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export NODE_PATH=/usr/share/nodejs  # emscripten 3.1.6 needs Debian's acorn (platform.md, section 3)

DETECTOR=$NATIVE/weights/retinaface_mnet025.fmb
if [ ! -f "$DETECTOR" ]; then
  echo "build.sh: no detector blob at $DETECTOR (build the native project first: it converts the checkpoints)" >&2
  exit 1
fi
if [ -z "$CLASSIFIER" ]; then
  for c in "$NATIVE/weights/mask_classifier.fmb" "$REPO/weights/mask_classifier.fmb"; do
    if [ -f "$c" ]; then CLASSIFIER=$c; break; fi
  done
fi
if [ -n "$CLASSIFIER" ] && [ ! -f "$CLASSIFIER" ]; then
  echo "build.sh: classifier blob $CLASSIFIER does not exist" >&2
  exit 1
fi

mkdir -p "$OUT/weights"
# emscripten's sysroot ignores /usr/include, and -I/usr/include would drag in glibc: a folder
# of symlinks to the one header library needed (xsimd) goes in with -isystem. It lives outside
# OUT, which is served.
INC=$(mktemp -d)
trap 'rm -rf "$INC"' EXIT
XSIMD=${XSIMD_INCLUDE_DIR:-/usr/include}/xsimd
if [ ! -f "$XSIMD/xsimd.hpp" ]; then
  echo "build.sh: no xsimd headers at $XSIMD (Debian: libxsimd-dev; or set XSIMD_INCLUDE_DIR)" >&2
  exit 1
fi
ln -s "$XSIMD" "$INC/xsimd"

CXXFLAGS="-std=c++17 -O3 -fno-exceptions -fno-rtti -Wall -Wextra -I$REPO/single_include"
LDFLAGS="-O3 -sMODULARIZE=1 -sEXPORT_ES6=1 -sENVIRONMENT=web,worker -sALLOW_MEMORY_GROWTH=1 -sFILESYSTEM=0
  -sEXPORTED_FUNCTIONS=_malloc,_free,_fm_create,_fm_destroy,_fm_threads,_fm_run,_fm_pixels,_fm_forward,_fm_last_error,_fm_simd_name,_fm_tracker_create,_fm_tracker_destroy,_fm_tracker_reset,_fm_tracker_update,_fm_tracker_state
  -sEXPORTED_RUNTIME_METHODS=UTF8ToString,stringToUTF8,lengthBytesUTF8"

build() {  # name, export name, extra flags...
  name=$1 exportname=$2
  shift 2
  # shellcheck disable=SC2086  # word splitting of the flag lists is intended
  set -- em++ $CXXFLAGS "$@" "$HERE/facemask_wasm.cpp" $LDFLAGS -sEXPORT_NAME="$exportname" -o "$OUT/$name.js"
  echo "+ $*"
  "$@"
}

echo "build.sh: compiling three WebAssembly builds, two at a time (emscripten $(em++ --version | sed -n '1s/.* \([0-9][0-9.]*\) .*/\1/p'))"
build facemask_simd createFaceMaskSimd -msimd128 -msse4.1 -isystem "$INC" &
pid_simd=$!
build facemask_scalar createFaceMaskScalar &
pid_scalar=$!
rc=0
wait $pid_scalar || rc=1
# Threads: the workers must exist before the first call (a thread started from the browser's main
# thread would only start once it yields, and the call waits for it: deadlock), so the page says
# how many to preload (Module.facemaskWorkers, facemask.js: 2 x (threads - 1), two engines' worth) and a thread beyond the
# pool is refused (POOL_SIZE_STRICT=2: pthread_create fails, the team runs on fewer threads).
# The wasm runs on the page's main thread, which only spins while it waits (team.hpp).
build facemask_mt createFaceMaskMt -msimd128 -msse4.1 -isystem "$INC" -pthread -DFACEMASK_PTHREADS \
  -sPTHREAD_POOL_SIZE='Math.max(0,Math.min(Module.facemaskWorkers||0,15))' -sPTHREAD_POOL_SIZE_STRICT=2 \
  -sINITIAL_MEMORY=64MB -Wno-pthreads-mem-growth || rc=1
wait $pid_simd || rc=1
if [ $rc -ne 0 ]; then
  echo "build.sh: em++ failed" >&2
  exit 1
fi

echo "build.sh: copying the page and the blobs to $OUT"
for f in index.html app.js style.css facemask.js serve.mjs; do
  cp "$HERE/$f" "$OUT/$f"
done
cp "$DETECTOR" "$OUT/weights/retinaface_mnet025.fmb"
if [ -n "$CLASSIFIER" ]; then
  cp "$CLASSIFIER" "$OUT/weights/mask_classifier.fmb"
  echo "build.sh: classifier blob: $CLASSIFIER"
else
  rm -f "$OUT/weights/mask_classifier.fmb"
  echo "build.sh: warning: no classifier blob found; the page will detect faces only" >&2
fi

echo "build.sh: done:"
for f in facemask_simd.wasm facemask_scalar.wasm facemask_mt.wasm facemask_simd.js facemask_scalar.js facemask_mt.js \
  facemask_mt.worker.js; do
  printf '  %-22s %9d bytes\n' "$f" "$(wc -c < "$OUT/$f")"
done
# The scalar build is for browsers without SIMD128: it must hold no SIMD instruction at all.
if command -v wasm-objdump >/dev/null 2>&1; then
  for f in facemask_simd facemask_scalar; do
    n=$(wasm-objdump -d "$OUT/$f.wasm" | grep -cE '(v128|[if](8x16|16x8|32x4|64x2))\.' || true)
    printf '  %-22s %9d SIMD instructions\n' "$f.wasm" "$n"
    if [ "$f" = facemask_scalar ] && [ "$n" -ne 0 ]; then
      echo "build.sh: the scalar build uses SIMD instructions" >&2
      exit 1
    fi
  done
fi
echo "  serve it with: node $OUT/serve.mjs $OUT   (then open the printed address)"
