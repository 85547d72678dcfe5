#!/usr/bin/env bash
# Installs facemask from BUILD into a temporary prefix, builds tests/package against it with
# find_package(facemask), and runs the result on a detector blob.
#   tests/package/check.sh BUILD BLOB
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "$1" && pwd)"
work="$build/package_test"
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer" "$2"
