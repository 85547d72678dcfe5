#!/usr/bin/env bash
# Runs the libFuzzer harnesses one after another (one core), each for a fixed time, and prints
# per harness: executions, corpus size and coverage (libFuzzer's cov:). Any crash, sanitizer
# report, leak or input slower than 1 s stops the run with the reproducer in WORK/<harness>/.
#   bash tests/fuzz/run.sh BUILD_DIR FUZZ_BIN_DIR SECONDS_EACH [WORK_DIR] [HARNESS...]
# BUILD_DIR is a release build (its weights/ holds the detector blob made from ../shared).
# CI: 10 s each on the committed seeds. FACEMASK_FUZZ_TIMEOUT (default 1 s) is the slow-input
# limit; it is wall time, so a campaign on a loaded machine may raise it and report libFuzzer's
# slowest unit instead. The long campaign: tools/fuzz_campaign.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: run.sh BUILD_DIR FUZZ_BIN_DIR SECONDS [WORK_DIR] [HARNESS...]}" && pwd)"
bin="${2:?}"
secs="${3:?}"
work="${4:-$bin/work}"
shift $(( $# < 4 ? $# : 4 ))
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(blob image parse pipeline scale)
export FACEMASK_FUZZ_CLASSIFIER="$here/../../weights/mask_classifier.fmb"
export FACEMASK_FUZZ_DETECTOR="$build/weights/retinaface_mnet025.fmb"
export FACEMASK_FUZZ_WEIGHTS="$build/weights"
[ -f "$FACEMASK_FUZZ_DETECTOR" ] || { echo "fuzz: no $FACEMASK_FUZZ_DETECTOR (build the release first)" >&2; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for h in "${harnesses[@]}"; do
    mkdir -p "$work/$h/corpus"
    dict=()
    [ -f "$here/$h.dict" ] && dict=(-dict="$here/$h.dict")
    log="$work/$h/log"
    # New inputs go to WORK; the committed seeds (and kept regressions) are read too.
    if "$bin/fuzz_$h" "$work/$h/corpus" "$here/corpus/$h" "${dict[@]}" -max_total_time="$secs" -timeout="${FACEMASK_FUZZ_TIMEOUT:-1}" \
        -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$work/$h/" >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    cov=$(grep -oE '(DONE|pulse|NEW|REDUCE) +cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || echo ?)
    slowest=$(grep -oE 'stat::slowest_unit_time_sec: +[0-9]+' "$log" | grep -o '[0-9]*$' || echo ?)
    corp=$(find "$work/$h/corpus" "$here/corpus/$h" -type f | wc -l)
    printf 'fuzz_%-9s %s: %s executions in %ss, cov %s, corpus %s files, slowest input %ss\n' "$h" "$result" "$runs" "$secs" \
        "$cov" "$corp" "$slowest"
    [ "$result" = ok ] || { tail -40 "$log" >&2; ls "$work/$h"/crash-* "$work/$h"/leak-* "$work/$h"/timeout-* 2>/dev/null >&2 || true; }
done
exit $status
