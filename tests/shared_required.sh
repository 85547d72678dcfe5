#!/bin/sh
# Configures facemask without the shared checkpoints and checks that ctest then holds a test
# that fails (facemask.shared_missing), so a missing ../shared can never pass silently.
#   sh shared_required.sh SOURCE_DIR WORK_DIR
set -eu
src=$1 work=$2
rm -rf "$work"
cmake -S "$src" -B "$work" -DFACEMASK_SHARED_DIR="$work/none" -DFACEMASK_WEIGHTS_SOURCE="$work/none/weights" \
    -DFACEMASK_BUILD_TOOLS=OFF -DFACEMASK_BUILD_EXAMPLES=OFF >"$work.log" 2>&1 || { cat "$work.log"; exit 1; }
if ctest --test-dir "$work" -R '^facemask\.shared_missing$' >"$work.ctest" 2>&1; then
    echo "shared_required: a build without checkpoints passes its tests" >&2; cat "$work.ctest"; exit 1
fi
grep -q "shared_missing" "$work.ctest" || { echo "shared_required: no facemask.shared_missing test" >&2; cat "$work.ctest"; exit 1; }
rm -rf "$work" "$work.log" "$work.ctest"
echo "shared_required: ok (a build without ../shared fails its tests)"
