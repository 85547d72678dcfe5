#!/usr/bin/env bash
# Builds facemask and annotates the original project's demo picture.
#   bash tools/demo.sh [PICTURE]      (default ../shared/images/ex_img.jpg)
# On a fresh Debian 12 machine run it as root: it installs the build dependencies first.
# The public checkpoints are read from ../shared (override: FACEMASK_SHARED_DIR=...).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
need_packages $FACEMASK_BUILD_PACKAGES
shared="${FACEMASK_SHARED_DIR:-$(cd .. && pwd)/shared}"
picture="${1:-$shared/images/ex_img.jpg}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACEMASK_SHARED_DIR="$shared" >/dev/null
cmake --build build
name="$(basename "${picture%.*}")"
./build/example_annotate "$picture" --output "build/${name}_annotated.jpg" --json "build/${name}.jsonl"
echo "annotated picture: build/${name}_annotated.jpg   results: build/${name}.jsonl"
