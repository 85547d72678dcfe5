#!/usr/bin/env bash
# The long fuzzing campaign: builds the harnesses (tests/fuzz/build.sh) and runs them one after
# another on one core, each for its own time, keeping the grown corpora in WORK_DIR.
#   bash tools/fuzz_campaign.sh BUILD_DIR WORK_DIR [SCALE_S PARSE_S IMAGE_S BLOB_S PIPELINE_S]
# Defaults: 240 240 360 180 180 seconds (20 minutes). Crashes found are to be minimised (-minimize_crash=1),
# fixed, and kept in tests/fuzz/corpus/<harness>/ as regressions.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:?usage: fuzz_campaign.sh BUILD_DIR WORK_DIR [SCALE_S PARSE_S IMAGE_S BLOB_S PIPELINE_S]}"
work="${2:?}"
mkdir -p "$work"
bash tests/fuzz/build.sh "$work/bin"
status=0
for pair in "scale ${3:-240}" "parse ${4:-240}" "image ${5:-360}" "blob ${6:-180}" "pipeline ${7:-180}"; do
    set -- $pair
    bash tests/fuzz/run.sh "$build" "$work/bin" "$2" "$work" "$1" || status=1
done
exit $status
