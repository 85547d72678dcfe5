#!/bin/sh
# Builds the web demo (examples/web/build.sh) and checks it in headless Chromium against the
# native build (tests/web/run_web_test.mjs). For CI:
#
#   tests/web/run.sh NATIVE_BUILD_DIR [WEB_OUT_DIR] [-- extra run_web_test.mjs options]
#
# NATIVE_BUILD_DIR must hold example_annotate, decode_image, facemask_serve (the page served by
# the service is tested too) and weights/ (a normal CMake build, with libcpp-httplib-dev).
# WEB_OUT_DIR defaults to NATIVE_BUILD_DIR/web. Installs playwright-core into tests/web/node_modules
# when it is missing (npm, no audit). Exit status: the test's (0 pass, 1 fail, 2 setup problem).
set -eu

[ $# -ge 1 ] || { echo "usage: $0 NATIVE_BUILD_DIR [WEB_OUT_DIR] [-- test options]" >&2; exit 2; }
NATIVE=$1
shift
OUT=$NATIVE/web
if [ $# -ge 1 ] && [ "$1" != "--" ]; then OUT=$1; shift; fi
[ $# -ge 1 ] && [ "$1" = "--" ] && shift

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

for tool in em++ node npm; do
  command -v $tool >/dev/null 2>&1 || { echo "tests/web/run.sh: $tool is not installed" >&2; exit 2; }
done
for f in example_annotate decode_image facemask_serve weights/retinaface_mnet025.fmb; do
  [ -e "$NATIVE/$f" ] || { echo "tests/web/run.sh: no $NATIVE/$f (build the native project first)" >&2; exit 2; }
done

start=$(date +%s)
"$REPO/examples/web/build.sh" "$NATIVE" "$OUT"

if [ ! -d "$HERE/node_modules/playwright-core" ]; then
  echo "tests/web/run.sh: npm install (playwright-core)"
  if [ -f "$HERE/package-lock.json" ]; then
    (cd "$HERE" && npm ci --no-audit --no-fund --ignore-scripts)
  else
    (cd "$HERE" && npm install --no-audit --no-fund --ignore-scripts)
  fi
fi

echo "tests/web/run.sh: node tests/web/run_web_test.mjs --native $NATIVE --web $OUT --serve $NATIVE/facemask_serve $*"
rc=0
node "$HERE/run_web_test.mjs" --native "$NATIVE" --web "$OUT" --serve "$NATIVE/facemask_serve" "$@" || rc=$?
echo "tests/web/run.sh: $(( $(date +%s) - start )) s in all, exit $rc"
exit $rc
